"""Machine-readable results: Gradescope's ``results.json`` and JUnit XML.

Gradescope's format is documented at https://gradescope-autograders.readthedocs.io/en/latest/specs/
("Output format"); the field names below are exactly those of that page, and tests/kit/test_results.py
checks every file this module writes against them.
"""
from __future__ import annotations

import json
import platform
import xml.etree.ElementTree as ET
from pathlib import Path

from . import messages, versions
from .result import GradeResult, TestResult

# The documented fields of results.json, at the top level and for each entry of "tests".
GRADESCOPE_FIELDS = {"score", "execution_time", "output", "output_format", "test_output_format",
                     "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
GRADESCOPE_TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output",
                          "output_format", "tags", "visibility", "extra_data"}
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
STATUSES = ("passed", "failed")
HIDDEN_VISIBILITY = "after_published"  # the instructor's hidden tests, unless told otherwise


def _points(x: float) -> float:
    return round(x, 4)


def _test_output(test: TestResult) -> str:
    """What a student reads for one test: the one-line message (with its hint), never a traceback.
    A hidden test shows only its outcome and the hint: not its message, which names its inputs."""
    if test.outcome == "passed":
        return "passed"
    if test.hidden:
        message = test.message or ""
        if message.startswith(GRADERS_OWN):  # the grader's words (time budget, crash...): no inputs in them
            return message
        if message.startswith(messages.TOOK_TOO_LONG):
            return f"hidden test failed: {messages.TOOK_TOO_LONG}; {messages.NEVER_ENDS}"
        _, found, hint = message.rpartition(" - hint: ")
        return f"hidden test {test.outcome}" + (f" - hint: {hint}" if found and hint else "")
    return test.message or test.outcome


# How the grader's own messages start (grader/messages.py: the time budget, a stopped or crashed
# test process, tampering): a hidden test shows them, as they say nothing of its inputs.
GRADERS_OWN = (messages.OUT_OF_TIME, messages.CUT_BY_DEADLINE, messages.DID_NOT_RETURN, "not run: ", "not graded: ",
               "tampering: ", "crashed the test process", "ended the test process", "the test process ",
               "ran for more than ")
DETAIL_CUT = 2000  # the test process keeps the last characters of a traceback (grader/plugin.py)


def _details(test: TestResult) -> str:
    """The instructor's details of a failure (the traceback), from a whole line on: the test process
    keeps only its end, which may start mid-token."""
    detail = (test.detail or "").strip("\n")
    if len(detail) >= DETAIL_CUT and "\n" in detail:
        detail = "[...]\n" + detail.split("\n", 1)[1]
    return detail


def _instructor_data(ex_name: str, test: TestResult) -> dict:
    """A test's `extra_data`: stored with the result, never shown to students: the test's node id,
    its full message and the traceback."""
    data = {"nodeid": test.nodeid}
    if test.outcome != "passed":
        data["message"] = test.message
        detail = _details(test)
        if detail and detail != test.message.strip():
            data["traceback"] = detail
    return data


def summary(result: GradeResult) -> str:
    """A few lines for the whole submission: points per exercise and what went wrong in a process.

    With hidden tests, students see this text at once: it then counts the visible tests only and
    gives no total (Gradescope shows the total once the grades are published)."""
    hidden = any(t.hidden for ex in result.exercises for t in ex.tests)
    lines = ["Points of the visible tests (the hidden tests and the total come once the grades are published)"
             if hidden else f"Total: {_points(result.total):g} / {_points(result.possible):g}"]
    for ex in result.exercises:
        shown = [t for t in ex.tests if not t.hidden]
        earned, possible = sum(t.score for t in shown), sum(t.max_score for t in shown)
        if not ex.tests:  # not graded at all (batch's zero row): out of its share all the same
            possible = ex.share
        passed = sum(t.outcome == "passed" for t in shown)
        lines.append(f"{ex.name}: {_points(earned):g} / {_points(possible):g} ({passed} of {len(shown)} "
                     f"{'visible ' if hidden else ''}tests passed)")
        if ex.note:
            lines.append(f"  {ex.note}")
    return "\n".join(lines)


