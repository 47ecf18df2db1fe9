"""batch_encode ends the whole test process with os._exit."""
import os

from ._reference import decode, encode, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    os._exit(7)
