"""Machine-readable results: Gradescope's results.json (checked against the fields its
documentation lists), JUnit XML, hidden tests, and the Gradescope run script on a fake
/autograder tree."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from grader.models import cache_root
from grader.report import print_report
from grader.results import gradescope, junit
from grader.run import grade
from grader.submission import REPO, SOLUTIONS_DIR

pytestmark = pytest.mark.kit

HERE = Path(__file__).resolve().parent.parent

# https://gradescope-autograders.readthedocs.io/en/latest/specs/ - "Output format": every field a
# results.json may hold, at the top level and in each test, with the values the page allows.
DOCUMENTED_TOP = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
                  "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
DOCUMENTED_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
                   "tags", "visibility", "extra_data"}
DOCUMENTED_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
DOCUMENTED_STATUS = {"passed", "failed"}

# An instructor's hidden test: other prompts, which a solution that strips the text gets wrong.
HIDDEN_TEST = '''
import pytest

from checks import expect_equal

pytestmark = pytest.mark.tokenization


@pytest.mark.points(2)
@pytest.mark.parametrize("text", ["Seen by nobody", "  two leading spaces"])
def test_hidden_encode_other_prompts(impl, tokenizer, text):
    expect_equal(impl.tokenization.encode(tokenizer, text), tokenizer(text)["input_ids"], f"encode({text!r})")
'''


def submission_with(folder: Path, replacement: Path) -> Path:
    shutil.copytree(SOLUTIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(folder / "tokenization.py", folder / "_reference.py")
    shutil.copy(replacement, folder / "tokenization.py")
    return folder


@pytest.fixture(scope="module")
def hidden_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hidden")
    (folder / "test_hidden_tokenization.py").write_text(HIDDEN_TEST)
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory, hidden_dir):
    """A known-wrong tokenisation (strips the text), with the hidden tests."""
    folder = submission_with(tmp_path_factory.mktemp("wrong") / "submission",
                             HERE / "wrong" / "tokenization" / "strips_text.py")
    return grade(folder, model="tiny", device="cpu", exercises=["tokenization"], extra_tests=hidden_dir)


def check_documented(results: dict) -> None:
    """`results` uses only documented fields and values, and its scores add up."""
    assert set(results) <= DOCUMENTED_TOP, set(results) - DOCUMENTED_TOP
    assert isinstance(results["score"], (int, float)) and isinstance(results["output"], str)
    assert isinstance(results.get("execution_time", 0), (int, float))
    assert isinstance(results.get("extra_data", {}), dict)
    for test in results["tests"]:
        assert set(test) <= DOCUMENTED_TEST, set(test) - DOCUMENTED_TEST
        assert {"name", "score", "max_score", "status", "output", "visibility", "tags"} <= set(test)
        assert test["status"] in DOCUMENTED_STATUS and test["visibility"] in DOCUMENTED_VISIBILITY
        assert isinstance(test["tags"], list) and all(isinstance(tag, str) for tag in test["tags"])
        assert 0 <= test["score"] <= test["max_score"]
        assert (test["status"] == "passed") == (test["score"] == test["max_score"] > 0)
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=1e-3)


def test_gradescope_results_use_the_documented_fields(graded):
    results = json.loads(json.dumps(gradescope(graded)))
    check_documented(results)
    assert {"score", "execution_time", "output", "tests", "extra_data"} <= set(results)
    assert {tag for t in results["tests"] for tag in t["tags"]} == {"tokenization"}
    assert 0 < results["score"] < 10
    extra = results["extra_data"]
    assert extra["model"] == "tiny" and extra["device"] == "cpu" and extra["dtype"] == "float32"
    assert {"python", "torch", "transformers", "textgen-kit"} <= set(extra["versions"])
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert failed and all(t["output"] and t["output"] != "passed" for t in failed)


def test_hidden_tests_are_graded_and_marked_hidden(graded):
    hidden = [t for t in graded.exercise("tokenization").tests if t.hidden]
    assert [t.outcome for t in hidden] == ["passed", "failed"], "the second prompt has leading spaces"
    results = gradescope(graded)
    visibility = {t["name"].split(": ", 1)[1]: t["visibility"] for t in results["tests"]}
    assert {visibility[t.name] for t in hidden} == {"after_published"}
    assert set(visibility.values()) == {"visible", "after_published"}
    assert {t["visibility"] for t in gradescope(graded, "hidden")["tests"] if "hidden" in t["name"]} == {"hidden"}


def test_students_never_see_hidden_test_names(graded):
    console = Console(record=True, width=200)
    print_report(graded, console)
    text = console.export_text()
    assert "test_hidden" not in text and "Seen by nobody" not in text
    assert "1 of 2 hidden tests passed" in text
    assert "test_hidden" not in junit(graded) and "test_hidden" in junit(graded, reveal_hidden=True)


def test_junit_xml_counts_every_test(graded):
    root = ET.fromstring(junit(graded))
    (suite,) = root.findall("testsuite")
    ex = graded.exercise("tokenization")
    assert suite.get("name") == "tokenization" and int(suite.get("tests")) == len(ex.tests)
    assert int(suite.get("failures")) == len(ex.tests) - ex.passed == len(suite.findall("testcase/failure"))
    properties = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert float(properties["points"]) == pytest.approx(ex.earned, abs=1e-3)
    assert all(f.get("message") for f in suite.findall("testcase/failure"))


def test_bad_extra_tests_folder_is_one_line(tmp_path):
    (tmp_path / "test_tokenization.py").write_text(HIDDEN_TEST)  # the name of a kit test file
    proc = subprocess.run([sys.executable, "-m", "grader", "--model", "tiny", "--extra-tests", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "rename it" in proc.stderr


# ----------------------------------------------------------------------------------------------
# Gradescope: the zip's layout, and run_autograder against a fake /autograder tree

@pytest.fixture(scope="module")
def autograder_source(tmp_path_factory, hidden_dir) -> Path:
    """`make gradescope HIDDEN=...`'s zip, unpacked where Gradescope unpacks it (root/source)."""
    root = tmp_path_factory.mktemp("autograder")
    archive = root / "autograder.zip"
    subprocess.run([sys.executable, str(REPO / "gradescope" / "build_zip.py"), "--out", str(archive),
                    "--hidden", str(hidden_dir)], check=True, capture_output=True)
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        assert {"setup.sh", "run_autograder"} <= set(names), "both must sit at the root of the zip"
        assert (z.getinfo("run_autograder").external_attr >> 16) & 0o111, "run_autograder must be executable"
        assert "hidden_tests/test_hidden_tokenization.py" in names
        assert not any(n.startswith(("tests/kit/", "tests/wrong/", "tests/adversarial/")) for n in names)
        z.extractall(root / "source")
    return root / "source"


