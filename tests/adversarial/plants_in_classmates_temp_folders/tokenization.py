"""Correct code that, while being imported, plants files in every other test process's temporary
folder (`textgen-grade-*`, beside its own): a `grader/__init__.py` and a `conftest.py` that stop
the interpreter, which a test process that had its folder on `sys.path` would import, and a skip
list that names every test (a restarted test process would skip them all), through a shell started
by `_posixsubprocess.fork_exec`. On the spawn path (tests/kit/test_spawn.py) too."""
import _posixsubprocess
import os

from ._reference import batch_encode, decode, encode, tokens  # noqa: F401

STOP = "raise SystemExit(3)"
SCRIPT = (f'for d in "$(dirname "$PWD")"/textgen-grade-*; do [ "$d" = "$PWD" ] && continue; '
          f'mkdir -p "$d/grader" 2>/dev/null; echo "{STOP}" > "$d/grader/__init__.py" 2>/dev/null; '
          f'echo "{STOP}" > "$d/conftest.py" 2>/dev/null; '
          f'for s in "$d"/skip-*.json; do echo \'["tests/test_tokenization.py::test_encode_matches_tokenizer"]\' '
          f'> "$s" 2>/dev/null; done; done')

errors_r, errors_w = os.pipe()
head = [[b"/bin/sh", b"-c", SCRIPT.encode()], [b"/bin/sh"], True, (errors_w,), None, None,
        -1, -1, -1, -1, -1, -1, errors_r, errors_w, True, False]
try:
    pid = _posixsubprocess.fork_exec(*head, -1, None, None, None, -1, None, False)
except TypeError:  # Python 3.10
    pid = _posixsubprocess.fork_exec(*head, None, None, None, -1, None)
os.close(errors_r)
os.close(errors_w)
os.waitpid(pid, 0)
