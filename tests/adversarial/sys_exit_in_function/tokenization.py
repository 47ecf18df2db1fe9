"""batch_encode calls sys.exit: the tests that call it fail, the process lives on."""
import sys

from ._reference import decode, encode, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    sys.exit(1)
