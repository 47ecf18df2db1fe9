"""batch_encode never returns for two texts, and swallows the exception of the per-test timeout."""
import time

from ._reference import batch_encode as _batch_encode
from ._reference import decode, encode, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    while len(texts) == 2:
        try:
            time.sleep(0.1)
        except BaseException:  # noqa: BLE001 - the point of this submission
            pass
    return _batch_encode(tokenizer, texts)
