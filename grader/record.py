"""`python -m grader record` (`make expectations`): record what every graded test compares with.

Runs the graded tests (and the instructor's hidden tests, with --extra-tests) against the
reference solutions on the CPU with ``--expectations record``: each value a test asks of its
``expected`` fixture is computed with the reference and written, once every test has passed, to
``expectations/`` beside the test files (grader/expectations.py). `make test` checks the
recordings against the reference; grading then never needs the reference.
"""
from __future__ import annotations

import os
import subprocess
import sys

from . import KitError
from .submission import REPO, SOLUTIONS_DIR

TESTS = REPO / "tests"
KIT_MODELS = ("tiny", "default")


def record(models=KIT_MODELS, extra_tests=None) -> int:
    """Record for `models` (names, as for --model); returns pytest's exit code."""
    if not SOLUTIONS_DIR.is_dir():
        raise KitError("recording needs the reference solutions (solutions/), which this copy of the kit "
                       "does not have: record in the instructor's kit")
    from .run import check_extra_tests, pytest_args

    args = [sys.executable, "-m", "pytest", *pytest_args(TESTS, check_extra_tests(extra_tests, TESTS)),
            "-m", "points", "-q", f"--submission={SOLUTIONS_DIR}", f"--model={','.join(models)}", "--device=cpu",
            "--expectations=record"]
    # the tests' helpers (checks.py, counting.py) for hidden tests too
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.run(args, cwd=REPO, env=env).returncode
