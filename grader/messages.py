"""What a student reads when a test fails or a test process stops: one line each, written here
for the plugin, the grader and the demo alike."""
from __future__ import annotations

import signal
import traceback
from pathlib import Path

from . import KitError
from .submission import SubmissionImportError

# The whole-grading deadline (--deadline S): once it passes, or once the grading process receives
# SIGTERM, the test processes are stopped and every test without a result fails with this message.
OUT_OF_TIME = "not run: the grading time budget ran out"
CUT_BY_DEADLINE = "stopped: the grading time budget ran out while this test ran"
FORGED_NOTE = ("the grader received a result line it did not sign: the submission wrote to the grader's "
               "channel, so this exercise scores 0")


def describe_failure(excinfo, submission_folder: Path | None = None) -> str:
    """One line for the student: what went wrong and, where it helps, where in their code."""
    err = excinfo.value
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(err, NotImplementedError):
        return f"not implemented yet: {first}" if first else "not implemented yet"
    if "from pytest-timeout" in first:  # also when it stopped an import: "could not import ..."
        return f"took too long ({first}): look for a loop that never ends"
    if isinstance(err, (SubmissionImportError, KitError)):
        return first
    if isinstance(err, AssertionError):
        return first or "assertion failed"
    where = ""
    if submission_folder is not None:
        frames = [f for f in traceback.extract_tb(excinfo.tb)
                  if Path(f.filename).resolve().parent == submission_folder]
        if frames:
            where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"
    return f"{type(err).__name__}: {first}{where}"


def describe_stop(kind: str, value: int) -> str:
    """Why a test process ended before its tests did: ("signal", number) or ("exit", code)."""
    if kind == "signal":
        name = signal.Signals(value).name if value in signal.Signals._value2member_map_ else str(value)
        if value == signal.SIGKILL:
            return f"the test process was killed ({name}), e.g. for using too much memory"
        return f"crashed the test process ({name}, e.g. a segmentation fault in a C extension)"
    return (f"ended the test process (exit code {value}): never call sys.exit, os._exit, quit or "
            f"pytest.exit in your functions")


def last_line(text: str) -> str:
    """The last non-empty line of a process's output, shortened: what a one-line error quotes."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
