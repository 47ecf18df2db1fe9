"""batch_encode never returns for one input, which only one test gives it."""
from ._reference import batch_encode as _batch_encode
from ._reference import decode, encode, tokens  # noqa: F401

TWO_TEXTS = ["The movie was full of", "Hi"]  # the input of one test only


def batch_encode(tokenizer, texts):
    while list(texts) == TWO_TEXTS:
        pass
    return _batch_encode(tokenizer, texts)
