"""batch_encode allocates 100 MB after 100 MB (up to 3 GB) when given five texts (one test does).

bytearray() asks the system for zeroed pages, so the machine's memory is only reserved, never
filled: with the grader's address-space limit this is a MemoryError after about 1 GB (the kit's
tests grade it with memory_gb=1); without it the loop would end and the test would fail anyway.
"""
from ._reference import batch_encode as _batch_encode
from ._reference import decode, encode, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    if len(texts) == 5:
        hoard = [bytearray(100 * 2**20) for _ in range(30)]
        raise AssertionError(f"allocated {len(hoard) * 100} MB: the memory limit did not stop it")
    return _batch_encode(tokenizer, texts)
