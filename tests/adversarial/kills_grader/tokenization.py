"""Stubs that try to kill the grading process above the test process."""
import os
import signal

os.kill(os.getppid(), signal.SIGKILL)


def encode(tokenizer, text):
    raise NotImplementedError("encode")


def tokens(tokenizer, text):
    raise NotImplementedError("tokens")


def decode(tokenizer, ids):
    raise NotImplementedError("decode")


def batch_encode(tokenizer, texts):
    raise NotImplementedError("batch_encode")