def gradescope(result: GradeResult, hidden_visibility: str = HIDDEN_VISIBILITY) -> dict:
    """`result` as Gradescope's results.json: one entry per test, tagged with its exercise."""
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden_visibility must be one of {', '.join(VISIBILITIES)}, got {hidden_visibility!r}")
    tests = []
    for ex in result.exercises:
        hidden_number = 0
        for t in ex.tests:
            name = t.name
            if t.hidden:  # its name may carry its inputs (parameters): numbered instead
                hidden_number += 1
                name = f"hidden test {hidden_number}"
            tests.append({
                "name": f"{ex.name}: {name}",
                "score": _points(t.score),
                "max_score": _points(t.max_score),
                "status": "passed" if t.outcome == "passed" else "failed",
                "output": _test_output(t),
                "visibility": hidden_visibility if t.hidden else "visible",
                "tags": [ex.name],
                "extra_data": _instructor_data(ex.name, t),
            })
    return {
        "score": _points(result.total),
        "execution_time": round(result.seconds, 1),
        "output": summary(result),
        "tests": tests,
        "extra_data": {
            "submission": result.submission,
            "model": result.model,
            "device": result.device,
            "dtype": result.dtype,
            "versions": {"python": platform.python_version(),
                         **versions("textgen-kit", "torch", "transformers", "pytest")},
            "exercises": {ex.name: {"score": _points(ex.earned), "max_score": ex.share, "note": ex.note}
                          for ex in result.exercises},
        },
    }


def write_gradescope(result: GradeResult, path, hidden_visibility: str = HIDDEN_VISIBILITY) -> None:
    _write(path, json.dumps(gradescope(result, hidden_visibility), indent=2) + "\n")


def junit(result: GradeResult, reveal_hidden: bool = False) -> str:
    """`result` as JUnit XML: one test suite per exercise, its points as properties. Hidden tests
    keep their outcome but not their name or message unless `reveal_hidden`."""
    # An exercise that could not be graded at all (no test ran: batch's "not graded") is one failing
    # test case saying why, so that a CI report never shows it green.
    ungraded = [ex for ex in result.exercises if not ex.tests and ex.note]
    root = ET.Element("testsuites", name="textgen-kit",
                      tests=str(sum(len(e.tests) for e in result.exercises) + len(ungraded)),
                      failures=str(sum(len(e.tests) - e.passed for e in result.exercises) + len(ungraded)),
                      time=f"{result.seconds:.3f}")
    for ex in result.exercises:
        failed = [t for t in ex.tests if t.outcome == "failed"]
        skipped = [t for t in ex.tests if t.outcome == "skipped"]
        extra = 1 if ex in ungraded else 0
        suite = ET.SubElement(root, "testsuite", name=ex.name, tests=str(len(ex.tests) + extra),
                              failures=str(len(failed) + extra), errors="0", skipped=str(len(skipped)),
                              time=f"{ex.seconds:.3f}")
        properties = ET.SubElement(suite, "properties")
        for key, value in (("points", f"{_points(ex.earned):g}"), ("max_points", f"{ex.share:g}"),
                           ("model", result.model), ("device", result.device), ("note", ex.note)):
            ET.SubElement(properties, "property", name=key, value=value)
        if extra:
            case = ET.SubElement(suite, "testcase", classname=f"textgen.{ex.name}", name="not graded", time="0.000")
            ET.SubElement(case, "failure", message=ex.note).text = ex.note
        hidden_number = 0
        for t in ex.tests:
            name, message, detail = t.name, t.message, _details(t)
            if t.hidden and not reveal_hidden:
                hidden_number += 1
                name, message, detail = f"hidden test {hidden_number}", f"hidden test {t.outcome}", ""
            case = ET.SubElement(suite, "testcase", classname=f"textgen.{ex.name}", name=name,
                                 time=f"{t.seconds:.3f}")
            if t.outcome == "failed":
                ET.SubElement(case, "failure", message=message).text = detail or message
            elif t.outcome == "skipped":
                ET.SubElement(case, "skipped", message=message)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(result: GradeResult, path, reveal_hidden: bool = False) -> None:
    _write(path, junit(result, reveal_hidden))


def _write(path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