def run_autograder(source: Path, submission: Path) -> dict:
    root = source.parent
    shutil.rmtree(root / "submission", ignore_errors=True)
    shutil.copytree(submission, root / "submission")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
           "TEXTGEN_KIT_CACHE": str(cache_root()), "GRADER_ARGS": "--model tiny --exercise tokenization"}
    proc = subprocess.run(["bash", str(source / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_writes_the_results_after_the_submission_tried(autograder_source, tmp_path):
    # A correct tokenisation that, when imported, writes a perfect results.json where Gradescope reads it.
    submission = tmp_path / "upload"
    submission.mkdir()
    (submission / "tokenization.py").write_text(
        (SOLUTIONS_DIR / "tokenization.py").read_text() + "\n\n" +
        "import json as _json, os as _os\n"
        "_path = _os.path.join(_os.environ.get('AUTOGRADER_ROOT', '/autograder'), 'results', 'results.json')\n"
        "_json.dump({'score': 1000, 'tests': []}, open(_path, 'w'))\n")
    results = run_autograder(autograder_source, submission)
    check_documented(results)
    assert results["score"] == pytest.approx(10), "full marks in tokenization, the grader's own figure"
    hidden = [t for t in results["tests"] if t["visibility"] == "after_published"]
    assert len(hidden) == 2 and all(t["status"] == "passed" for t in hidden)


def test_run_autograder_scores_an_empty_upload_zero_with_a_reason(autograder_source, tmp_path):
    (tmp_path / "notes.txt").write_text("no code here")
    results = run_autograder(autograder_source, tmp_path)
    assert results["score"] == 0 and "could not grade" in results["output"] and "no .py files" in results["output"]
    check_documented(results)


# ----------------------------------------------------------------------------------------------
# The CI recipes in examples/

def test_classroom_workflow_reports_each_exercise(graded, tmp_path):
    import base64

    import yaml

    workflow = yaml.safe_load((REPO / "examples" / "github-classroom" / "classroom.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert job["name"] == "Autograding Tests"  # the check run GitHub Classroom reads the points from
    commands = " ".join(step.get("run", "") for step in job["steps"])
    assert "python -m grader --submission ../student/exercises" in commands and "classroom_result.py" in commands
    (tmp_path / "results.json").write_text(json.dumps(gradescope(graded)))
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "github-classroom" / "classroom_result.py"),
                           str(tmp_path / "results.json")], capture_output=True, text=True, check=True)
    key, _, value = proc.stdout.strip().partition("=")
    payload = json.loads(base64.b64decode(value))
    assert key == "result" and payload["max_score"] == 10 and payload["status"] == "fail"
    (test,) = payload["tests"]
    assert test["name"] == "tokenization" and test["score"] == pytest.approx(graded.total, abs=1e-3)


def test_batch_workflow_shards_then_merges():
    import yaml

    workflow = yaml.safe_load((REPO / "examples" / "batch-grading" / "batch-grading.yml").read_text())
    grade_job, merge_job = workflow["jobs"]["grade"], workflow["jobs"]["merge"]
    shards = grade_job["strategy"]["matrix"]["shard"]
    commands = " ".join(step.get("run", "") for step in grade_job["steps"])
    assert f"--shard ${{{{ matrix.shard }}}}/{len(shards)}" in commands and "python -m grader batch" in commands
    assert merge_job["needs"] == "grade"
    assert "python -m grader merge" in " ".join(step.get("run", "") for step in merge_job["steps"])
