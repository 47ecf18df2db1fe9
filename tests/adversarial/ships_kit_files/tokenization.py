"""Stubs, shipped with their own conftest.py, pytest.ini, checks.py and test file, all of which
would make every test pass if the grader used them."""


def encode(tokenizer, text):
    raise NotImplementedError("encode")


def tokens(tokenizer, text):
    raise NotImplementedError("tokens")


def decode(tokenizer, ids):
    raise NotImplementedError("decode")


def batch_encode(tokenizer, texts):
    raise NotImplementedError("batch_encode")
