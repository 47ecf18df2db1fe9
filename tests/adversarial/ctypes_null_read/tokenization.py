"""batch_encode reads address 0 with ctypes (a segmentation fault if it were allowed)."""
import ctypes

from ._reference import decode, encode, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    return ctypes.string_at(0, 8)
