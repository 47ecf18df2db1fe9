"""Stubs that try to kill the grading process above the test process."""
import os
import signal

from ._stubs import batch_encode, decode, encode, tokens  # noqa: F401 - the kit's stubs

os.kill(os.getppid(), signal.SIGKILL)
