"""Installs a trace function (pytest-timeout then believes a debugger runs and stops timing
tests), then loops forever in batch_encode for two texts."""
import sys

from ._reference import batch_encode as _batch_encode
from ._reference import decode, encode, tokens  # noqa: F401

sys.settrace(lambda *args: None)


def batch_encode(tokenizer, texts):
    while len(texts) == 2:
        pass
    return _batch_encode(tokenizer, texts)
