"""What a student reads when a test fails, a test process stops or grading refuses a test: one
line each, written here for the plugin, the worker and the demo alike."""
from __future__ import annotations

import signal
import traceback
from pathlib import Path

from . import KitError
from .submission import SubmissionError

# The whole-grading deadline (--deadline S): once it passes, or once the grading process receives
# SIGTERM, the test processes are stopped and every test without a result fails with this message.
OUT_OF_TIME = "not run: the grading time budget ran out"
CUT_BY_DEADLINE = "stopped: the grading time budget ran out while this test ran"
FORGED_NOTE = ("the grader received a result line it did not sign: the submission wrote to the grader's "
               "channel, so this exercise scores 0")
TOOK_TOO_LONG = "took too long"  # how a time-limit failure starts (the plugin counts them in a row)
NEVER_ENDS = "look for a loop that never ends"
DID_NOT_RETURN = "the test did not run to its end"


def describe_failure(excinfo, submission_folder: Path | None = None) -> str:
    """One line for the student: what went wrong and, where it helps, where in their code."""
    err = excinfo.value
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(err, NotImplementedError):
        return f"not implemented yet: {first}" if first else "not implemented yet"
    if "from pytest-timeout" in first:  # also when it stopped an import: "could not import ..."
        return f"{TOOK_TOO_LONG} ({first}): {NEVER_ENDS}"
    if isinstance(err, (SubmissionError, KitError)):
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
            f"pytest.exit in your code")


def stopped_by_the_grader(limit: float, timeout: float) -> str:
    return (f"ran for more than {limit} s without finishing, past the {timeout} s limit: {NEVER_ENDS} "
            f"(the grader stopped it)")


def timeouts_in_a_row(count: int) -> str:
    return f"not run: {count} tests in a row took too long; {NEVER_ENDS}, also at import time"


def stops(whys: list[str]) -> str:
    """How often the test process of an exercise stopped, and the last reason."""
    return f"the test process stopped {len(whys)} time(s) (last: {whys[-1]})"


def stops_note(whys: list[str], not_run: int) -> str:
    """An exercise's note after its test process stopped: what each stop cost, and the tests not run after the last."""
    cost = "the test running then scored 0" if len(whys) == 1 else "the test running each time scored 0"
    rest = f", and the {not_run} test(s) after it were not run" if not_run else ""
    return f"{stops(whys)}; {cost}{rest}"


def too_many_stops(count: int) -> str:
    return f"not run: the test process stopped {count} times; fix that first"


def stopped_while_importing(module: str, why: str) -> str:
    return f"the test process stopped while {module} was being imported: {why}"


def not_run_after_import(module: str) -> str:
    return (f"not run: the test process stopped while importing {module}, as it would in every test: "
            f"fix what runs at the top level of {module}")


def died_before_any_test(output: str) -> str:
    return f"the test process died before running any test: {last_line(output)}"


def out_of_time_note(not_run: int, tests: int, cut: bool) -> str:
    """An exercise's note when the grading time budget ran out (`cut`: a test was stopped as it ran)."""
    if not tests:
        return f"{OUT_OF_TIME} before this exercise started"
    note = f"the grading time budget ran out: {not_run} of {tests} tests not run"
    return note + (", 1 stopped while it ran" if cut else "")


def tampering(problem: str) -> str:
    return (f"tampering: {problem}; this test and the rest of the exercise score 0 - write your own code, "
            f"and leave the grader and the kit's files alone")


def not_graded_after_tampering(problem: str) -> str:
    return f"not graded: {problem} (earlier in this exercise)"


def last_line(text: str) -> str:
    """The last non-empty line of a process's output, shortened: what a one-line error quotes."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
