"""Strips the text before encoding, losing the leading space token."""
from ._reference import batch_encode, decode  # noqa: F401


def encode(tokenizer, text):
    return tokenizer(text.strip())["input_ids"]


def tokens(tokenizer, text):
    return tokenizer.convert_ids_to_tokens(encode(tokenizer, text))
