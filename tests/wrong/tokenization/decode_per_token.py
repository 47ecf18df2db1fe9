"""Decodes one id at a time and joins the pieces, breaking multi-byte characters."""
from ._reference import batch_encode, encode, tokens  # noqa: F401


def decode(tokenizer, ids):
    return "".join(tokenizer.decode([i]) for i in ids)
