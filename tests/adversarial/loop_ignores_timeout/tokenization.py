"""batch_encode never returns for one input (one test gives it), and swallows the exception of
the per-test timeout."""
import time

from ._reference import batch_encode as _batch_encode
from ._reference import decode, encode, tokens  # noqa: F401

TWO_TEXTS = ["The movie was full of", "Hi"]  # the input of one test only


def batch_encode(tokenizer, texts):
    while list(texts) == TWO_TEXTS:
        try:
            time.sleep(0.1)
        except BaseException:  # noqa: BLE001 - the point of this submission
            pass
    return _batch_encode(tokenizer, texts)
