"""Decodes with skip_special_tokens=True: "<|im_end|>" and the other special tokens vanish (the docstring: special tokens kept)."""
from ._reference import batch_encode, encode, pad_id, tokens  # noqa: F401


def decode(tokenizer, ids):
    return tokenizer.decode(list(ids), skip_special_tokens=True)
