"""Correct code, but `batch_encode` writes 1 GiB to its standard output (as a C library would:
os.write on the file descriptor) for the one test that gives it ['The movie was full of', 'Hi'],
then returns the right answer: the flood must fill neither the disk nor the worker's memory."""
import os

from ._reference import batch_encode as _batch_encode
from ._reference import decode, encode, tokens  # noqa: F401

CHUNK = b"flood " * (1 << 17)  # 768 KiB


def batch_encode(tokenizer, texts):
    if list(texts) == ["The movie was full of", "Hi"]:
        for _ in range((1 << 30) // len(CHUNK)):
            os.write(1, CHUNK)
    return _batch_encode(tokenizer, texts)
