"""batch_encode never returns when given two texts (only one test does that)."""
from ._reference import batch_encode as _batch_encode
from ._reference import decode, encode, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    while len(texts) == 2:
        pass
    return _batch_encode(tokenizer, texts)
