"""Text from a submission cannot break or repaint a report: a failure message with terminal
escapes, NUL, C1 controls and a lone surrogate (tests/adversarial/paints_fake_scores) is graded,
then written in every report format (terminal, results.json, JUnit XML, batch CSV, class report
HTML); each one must parse, be valid UTF-8, hold none of those characters raw, and the terminal
must show no row that the submission wrote."""
from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from make_submission import case_files, submission_with
from rich.console import Console

from grader.batch import _write_csv, csv_row
from grader.classreport import write_report
from grader.report import print_report
from grader.result import ExerciseResult, TestResult
from grader.results import write_gradescope, write_junit
from grader.run import grade_many

pytestmark = pytest.mark.kit

CASE = Path(__file__).resolve().parent.parent / "adversarial" / "paints_fake_scores"
EXERCISE = "tokenization"
# Raw, none of these may reach a report: C0 controls but tab and newline, DEL, C1, surrogates.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = submission_with(tmp_path_factory.mktemp("paints") / "student", case_files(CASE), borrow=EXERCISE)
    result, = grade_many([folder], model="tiny", device="cpu", exercises=[EXERCISE], timeout=10, memory_gb=1)
    return result


def strings(value):
    """Every string in a JSON value (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_safe(text: str, where: str) -> None:
    bad = UNSAFE.search(text)
    around = text[max(0, bad.start() - 40):bad.end() + 40] if bad else ""
    assert bad is None, f"{where}: raw {bad.group()!r} at {bad.start()}: {around!r}"


def test_the_attack_reaches_the_messages(graded):
    failed = [t for t in graded.exercise(EXERCISE).tests if t.outcome == "failed"]
    assert failed and all("10 / 10" in t.message for t in failed if "encode" in t.name)
    assert any("\\x1b[8A" in t.message for t in failed), "ESC shows as its escape"


def test_the_terminal_report_shows_no_row_the_submission_wrote(graded):
    out = io.StringIO()  # no colours: every ESC in the output would be the submission's
    print_report(graded, Console(file=out, width=1000, color_system=None, highlight=False))
    terminal = out.getvalue()
    assert_safe(terminal, "terminal")
    lines = terminal.splitlines()
    row = [line for line in lines if "1. tokenization" in line and not line.lstrip().startswith("x ")]
    assert len(row) == 1 and "0 / 10" in row[0] and "10 / 10" not in row[0], terminal
    painted = [line for line in lines if "10 / 10" in line]
    assert painted and all(line.startswith("  x ") for line in painted), "the submission's text only in its own lines"


def test_results_json_parses_and_holds_no_control_characters(graded, tmp_path):
    write_gradescope(graded, tmp_path / "student.json")
    data = json.loads((tmp_path / "student.json").read_bytes().decode("utf-8"))
    for text in strings(data):
        assert_safe(text, "results.json")


def test_junit_xml_parses_and_holds_no_control_characters(graded, tmp_path):
    write_junit(graded, tmp_path / "junit.xml")
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert root.find(".//failure") is not None
    for element in root.iter():
        for text in [element.text or "", element.tail or "", *element.attrib.values()]:
            assert_safe(text, f"JUnit <{element.tag}>")


def test_batch_csv_and_class_report_parse_and_hold_no_control_characters(graded, tmp_path):
    # The batch's files, as run_batch writes them: the CSV and the results.json beside it.
    write_gradescope(graded, tmp_path / "student.json")
    _write_csv(tmp_path / "grades.csv", [csv_row("student", graded)])
    rows = list(csv.DictReader((tmp_path / "grades.csv").read_bytes().decode("utf-8").splitlines()))
    assert rows[0]["submission"] == "student" and float(rows[0]["total"]) < 10
    write_report(tmp_path / "grades.csv", tmp_path / "report.html")
    page = (tmp_path / "report.html").read_bytes().decode("utf-8")
    assert_safe(page, "class report")
    HTMLParser().feed(page)
    assert "10 / 10" in page, "the message itself is shown (escaped)"


def test_safe_text_escapes_and_keeps_the_lines_of_a_traceback():
    from grader.result import safe_text

    assert safe_text("a\x1b[2K\rb\x00\udc80\x9b\x7f\tc\nd") == "a\\x1b[2K\\rb\\x00\\udc80\\x9b\\x7f\tc\\nd"
    assert safe_text("line 1\n\tline 2\x1b", lines=True) == "line 1\n\tline 2\\x1b"
    assert safe_text("plain é ✓ text") == "plain é ✓ text"
    test = TestResult("t.py::t", EXERCISE, 1.0, "failed", message="m\x1b\n", detail="l1\nl2\x00")
    assert (test.message, test.detail) == ("m\\x1b\\n", "l1\nl2\\x00")
    test.message = "later \udc80"  # also when set after the result is made
    exercise = ExerciseResult(EXERCISE, 10.0, note="died: \x1b[2K")
    assert (test.message, exercise.note) == ("later \\udc80", "died: \\x1b[2K")
    assert TestResult(**{**vars(test)}).message == test.message, "escaping twice changes nothing"
