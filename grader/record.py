"""`python -m grader record` (`make expectations`): record what every graded test compares with.

Runs the graded tests (and the instructor's hidden tests, with --extra-tests) against the
reference solutions on the CPU with ``--expectations record``: each value a test asks of its
``expected`` fixture is computed with the reference and written, once every test has passed, to
``expectations/`` beside the test files (grader/expectations.py). `make test` checks the
recordings against the reference; grading then never needs the reference.
"""
from __future__ import annotations

import subprocess
import sys

from . import KitError, subprocess_env
from .submission import REPO, SOLUTIONS_DIR, TESTS_DIR, has_reference


def record(models=None, extra_tests=None) -> int:
    """Record for `models` (names, as for --model; default: the kit's own, grader.models.BUILT_IN);
    returns pytest's exit code."""
    if not has_reference():
        raise KitError("recording needs the reference solutions (solutions/), which this copy of the kit "
                       "does not have: record in the instructor's kit")
    from .models import BUILT_IN
    from .run import check_extra_tests, pytest_args

    args = [sys.executable, "-m", "pytest", *pytest_args(TESTS_DIR, check_extra_tests(extra_tests, TESTS_DIR)),
            "-m", "points", "-q", f"--submission={SOLUTIONS_DIR}", f"--model={','.join(models or BUILT_IN)}",
            "--device=cpu", "--expectations=record"]
    # the tests' helpers (checks.py, counting.py) for hidden tests too
    return subprocess.run(args, cwd=REPO, env=subprocess_env(TESTS_DIR)).returncode
