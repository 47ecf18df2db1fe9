"""What a student and an instructor read (issue 23, points 3, 4 and 6): one exercise from make, the
task's own number in a one-exercise table, folders shown relative to where the user is, help texts
that are true in the kit and in a student release, `make hint` past the course's levels is not an
error, and batch grading's JUnit files."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from grader.points import EXERCISES, SHARES
from grader.report import print_report
from grader.result import ExerciseResult, GradeResult, TestResult, score
from grader.submission import REPO, SOLUTIONS_DIR

pytestmark = pytest.mark.kit


def make(folder: Path, *args: str, dry: bool = False) -> subprocess.CompletedProcess:
    """make in `folder` with an environment that is current (its stamp written, the kit's Python):
    nothing is ever installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    venv = folder / ".test-venv"
    common = ["--no-print-directory", f"VENV={venv}", f"PY={sys.executable}"]
    stamp = subprocess.run(["make", *common, "--eval", "print-stamp: ; @echo $(STAMP)", "print-stamp"], cwd=folder,
                           env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    Path(stamp).parent.mkdir(parents=True, exist_ok=True)
    Path(stamp).write_text(f"{folder}\n")
    return subprocess.run(["make", *common, *(["-n"] if dry else []), *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)


def one_exercise_result(name: str, submission: str) -> GradeResult:
    ex = ExerciseResult(name=name, share=SHARES[name], tests=[
        TestResult(nodeid=f"tests/test_{name}.py::test_a", exercise=name, weight=1, outcome="passed")])
    score(ex)
    return GradeResult(submission=submission, model="tiny", device="cpu", exercises=[ex])


def report_text(result: GradeResult) -> str:
    console = Console(file=io.StringIO(), width=120, highlight=False)
    print_report(result, console)
    return console.file.getvalue()


def test_make_grades_one_exercise_and_its_table_keeps_the_tasks_number():
    proc = make(REPO, "grade", "EXERCISE=sampling", "MODEL=tiny", dry=True)
    assert proc.returncode == 0 and '--exercise "sampling"' in proc.stdout, proc.stdout + proc.stderr
    proc = make(REPO, "grade", "EXERCISE=sampling decoding", dry=True)
    assert '--exercise "sampling" --exercise "decoding"' in proc.stdout, proc.stdout
    assert "--exercise" not in make(REPO, "grade", dry=True).stdout
    for name in EXERCISES:
        text = report_text(one_exercise_result(name, str(REPO / "exercises")))
        assert f"{EXERCISES.index(name) + 1}. {name}" in text, text
        assert "1. " not in text or name == "tokenization", text


def test_the_first_line_shows_the_folder_relative_to_the_current_one(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    text = report_text(one_exercise_result("sampling", str(REPO / "exercises")))
    assert text.startswith("Grading exercises with model tiny"), text
    outside = tmp_path / "alice"
    outside.mkdir()
    assert report_text(one_exercise_result("sampling", str(outside))).startswith(f"Grading {outside} with")


def test_readme_captures_show_no_maintainers_path():
    """Captured output in the READMEs (the kit's, the release's) names folders as a student sees them."""
    captured = "\n".join(re.findall(r"^```\w*\n(.*?)^```", (REPO / "README.md").read_text(), re.S | re.M))
    assert "Grading exercises with model" in captured
    assert not re.search(r"(?<![\w.])/(work|tmp|home|Users|root)/", captured), "an absolute path in a capture"


def test_help_says_solutions_is_the_reference_only_where_it_is(tmp_path):
    kit = subprocess.run([sys.executable, "-m", "grader", "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert "solutions/ is the reference" in " ".join(kit.stdout.split())
    out = tmp_path / "release"
    proc = subprocess.run([sys.executable, "-m", "grader", "release", str(out)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    env = {**os.environ, "PYTHONPATH": str(out)}
    for args in (["-m", "grader", "--help"], ["-m", "grader", "demo", "--help"], ["-m", "pytest", "--help", "-p",
                                                                                   "grader.plugin"]):
        shown = subprocess.run([sys.executable, *args], cwd=out, env=env, capture_output=True, text=True, timeout=120)
        text = " ".join(shown.stdout.split())
        assert "laid out like exercises/ (default: exercises/)" in text and "solutions/" not in text, text[-3000:]

    # make hint past the course's levels (2 in a release): the levels it gives and one line, no make error
    proc = make(out, "hint", "NAME=sampling.top_p_filter", "LEVEL=3")
    assert proc.returncode == 0 and "Error" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == ("No hint 3: your course gives hints up to level 2; ask your "
                                            "instructor for more.")
    # hints by exercise, as for grade: EXERCISE=sampling NAME=top_p_filter, or EXERCISE=sampling alone
    proc = make(out, "hint", "EXERCISE=sampling", "NAME=top_p_filter")
    assert proc.returncode == 0 and proc.stdout.startswith("sampling.top_p_filter, hint 1 of 2:"), proc.stdout
    proc = make(out, "hint", "EXERCISE=sampling")
    assert proc.returncode == 0 and "top_p_filter" in proc.stdout and "make hint NAME=sampling." in proc.stdout


def test_batch_writes_one_junit_file_per_student_and_results_json_compatible_jsons(tmp_path):
    """`batch --junit DIR`: one JUnit XML per student; each student's JSON is a results.json
    (Gradescope's format: the fields and scores test_results.check_documented requires)."""
    from test_results import check_documented

    submissions = tmp_path / "submissions"
    (submissions / "ada").mkdir(parents=True)
    for path in SOLUTIONS_DIR.glob("tokenization.py"):
        (submissions / "ada" / path.name).write_text(path.read_text())
    (submissions / "bob").mkdir()
    (submissions / "bob" / "notes.txt").write_text("nothing to grade")
    junit = tmp_path / "junit"
    proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(submissions), "--out",
                           str(tmp_path / "grades" / "grades.csv"), "--junit", str(junit), "--exercise",
                           "tokenization", "--model", "tiny", "--device", "cpu", "--quiet"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"one JUnit XML each in {junit}" in proc.stdout
    assert sorted(p.name for p in junit.iterdir()) == ["ada.xml", "bob.xml"]
    ada = ET.parse(junit / "ada.xml").getroot()
    (suite,) = ada.findall("testsuite")
    assert suite.get("name") == "tokenization" and int(suite.get("tests")) > 10 and suite.get("failures") == "0"
    bob = ET.parse(junit / "bob.xml").getroot()
    assert int(bob.get("failures")) >= 1
    for name, total in (("ada", 10), ("bob", 0)):
        results = json.loads((tmp_path / "grades" / f"{name}.json").read_text())
        check_documented(results)
        assert results["score"] == total


def second_checkout(where: Path) -> Path:
    """A second copy of the kit (a student release, a clone) with no environment of its own."""
    import shutil

    where.mkdir()
    for name in ("pyproject.toml", "conftest.py"):
        shutil.copy(REPO / name, where / name)
    for folder in ("grader", "exercises"):
        shutil.copytree(REPO / folder, where / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (where / "tests" / "expectations" / "tiny").mkdir(parents=True)
    for name in ("test_tokenization.py", "checks.py", "counting.py"):
        shutil.copy(REPO / "tests" / name, where / "tests" / name)
    shutil.copy(REPO / "tests" / "expectations" / "tiny" / "test_tokenization.json",
                where / "tests" / "expectations" / "tiny")
    return where


def test_pytest_in_another_checkout_refuses_or_grades_that_checkout(tmp_path):
    """This environment's `pytest` console script finds the plugin through the editable install
    (this checkout); run in another checkout it must not grade this checkout's exercises/: it
    refuses with one line. `python -m pytest` there uses that checkout's own grader and says so
    in its header."""
    other = second_checkout(tmp_path / "other")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pytest_script = Path(sys.executable).parent / "pytest"
    args = ["-m", "tokenization", "--model", "tiny", "-p", "no:cacheprovider", "-k", "encode_matches_tokenizer"]
    refused = subprocess.run([str(pytest_script), *args], cwd=other, env=env, capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 4, refused.stdout[-2000:] + refused.stderr[-2000:]
    (line,) = [line for line in refused.stderr.splitlines() if line.strip()]
    assert f"pytest runs in the kit checkout {other}, but the kit's plugin comes from {REPO}" in line, line

    graded = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=other, env=env, capture_output=True,
                            text=True, timeout=300)
    assert "textgen-kit: grading exercises (--submission), with the kit in " + str(other) in graded.stdout, \
        graded.stdout[-3000:]
    assert "not implemented yet" in graded.stdout and graded.returncode == 1, graded.stdout[-2000:]


def test_make_grade_no_warm_grades_without_a_warm_worker():
    assert "--no-warm" in make(REPO, "grade", "NO_WARM=1", dry=True).stdout
    assert "--no-warm" not in make(REPO, "grade", dry=True).stdout
