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

from . import versions
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
    if test.outcome == "passed":
        return "passed"
    text = test.message or test.outcome
    return f"{text}\n\n{test.detail}" if test.detail and test.detail.strip() != text.strip() else text


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
        for t in ex.tests:
            tests.append({
                "name": f"{ex.name}: {t.name}",
                "score": _points(t.score),
                "max_score": _points(t.max_score),
                "status": "passed" if t.outcome == "passed" else "failed",
                "output": _test_output(t),
                "visibility": hidden_visibility if t.hidden else "visible",
                "tags": [ex.name],
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
    root = ET.Element("testsuites", name="textgen-kit", tests=str(sum(len(e.tests) for e in result.exercises)),
                      failures=str(sum(len(e.tests) - e.passed for e in result.exercises)),
                      time=f"{result.seconds:.3f}")
    for ex in result.exercises:
        failed = [t for t in ex.tests if t.outcome == "failed"]
        skipped = [t for t in ex.tests if t.outcome == "skipped"]
        suite = ET.SubElement(root, "testsuite", name=ex.name, tests=str(len(ex.tests)), failures=str(len(failed)),
                              errors="0", skipped=str(len(skipped)), time=f"{ex.seconds:.3f}")
        properties = ET.SubElement(suite, "properties")
        for key, value in (("points", f"{_points(ex.earned):g}"), ("max_points", f"{ex.share:g}"),
                           ("model", result.model), ("device", result.device), ("note", ex.note)):
            ET.SubElement(properties, "property", name=key, value=value)
        hidden_number = 0
        for t in ex.tests:
            name, message, detail = t.name, t.message, t.detail
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
