"""The grader end to end: untouched stubs score zero cleanly, the reference scores full marks,
bad options are one line, --min-score fails CI, --json/--junit write their files, and batch
grading grades a class in shards that merge into one CSV."""
import csv
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from grader.points import EXERCISES, TOTAL
from grader.run import grade
from grader.submission import EXERCISES_DIR, REPO, SOLUTIONS_DIR

pytestmark = pytest.mark.kit


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="module")
def stubs_cli(outputs):
    return run_cli("--submission", str(EXERCISES_DIR), "--model", "tiny", "--device", "cpu", "--jobs", "2",
                   "--json", str(outputs / "results.json"), "--junit", str(outputs / "junit.xml"))


def test_untouched_stubs_score_zero_and_exit_0(stubs_cli):
    assert stubs_cli.returncode == 0, stubs_cli.stderr[-2000:]
    assert f"0 / {TOTAL}" in stubs_cli.stdout
    assert "Traceback" not in stubs_cli.stdout + stubs_cli.stderr
    for exercise in EXERCISES:
        assert exercise in stubs_cli.stdout


def test_untouched_stubs_fail_as_not_implemented():
    result = grade(EXERCISES_DIR, model="tiny", device="cpu", exercises=["tokenization"])
    ex = result.exercise("tokenization")
    assert ex.tests and ex.earned == 0
    assert all(t.message.startswith("not implemented yet") for t in ex.tests), \
        {t.message for t in ex.tests if not t.message.startswith("not implemented yet")}


def test_reference_scores_full_marks():
    result = grade(SOLUTIONS_DIR, model="tiny", device="cpu", jobs=2)
    failures = [(t.nodeid, t.message) for e in result.exercises for t in e.tests if t.outcome != "passed"]
    assert not failures
    assert result.total == pytest.approx(TOTAL)


def test_min_score_fails_ci_below_threshold():
    proc = run_cli("--submission", str(EXERCISES_DIR), "--model", "tiny", "--device", "cpu",
                   "--exercise", "tokenization", "--min-score", "1")
    assert proc.returncode == 1
    assert "below the minimum" in proc.stderr


@pytest.mark.parametrize("args, says", [
    (["--model", "no-such-org/no-such-model"], "never downloads"),
    (["--model", "tiny,default"], "--model takes one model to grade with, got 2 (tiny, default); grade once per model"),
    (["--device", "tpu"], "unknown device"),
    (["--submission", "no/such/folder"], "does not exist"),
    (["--submission", str(EXERCISES_DIR / "sampling.py")], "is a file; pass the folder that holds your exercise files"),
    (["--submission", str(REPO)], "is a copy of the kit, not a submission; pass its exercises/ folder"),
    (["--deadline", "0"], "--deadline must be a positive number of seconds, got 0"),
])
def test_bad_options_are_one_line_and_exit_2(args, says):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and says in proc.stderr
    assert proc.stderr.startswith("error: ")


def test_a_folder_that_holds_the_exercises_is_pointed_at_them(tmp_path):
    from grader import KitError
    from grader.submission import resolve_folder

    (tmp_path / "work" / "exercises").mkdir(parents=True)
    shutil.copy(EXERCISES_DIR / "sampling.py", tmp_path / "work" / "exercises")
    with pytest.raises(KitError, match=r"has no \.py files \(did you mean .*work/exercises\?\)"):
        resolve_folder(tmp_path / "work")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KitError, match=r"has no \.py files; pass a folder"):
        resolve_folder(tmp_path / "empty")


def test_json_and_junit_files_of_the_stubs(stubs_cli, outputs):
    assert stubs_cli.returncode == 0, stubs_cli.stderr[-2000:]
    results = json.loads((outputs / "results.json").read_text())
    assert results["score"] == 0 and results["tests"]
    assert {t["tags"][0] for t in results["tests"]} == set(EXERCISES)
    assert all(t["status"] == "failed" and "not implemented yet" in t["output"] for t in results["tests"])
    root = ET.parse(outputs / "junit.xml").getroot()
    assert [suite.get("name") for suite in root.findall("testsuite")] == list(EXERCISES)
    assert int(root.get("failures")) == int(root.get("tests")) == len(results["tests"])


