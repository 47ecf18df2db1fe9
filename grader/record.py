"""`python -m grader record` (`make expectations`): record what every graded test compares with.

Runs the graded tests (and the instructor's hidden tests, with --extra-tests) against the
reference solutions on the CPU with ``--expectations record``: each value a test asks of its
``expected`` fixture is computed with the reference and written, once every test has passed, to
``expectations/`` beside the test files (grader/expectations.py). `make test` checks the
recordings against the reference; grading then never needs the reference.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from . import KitError, run_command
from .submission import REPO, SOLUTIONS_DIR

TESTS = REPO / "tests"
KIT_MODELS = ("tiny", "default")


def record(models=KIT_MODELS, extra_tests=None) -> int:
    """Record for `models` (names, as for --model); returns pytest's exit code."""
    if not SOLUTIONS_DIR.is_dir():
        raise KitError("recording needs the reference solutions (solutions/), which this copy of the kit "
                       "does not have: record in the instructor's kit")
    from .run import _check_extra_tests

    extra = _check_extra_tests(extra_tests, TESTS)
    args = [sys.executable, "-m", "pytest", str(TESTS), *([extra] if extra else []),
            "--ignore", str(TESTS / "kit"), "-m", "points", "-q", "-p", "no:cacheprovider",
            "-c", str(REPO / "pyproject.toml"), f"--rootdir={REPO}",
            f"--submission={SOLUTIONS_DIR}", f"--model={','.join(models)}", "--device=cpu",
            "--expectations=record"]
    # the tests' helpers (checks.py, counting.py) for hidden tests too
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.run(args, cwd=REPO, env=env).returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader record", description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=None, metavar="NAME",
                        help=f"record for this model (repeatable; default: {' and '.join(KIT_MODELS)}); any "
                             f"model --model accepts, e.g. a local folder, so a course on it keeps every comparison")
    parser.add_argument("--extra-tests", default=None, metavar="DIR",
                        help="also record the hidden tests in DIR (written to DIR/expectations/)")
    args = parser.parse_args(argv)

    def body() -> int:
        start = time.monotonic()
        code = record(args.model or KIT_MODELS, args.extra_tests)
        if code != 0:
            print(f"error: recording failed (pytest exit code {code}); nothing was written", file=sys.stderr)
            return 1
        print(f"Recorded in {time.monotonic() - start:.0f} s.")
        return 0

    return run_command(body)