def test_batch_grades_a_class_in_shards_that_merge(tmp_path):
    classroom = tmp_path / "class"
    shutil.copytree(SOLUTIONS_DIR, classroom / "ada", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(EXERCISES_DIR, classroom / "bob" / "exercises", ignore=shutil.ignore_patterns("__pycache__"))
    (classroom / "cy").mkdir()
    (classroom / "cy" / "notes.txt").write_text("no code handed in")
    # Students who uploaded files instead of a folder, and what a file manager leaves behind.
    (classroom / "erin.py").write_text((SOLUTIONS_DIR / "tokenization.py").read_text())
    with zipfile.ZipFile(classroom / "henry.zip", "w") as archive:
        archive.write(SOLUTIONS_DIR / "tokenization.py", "tokenization.py")
    (classroom / ".DS_Store").write_bytes(b"\0")
    not_graded = [
        f"not graded: {classroom / '.DS_Store'} (a file whose name starts with '.', which batch grading skips)",
        f"not graded: {classroom / 'erin.py'} (a Python file, not a folder): erin gets 0 points",
        f"not graded: {classroom / 'henry.zip'} (a zip archive, not a folder): henry gets 0 points"]
    shards = []
    for k in (1, 2):
        out = tmp_path / f"shard-{k}" / "grades.csv"
        proc = run_cli("batch", str(classroom), "--shard", f"{k}/2", "--jobs", "2", "--out", str(out), "--quiet",
                       "--model", "tiny", "--device", "cpu", "--exercise", "tokenization")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert [line for line in proc.stderr.splitlines() if line.startswith("not graded:")] == not_graded
        assert "Its points: total out of 10, tokenization out of 10." in proc.stdout, proc.stdout  # --exercise's
        zeros = {1: ", 2 not graded (0 points: cy, henry)", 2: ", 1 not graded (0 points: erin)"}[k]
        assert proc.stdout.startswith(f"Graded 1 submission{zeros}: {out}"), proc.stdout  # ada, bob
        shards.append(out)
    assert [r["submission"] for r in csv.DictReader(shards[0].open())] == ["ada", "cy", "henry"]  # 1st, 3rd, 5th
    assert (shards[1].parent / "bob.json").exists() and not (shards[1].parent / "ada.json").exists()
    no_code = json.loads((shards[0].parent / "cy.json").read_text())
    assert no_code["score"] == 0 and "no .py files" in no_code["output"]
    for name, says in (("henry", f"uploaded a file, not a folder: henry.zip (a zip archive); unzip it into "
                                 f"{classroom / 'henry'}/ and grade again"),
                       ("erin", f"uploaded a file, not a folder: erin.py (a Python file); put the student's files "
                                f"in a folder {classroom / 'erin'}/ and grade again")):
        loose = json.loads((tmp_path / f"shard-{1 if name == 'henry' else 2}" / f"{name}.json").read_text())
        assert loose["score"] == 0 and says in loose["output"], loose["output"]
        assert "tokenization: 0 / 10 (0 of 0 tests passed)" in loose["output"], loose["output"]  # out of its share
        assert loose["extra_data"]["submission"] == str(classroom / name) and loose["extra_data"]["device"] == "cpu"

    merged = tmp_path / "class.csv"
    proc = run_cli("merge", "--out", str(merged), *map(str, shards))
    assert proc.returncode == 0, proc.stderr
    with merged.open() as f:
        reader = csv.DictReader(f)
        rows = {row["submission"]: row for row in reader}
    assert reader.fieldnames == ["submission", "total", *EXERCISES]
    assert {name: (row["total"], row["tokenization"], row["sampling"]) for name, row in rows.items()} == {
        "ada": ("10", "10", ""), "bob": ("0", "0", ""), "cy": ("0", "0", ""), "erin": ("0", "0", ""),
        "henry": ("0", "0", "")}
    again = run_cli("merge", "--out", str(tmp_path / "twice.csv"), str(shards[0]), str(shards[0]))
    assert again.returncode == 2 and "in two shards" in again.stderr

    # Three shards expected, two came back: the CSV holds theirs, and the third is named.
    partial = tmp_path / "partial.csv"
    proc = run_cli("merge", "--expect-shards", "3", "--out", str(partial), *map(str, shards),
                   str(tmp_path / "shard-3" / "grades.csv"))
    assert proc.returncode == 1 and proc.stderr.splitlines() == [
        f"missing: shard 3 of 3 (no shard-3/ CSV among the inputs): its students are not in {partial}"]
    assert [row["submission"] for row in csv.DictReader(partial.open())] == ["ada", "bob", "cy", "erin", "henry"]
    assert run_cli("merge", "--expect-shards", "2", "--out", str(partial), *map(str, shards)).returncode == 0

    # More shards than students: the empty one says so.
    empty = tmp_path / "shard-6" / "grades.csv"
    proc = run_cli("batch", str(classroom), "--shard", "6/6", "--out", str(empty), "--quiet", "--model", "tiny")
    assert proc.returncode == 0 and empty.read_text().strip() == "submission,total," + ",".join(EXERCISES)
    assert (f"note: shard 6/6 has no students (the class under {classroom} has 5, fewer than 6 shards): "
            f"{empty} holds the CSV header only") in proc.stderr.splitlines()


@pytest.fixture(scope="module")
def not_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("not-folders")
    with zipfile.ZipFile(root / "class.zip", "w") as archive:
        archive.writestr("ada/tokenization.py", "")
    (root / "grades.csv").write_text("submission,total\n")
    return {"zip": root / "class.zip", "csv": root / "grades.csv"}


def test_batch_gives_a_row_to_a_student_who_uploaded_a_file_first_in_the_class(tmp_path):
    classroom = tmp_path / "class"
    shutil.copytree(EXERCISES_DIR, classroom / "bob", ignore=shutil.ignore_patterns("__pycache__"))
    (classroom / "aaron.py").write_text((SOLUTIONS_DIR / "tokenization.py").read_text())
    out = tmp_path / "grades.csv"
    proc = run_cli("batch", str(classroom), "--out", str(out), "--quiet", "--model", "tiny", "--device", "cpu",
                   "--exercise", "tokenization")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [(r["submission"], r["total"]) for r in csv.DictReader(out.open())] == [("aaron", "0"), ("bob", "0")]
    aaron = json.loads((tmp_path / "aaron.json").read_text())
    assert aaron["extra_data"]["submission"] == str(classroom / "aaron")
    assert aaron["output"].count("uploaded a file, not a folder") == 1


def test_a_batch_cut_short_by_its_deadline_names_whom_and_exits_1(tmp_path):
    """--deadline is one budget for the whole class: the students it cut short are named on stderr and the
    exit status is 1, not only visible as zeros in their rows."""
    classroom = tmp_path / "class"
    for name in ("ada", "bob"):
        shutil.copytree(EXERCISES_DIR, classroom / name, ignore=shutil.ignore_patterns("__pycache__"))
    proc = run_cli("batch", str(classroom), "--out", str(tmp_path / "grades.csv"), "--quiet", "--model", "tiny",
                   "--device", "cpu", "--exercise", "tokenization", "--deadline", "0.5")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "warning: the --deadline of 0.5 s (for the whole batch) ran out: 2 of 2 submissions were not fully " \
           "graded (ada, bob)" in proc.stderr, proc.stderr[-2000:]
    assert (tmp_path / "grades.csv").is_file() and (tmp_path / "ada.json").is_file()


@pytest.mark.parametrize("args, says", [
    (["batch", "no/such/folder"], "does not exist"),
    (["batch", str(SOLUTIONS_DIR.parent / "tests" / "kit"), "--shard", "3/2"], "--shard takes K/N"),
    (["batch", "{zip}"], "batch folder '{zip}' is a zip archive, not a folder: unzip it and pass the folder that "
                         "holds one subfolder per student"),
    (["batch", "{csv}"], "batch folder '{csv}' is a file, not a folder: pass the folder that holds one subfolder "
                         "per student"),
    (["batch", str(SOLUTIONS_DIR)], "tokenization.py), not one folder per student: grade one submission with "
                                    f"`python -m grader --submission {SOLUTIONS_DIR}`"),
    (["merge", "--expect-shards", "2", "--out", "{csv}.out", "{csv}"], "cannot tell which shard"),
    (["batch", str(SOLUTIONS_DIR.parent / "tests" / "kit"), "--junit", "{csv}.xml"],
     "batch --junit takes a folder, one <student>.xml per student, not a file: --junit {csv}.xml -> try --junit {csv}/"),
])
def test_bad_batch_options_are_one_line_and_exit_2(args, says, not_folders):
    proc = run_cli(*(arg.format(**not_folders) for arg in args))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.strip().count("\n") == 0
    assert says.format(**not_folders) in proc.stderr, proc.stderr
