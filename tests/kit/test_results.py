"""Machine-readable results: Gradescope's results.json (checked against the fields its
documentation lists), JUnit XML, hidden tests, and the Gradescope run script on a fake
/autograder tree."""
from __future__ import annotations

import ast
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from make_submission import submission_with
from rich.console import Console

from grader.messages import CUT_BY_DEADLINE, OUT_OF_TIME
from grader.models import cache_root
from grader.points import SHARES, TOTAL
from grader.report import print_report
from grader.result import ExerciseResult, GradeResult, TestResult, score
from grader.results import DETAIL_CUT, gradescope, junit
from grader.run import TYPICAL_SECONDS, grade
from grader.submission import EXERCISES_DIR, REPO, SOLUTIONS_DIR

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


@pytest.fixture(scope="module")
def hidden_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hidden")
    (folder / "test_hidden_tokenization.py").write_text(HIDDEN_TEST)
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory, hidden_dir):
    """A known-wrong tokenisation (strips the text), with the hidden tests."""
    folder = submission_with(tmp_path_factory.mktemp("wrong") / "submission",
                             {"tokenization.py": HERE / "wrong" / "tokenization" / "strips_text.py"}, borrow="tokenization")
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
    assert Decimal(str(results["score"])) == sum(Decimal(str(t["score"])) for t in results["tests"])


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


def test_a_hidden_test_without_an_exercise_marker_is_refused_in_one_line(tmp_path):
    """Without its exercise marker a hidden test would never run (each test process runs one exercise's
    tests): the grading stops with one line that names it, instead of leaving it out without a word."""
    from grader import KitError

    (tmp_path / "test_hidden_unmarked.py").write_text(HIDDEN_TEST.replace("pytestmark = pytest.mark.tokenization", ""))
    with pytest.raises(KitError) as err:
        grade(EXERCISES_DIR, model="tiny", device="cpu", exercises=["tokenization"], extra_tests=tmp_path)
    message = str(err.value)
    assert "test_hidden_unmarked.py::test_hidden_encode_other_prompts[tiny-Seen by nobody] (and 1 more) has @pytest.mark.points but no exercise " \
           "marker" in message and "\n" not in message, message


def test_hidden_tests_are_graded_and_marked_hidden(graded):
    hidden = [t for t in graded.exercise("tokenization").tests if t.hidden]
    assert [t.outcome for t in hidden] == ["passed", "failed"], "the second prompt has leading spaces"
    results = gradescope(graded)
    visibility = {t["extra_data"]["nodeid"]: t["visibility"] for t in results["tests"]}
    assert {visibility[t.nodeid] for t in hidden} == {"after_published"}
    assert set(visibility.values()) == {"visible", "after_published"}
    assert {t["visibility"] for t in gradescope(graded, "hidden")["tests"] if "hidden" in t["name"]} == {"hidden"}
    # the top-level output, which students see at once, gives neither the total nor the hidden tests
    visible = [t for t in graded.exercise("tokenization").tests if not t.hidden]
    assert "Total" not in results["output"]
    assert f"({sum(t.outcome == 'passed' for t in visible)} of {len(visible)} visible tests passed)" in results["output"]


def test_students_read_the_message_and_hint_only_and_instructors_the_traceback(graded):
    """results.json: a failing test's `output` is its one-line message, never a traceback, a kit path
    or a test's source; the traceback is in the test's extra_data, which Gradescope stores and never
    shows; a hidden test shows neither its name, nor its source, nor its inputs."""
    results = json.loads(json.dumps(gradescope(graded)))
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert failed
    for test in failed:
        assert "\n" not in test["output"] and "Traceback" not in test["output"], test["output"]
        assert ".py:" not in test["output"] and str(REPO) not in test["output"] and "def test_" not in test["output"]
    by_node = {t.nodeid: t for t in graded.exercise("tokenization").tests}
    visible = [t for t in failed if t["visibility"] == "visible"]
    assert all(t["output"] == by_node[t["extra_data"]["nodeid"]].message for t in visible)
    assert any(".py\", line" in t["extra_data"].get("traceback", "") for t in failed), [t["extra_data"] for t in failed]
    hidden = [t for t in results["tests"] if t["visibility"] != "visible"]
    assert [t["name"] for t in hidden] == ["tokenization: hidden test 1", "tokenization: hidden test 2"]
    shown = json.dumps([{k: v for k, v in t.items() if k != "extra_data"} for t in hidden])
    assert "test_hidden" not in shown and "leading spaces" not in shown and "Seen by nobody" not in shown
    assert "test_hidden" in json.dumps([t["extra_data"] for t in hidden]), "the instructor still knows which"


def test_points_of_each_exercise_add_up_to_exactly_its_share():
    """Per-test max_score, as written to results.json, sums to exactly each exercise's share and to
    100 (it was 100.0007, and Classroom showed 96.66669999999999), and the scores are consistent."""
    counts = {"tokenization": 27, "next_token": 18, "sampling": 49, "decoding": 50, "logprobs": 23, "beam_search": 17}
    exercises = {name: [(1 + i % 3, i % 4 != 0) for i in range(n)] for name, n in counts.items()}
    results = graded_result(exercises)
    check_documented(results)
    for name in counts:
        tests = [t for t in results["tests"] if t["tags"] == [name]]
        assert sum(Decimal(str(t["max_score"])) for t in tests) == SHARES[name], name
        earned = sum(Decimal(str(t["score"])) for t in tests)
        assert earned == Decimal(str(results["extra_data"]["exercises"][name]["score"])), name
    assert sum(Decimal(str(t["max_score"])) for t in results["tests"]) == 100
    three = graded_result({"tokenization": [(1, True), (1, False), (1, False)]})
    assert [t["max_score"] for t in three["tests"]] == [3.3334, 3.3333, 3.3333]
    runners = classroom_runners(three)
    assert runners["missed"]["max_score"] == 6.6666 and runners["earned"]["max_score"] == 3.3334


def classroom_runners(results: dict) -> dict:
    sys.path.insert(0, str(CLASSROOM))
    try:
        from classroom_result import classroom_result
    finally:
        sys.path.remove(str(CLASSROOM))
    return classroom_result(results)


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


def test_a_cut_traceback_reads_from_a_whole_line_with_a_marker_in_every_report():
    """The test process keeps the last DETAIL_CUT characters of a traceback, which may start mid-token: the
    JUnit body and results.json's instructor data both start at the next whole line, after "[...]"."""
    detail = "partial_tok" + "en\n" + "x = 1\n" * (DETAIL_CUT // 6) + "AssertionError: boom"
    assert len(detail) >= DETAIL_CUT
    test = TestResult("tests/test_tokenization.py::test_encode", "tokenization", 1.0, "failed", "boom", detail=detail)
    ex = ExerciseResult("tokenization", 10, [test])
    score(ex)
    result = GradeResult("s", "tiny", "cpu", [ex])
    (body,) = [f.text for f in ET.fromstring(junit(result)).iter("failure")]
    data = gradescope(result)["tests"][0]["extra_data"]
    for text in (body, data["traceback"]):
        assert text.startswith("[...]\nx = 1\n") and "partial_tok" not in text and text.endswith("boom")


def test_the_report_header_says_what_the_tests_compared_with():
    """The first line of the report names what the graded tests compared with, hidden tests' recordings too."""
    def header(*tests: tuple[bool, str]) -> str:
        ex = ExerciseResult("tokenization", 10, [TestResult(f"t.py::test_{i}", "tokenization", 1.0, "passed",
                                                            hidden=hidden, expectations=source)
                                                 for i, (hidden, source) in enumerate(tests)])
        score(ex)
        console = Console(record=True, width=400)
        print_report(GradeResult("s", "tiny", "cpu", [ex]), console)
        return console.export_text().splitlines()[0].split("compared with: ")[1]

    assert header((False, "recorded"), (False, "")) == "recordings (tests/expectations)"
    assert header((False, "recorded"), (True, "recorded")) == "recordings (tests/expectations, and the hidden tests' own)"
    assert header((False, ""), (True, "recorded")) == "recordings (the hidden tests' own)"
    assert header((False, "recorded"), (False, "live (--expectations live)")) == \
        "live checks built from transformers (--expectations live)"
    assert header((False, "")) == "properties and transformers"


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
        z.extractall(root / "source")
    return root / "source"


def test_gradescope_zip_holds_the_recordings_and_no_reference(tmp_path):
    hidden = tmp_path / "hidden"
    (hidden / "expectations" / "tiny").mkdir(parents=True)
    (hidden / "test_hidden_x.py").write_text(HIDDEN_TEST)
    (hidden / "expectations" / "tiny" / "test_hidden_x.json").write_text("{}")
    for junk in (".git/config", "__pycache__/test_hidden_x.cpython-311.pyc"):
        (hidden / junk).parent.mkdir(exist_ok=True)
        (hidden / junk).write_text("not for the autograder")
    archive = tmp_path / "autograder.zip"
    subprocess.run([sys.executable, str(REPO / "gradescope" / "build_zip.py"), "--out", str(archive),
                    "--hidden", str(hidden)], check=True, capture_output=True)
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "source")
    recordings = {p.relative_to(REPO).as_posix() for p in (REPO / "tests" / "expectations").rglob("*") if p.is_file()}
    assert recordings and recordings <= names, recordings - names
    assert {"hidden_tests/test_hidden_x.py", "hidden_tests/expectations/tiny/test_hidden_x.json"} <= names
    assert not [n for n in names if n.startswith(("solutions/", "tests/kit/", "tests/wrong/", "tests/variants/",
                                                 "tests/adversarial/")) or ".git/" in n or "__pycache__" in n]
    # Its pyproject.toml lists only the packages it holds: `pip install -e` (what setup.sh runs) works.
    packages = re.search(r"(?m)^packages = \[(.*)\]", (tmp_path / "source" / "pyproject.toml").read_text())
    assert packages and "solutions" not in packages.group(1) and '"grader"' in packages.group(1)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-build-isolation",
                           "--no-index", "-e", str(tmp_path / "source")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Would install textgen-kit" in proc.stdout, proc.stderr[-2000:]


def test_gradescope_setup_updates_the_package_lists_first():
    commands = [line.split("#")[0].strip() for line in (REPO / "gradescope" / "setup.sh").read_text().splitlines()]
    apt = [c for c in commands if c.startswith("apt-get")]
    assert apt and apt[0] == "apt-get update" and any(c.startswith("apt-get install") for c in apt[1:]), apt


def run_autograder(source: Path, submission: Path, grader_args: str = "--model tiny --exercise tokenization",
                   **env_vars: str) -> dict:
    root = source.parent
    shutil.rmtree(root / "submission", ignore_errors=True)
    shutil.copytree(submission, root / "submission")
    proc = subprocess.run(["bash", str(source / "run_autograder")], cwd=root, capture_output=True, text=True,
                          env=autograder_env(root, grader_args, **env_vars), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text())


def autograder_env(root: Path, grader_args: str, **env_vars: str) -> dict:
    return {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
            "TEXTGEN_KIT_CACHE": str(cache_root()), "GRADER_ARGS": grader_args, **env_vars}


def hanging_submission(folder: Path, modules: tuple[str, ...]) -> Path:
    """The reference, with every public function of `modules` replaced by `while True: pass`."""
    submission_with(folder)
    for module in modules:
        path = folder / f"{module}.py"
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                node.body = ast.parse("while True:\n    pass").body
        path.write_text(ast.unparse(tree))
    return folder


def test_run_autograder_writes_the_results_after_the_submission_tried(autograder_source, tmp_path):
    # A correct tokenisation that, when imported, writes a perfect results.json where Gradescope reads it.
    submission = tmp_path / "upload"
    submission.mkdir()
    (submission / "tokenization.py").write_text(
        (SOLUTIONS_DIR / "tokenization.py").read_text() + "\n\n" +
        "import json as _json, os as _os\n"
        "_path = _os.path.join(_os.environ.get('AUTOGRADER_ROOT', '/autograder'), 'results', 'results.json')\n"
        "try:\n"
        "    _json.dump({'score': 1000, 'tests': []}, open(_path, 'w'))\n"
        "except OSError:  # read-only there, where the test process runs in namespaces (grader/sandbox.py)\n"
        "    pass\n")
    results = run_autograder(autograder_source, submission)
    check_documented(results)
    assert results["score"] == pytest.approx(10), "full marks in tokenization, the grader's own figure"
    hidden = [t for t in results["tests"] if t["visibility"] == "after_published"]
    assert len(hidden) == 2 and all(t["status"] == "passed" for t in hidden)


def test_options_built_into_the_zip_apply_to_every_grading(hidden_dir, tmp_path):
    """`make gradescope GRADER_ARGS="--hidden-visibility after_due_date"`: the course's policy is in the zip's
    run_autograder (Gradescope has no place to set it), beside GRADER_ARGS; the options run_autograder sets
    itself are refused in one line."""
    build = [sys.executable, str(REPO / "gradescope" / "build_zip.py"), "--out", str(tmp_path / "a.zip"),
             "--hidden", str(hidden_dir)]
    refused = subprocess.run(build + ["--grader-args", "--json x.json"], capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.startswith("error: --grader-args: run_autograder sets --json")
    subprocess.run(build + ["--grader-args", "--hidden-visibility after_due_date"], check=True, capture_output=True)
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        z.extractall(tmp_path / "root" / "source")
    submission = tmp_path / "upload"
    submission.mkdir()
    shutil.copy(SOLUTIONS_DIR / "tokenization.py", submission / "tokenization.py")
    results = run_autograder(tmp_path / "root" / "source", submission)
    hidden = [t for t in results["tests"] if "hidden test" in t["name"]]
    assert len(hidden) == 2 and {t["visibility"] for t in hidden} == {"after_due_date"}
    assert results["score"] == pytest.approx(10)


def test_run_autograder_scores_an_empty_upload_zero_with_a_reason(autograder_source, tmp_path):
    (tmp_path / "notes.txt").write_text("no code here")
    results = run_autograder(autograder_source, tmp_path)
    assert results["score"] == 0 and "could not grade" in results["output"] and "no .py files" in results["output"]
    check_documented(results)


# seconds: the test's stand-in for run_autograder's 480 (Gradescope's limit is 600); past the start-up
# of a tiny-model grading (about 6 s), so that the first test runs and is cut
DEADLINE = 15


def test_run_autograder_stops_at_the_deadline_and_still_writes_results(autograder_source, tmp_path):
    # Every tokenization and next_token function hangs (whichever exercise starts first); each test's
    # own limit (60 s) is past the deadline. Without the deadline this takes minutes (tests at the
    # limit, one after the other); with it, results.json holds every test, those not graded failed
    # with the reason, DEADLINE s after grading started.
    submission = hanging_submission(tmp_path / "hangs", ("tokenization", "next_token"))
    start = time.monotonic()
    results = run_autograder(autograder_source, submission, GRADING_DEADLINE=str(DEADLINE), GRADER_ARGS=(
        "--model tiny --exercise tokenization --exercise next_token --jobs 1"))
    seconds = time.monotonic() - start
    print(f"run_autograder with a {DEADLINE} s deadline: {seconds:.1f} s")
    assert DEADLINE <= seconds < DEADLINE + 25, seconds
    check_documented(results)
    assert results["score"] == 0 and "the grading time budget ran out" in results["output"]
    by_exercise = {name: [t for t in results["tests"] if t["tags"] == [name]] for name in ("tokenization", "next_token")}
    assert len(by_exercise["tokenization"]) > 20 and len(by_exercise["next_token"]) > 10, "every test is listed"
    # one test process at a time, the longer exercise first (grader/run.py): the other never started
    first, second = sorted(by_exercise, key=lambda name: -TYPICAL_SECONDS[name])
    assert {t["output"] for t in by_exercise[second]} == {OUT_OF_TIME}, "never started"
    cut = {t["output"] for t in by_exercise[first]}
    assert cut <= {OUT_OF_TIME, CUT_BY_DEADLINE}
    assert all(t["status"] == "failed" for t in results["tests"])


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process under `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                command = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            found.append((child, command))
            todo.append(child)
    return found


def _test_process_started(pid: int) -> bool:
    commands = [command for _, command in _descendants(pid)]
    # a spawned test process runs grader.child; a forked one keeps the worker's command line
    return any("grader.child" in c for c in commands) or sum("grader.worker" in c for c in commands) >= 2


def _processes_with(variable: str) -> list[int]:
    """The processes whose environment holds `variable` (NAME=value)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if variable.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the grading processes in /proc")
def test_run_autograder_writes_results_within_seconds_of_a_sigterm(autograder_source, tmp_path):
    submission = hanging_submission(tmp_path / "hangs", ("tokenization",))
    root = autograder_source.parent
    shutil.rmtree(root / "submission", ignore_errors=True)
    shutil.copytree(submission, root / "submission")
    (root / "results" / "results.json").unlink(missing_ok=True)
    script = subprocess.Popen(["bash", str(autograder_source / "run_autograder")], cwd=root,
                              env=autograder_env(root, "--model tiny --exercise tokenization --jobs 1"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Once a test process runs (a forked one has its worker's command line, a spawned one its
        # own) and has had time to start the first, hanging test, Gradescope's SIGTERM arrives.
        stop_waiting = time.monotonic() + 300
        while not _test_process_started(script.pid):
            assert time.monotonic() < stop_waiting and script.poll() is None, "no test process started"
            time.sleep(0.5)
        time.sleep(5)
        sent = time.monotonic()
        script.send_signal(signal.SIGTERM)
        assert script.wait(timeout=60) == 0
        seconds = time.monotonic() - sent
    finally:
        if script.poll() is None:
            script.kill()
    print(f"run_autograder ended {seconds:.1f} s after SIGTERM")
    assert seconds < 20
    results = json.loads((root / "results" / "results.json").read_text())
    check_documented(results)
    outputs = [t["output"] for t in results["tests"] if t["tags"] == ["tokenization"]]
    assert len(outputs) > 20 and OUT_OF_TIME in outputs and set(outputs) <= {OUT_OF_TIME, CUT_BY_DEADLINE}
    assert not _processes_with(f"AUTOGRADER_ROOT={root}"), "a grading process outlived run_autograder"


# ----------------------------------------------------------------------------------------------
# The CI recipes in examples/

CLASSROOM = REPO / "examples" / "github-classroom"


def classroom_workflow() -> dict:
    import yaml

    return yaml.safe_load((CLASSROOM / "classroom.yml").read_text())


def reporter(env: dict, runners: str) -> dict:
    """What classroom-resources/autograding-grading-reporter@v1 shows and records, re-implemented
    from its source (github.com/classroom-resources/autograding-grading-reporter at 43c2d9f):

    - src/main.js: each id of the `runners` input (split on ",") names the environment variable
      `${runner.trim().toUpperCase()}_RESULTS`, whose value is base64 of the results JSON;
    - src/helpers/test-helpers.js, getTestScore: a runner's score is
      (tests with status "pass" / all its tests) * (max_score || 0);
    - src/console-results.js: "Total points for <runner>: <score.toFixed(2)>/<max_score>", printed
      when max_score != 0; src/aggregate-results.js: the summary table, whose "Total" row is the sum
      of those scores over the sum of max_score;
    - src/notify-classroom.js: what GitHub Classroom records, "Points <total>/<max>": the sum of
      every test's `score` over the sum of max_score, runners whose max_score is 0 left out.
    """
    decoded = []
    for runner in runners.split(","):
        encoded = env[f"{runner.strip().upper()}_RESULTS"]
        decoded.append((runner, json.loads(base64.b64decode(encoded).decode("utf-8"))))
    console, table = [], [0, 0]
    for runner, results in decoded:
        max_score = results["max_score"] or 0
        score = sum(t["status"] == "pass" for t in results["tests"]) / len(results["tests"]) * max_score
        if max_score != 0:
            console.append(f"Total points for {runner}: {score:.2f}/{max_score:g}")
        table[0] += score
        table[1] += max_score
    recorded = [0, 0]
    for runner, results in decoded:
        if results["max_score"]:
            recorded[1] += results["max_score"]
            for test in results["tests"]:
                recorded[0] += test["score"]
    return {"console": console, "table": tuple(table), "recorded": tuple(recorded),
            "names": [t["name"] for _, results in decoded for t in results["tests"]]}


def github_output(path: Path) -> dict:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def reporter_of(results: dict, tmp_path: Path) -> dict:
    """classroom_result.py on `results` (a results.json), its output fed to the reporter as the
    workflow feeds it: each <RUNNER>_RESULTS variable set from the grade step's outputs."""
    (tmp_path / "results.json").write_text(json.dumps(results))
    proc = subprocess.run([sys.executable, str(CLASSROOM / "classroom_result.py"), str(tmp_path / "results.json")],
                          capture_output=True, text=True, check=True)
    (tmp_path / "github_output").write_text(proc.stdout)
    return reporter(reporter_env(github_output(tmp_path / "github_output")), reporter_step()["with"]["runners"])


def reporter_step() -> dict:
    (job,) = classroom_workflow()["jobs"].values()
    return next(s for s in job["steps"] if s.get("uses", "").startswith("classroom-resources/autograding-grading-reporter@"))


def reporter_env(outputs: dict) -> dict:
    """The reporter step's env, with ${{ steps.grade.outputs.NAME }} replaced by the grade step's outputs."""
    return {key: re.sub(r"\$\{\{\s*steps\.grade\.outputs\.(\w+)\s*\}\}", lambda m: outputs[m.group(1)], value)
            for key, value in reporter_step()["env"].items()}


def graded_result(exercises: dict) -> dict:
    """results.json of a GradeResult built from {exercise: [(weight, passed), ...]}."""
    found = []
    for name, tests in exercises.items():
        ex = ExerciseResult(name=name, share=SHARES[name], tests=[
            TestResult(nodeid=f"tests/test_{name}.py::test_{i}", exercise=name, weight=w,
                       outcome="passed" if ok else "failed", message="" if ok else "wrong")
            for i, (w, ok) in enumerate(tests)])
        score(ex)
        found.append(ex)
    return gradescope(GradeResult(submission="s", model="tiny", device="cpu", exercises=found))


def assert_reporter_shows_the_grade(shown: dict, results: dict) -> None:
    grade, possible = results["score"], sum(ex["max_score"] for ex in results["extra_data"]["exercises"].values())
    assert shown["recorded"][0] == pytest.approx(grade, abs=1e-3), "what GitHub Classroom records"
    assert shown["recorded"][1] == pytest.approx(possible)
    assert shown["table"] == pytest.approx(shown["recorded"], abs=1e-9), "the console's total is the recorded grade"
    assert f"{shown['table'][0]:.2f}" == f"{grade:.2f}"


# Unequal weights, partial credit, an exercise with everything right and one with everything wrong.
MIXED = {"tokenization": [(4, True), (1, True), (2, True)],
         "next_token": [(4, True), (1, False), (3, True), (0.5, False)],
         "sampling": [(3, False), (1, True), (1, True), (2, True), (2, True)],
         "decoding": [(1, False), (2, False), (3, False)],
         "logprobs": [(2, True), (1, False)]}


@pytest.mark.parametrize("case", ["mixed", "full marks", "nothing"])
def test_classroom_reporter_shows_and_records_the_grade(case, tmp_path):
    exercises = {"mixed": MIXED,
                 "full marks": {name: [(w, True) for w, _ in tests] for name, tests in MIXED.items()},
                 "nothing": {name: [(w, False) for w, _ in tests] for name, tests in MIXED.items()}}[case]
    results = graded_result(exercises)
    shown = reporter_of(results, tmp_path)
    assert_reporter_shows_the_grade(shown, results)
    possible = sum(SHARES[name] for name in exercises)
    want = sum(SHARES[name] * sum(w for w, ok in tests if ok) / sum(w for w, _ in tests)
               for name, tests in exercises.items())
    assert results["score"] == pytest.approx(want, abs=1e-3)
    assert {"mixed": 0 < want < possible, "full marks": want == possible, "nothing": want == 0}[case]
    if case == "mixed":
        assert shown["console"] == [f"Total points for earned: {want:.2f}/{shown['recorded'][0]:g}",
                                    f"Total points for missed: 0.00/{round(possible - shown['recorded'][0], 4):g}"]
        decoding = SHARES["decoding"]
        assert any(n.startswith(f"decoding: {decoding:g} of {decoding:g} points missed") for n in shown["names"])


def test_classroom_reporter_never_names_a_hidden_test(graded, tmp_path):
    results = gradescope(graded)
    assert any(t["visibility"] != "visible" for t in results["tests"])
    shown = reporter_of(results, tmp_path)
    assert_reporter_shows_the_grade(shown, results)
    assert not [n for n in shown["names"] if "hidden" in n or "Seen by nobody" in n]


def run_grade_step(release: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """The workflow's grade step, as GitHub Actions runs it (bash -e), in `release`."""
    (job,) = classroom_workflow()["jobs"].values()
    step = next(s for s in job["steps"] if s.get("id") == "grade")
    (release / ".github").mkdir(parents=True, exist_ok=True)
    shutil.copy(CLASSROOM / "classroom_result.py", release / ".github" / "classroom_result.py")
    output, runner_temp = tmp_path / "github_output", tmp_path / "runner_temp"
    output.write_text("")
    (runner_temp / "grading").mkdir(parents=True, exist_ok=True)
    (runner_temp / "grading" / "results.json").write_text(json.dumps({"score": 100}))  # a previous run's file
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=release, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(runner_temp)})
    return proc, reporter(reporter_env(github_output(output)), reporter_step()["with"]["runners"])


@pytest.mark.parametrize("case", ["no code submitted", "set-up failed"])
def test_classroom_records_zero_with_the_reason_when_grading_cannot_run(case, tmp_path):
    release = tmp_path / "student-repo"
    (release / "exercises").mkdir(parents=True)
    (release / "exercises" / "notes.txt").write_text("no code here")
    (release / "results.json").write_text(json.dumps({"score": 100}))  # committed by the student: never read
    if case == "no code submitted":  # the release's environment: this kit's
        (release / ".venv" / "bin").mkdir(parents=True)
        (release / ".venv" / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        (release / ".venv" / "bin" / "python").chmod(0o755)
    proc, shown = run_grade_step(release, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shown["recorded"] == (0, TOTAL) and shown["table"] == (0, TOTAL)
    assert shown["console"] == [f"Total points for missed: 0.00/{TOTAL}"]
    why = {"no code submitted": "no .py files", "set-up failed": "could not be set up"}[case]
    assert [n for n in shown["names"] if n.startswith("not graded: ") and why in n], shown["names"]


def test_classroom_workflow_follows_github_classroom():
    text = (CLASSROOM / "classroom.yml").read_text()
    workflow = classroom_workflow()
    assert workflow["name"] == "Autograding Tests"
    assert list(workflow["jobs"]) == ["run-autograding-tests"]  # the job id of Classroom's own workflow
    job = workflow["jobs"]["run-autograding-tests"]
    assert "name" not in job, "GitHub Classroom's generated job has no name: the check run is named by its id"
    assert "token:" not in text and "secrets." not in text, "nothing private: the release grades itself"
    steps = job["steps"]
    assert not [s for s in steps if s.get("uses", "").startswith("actions/checkout") and s.get("with")], \
        "only the student's repository is checked out"
    grade_step = next(s for s in steps if s.get("id") == "grade")
    assert grade_step.get("if") == "always()" and reporter_step().get("if") == "always()"
    assert "python -m grader --submission exercises" in grade_step["run"] and "--deadline" in grade_step["run"]
    assert "make setup" in " ".join(s.get("run", "") for s in steps)
    # Each runner id's variable, as the reporter spells it, is set from the grade step's output.
    runners = reporter_step()["with"]["runners"].split(",")
    env = reporter_step()["env"]
    assert sorted(env) == sorted(f"{r.strip().upper()}_RESULTS" for r in runners)
    assert {m for v in env.values() for m in re.findall(r"steps\.grade\.outputs\.(\w+)", v)} == set(runners)
    # Nothing a student can download names or describes a hidden test: only the JUnit XML is kept.
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and all(s["with"]["path"].strip().endswith("junit.xml") for s in uploads)


def test_batch_workflow_shards_then_merges():
    import yaml

    workflow = yaml.safe_load((REPO / "examples" / "batch-grading" / "batch-grading.yml").read_text())
    grade_job, merge_job = workflow["jobs"]["grade"], workflow["jobs"]["merge"]
    shards = grade_job["strategy"]["matrix"]["shard"]
    commands = " ".join(step.get("run", "") for step in grade_job["steps"])
    assert f"--shard ${{{{ matrix.shard }}}}/{len(shards)}" in commands and "python -m grader batch" in commands
    assert merge_job["needs"] == "grade"
    assert merge_job["if"] == "always()", "a failed shard must not cancel the merge"
    merge_step = next(step for step in merge_job["steps"] if "python -m grader merge" in step.get("run", ""))
    assert f"--expect-shards {len(shards)}" in merge_step["run"]
    download = next(step for step in merge_job["steps"] if step.get("uses", "").startswith("actions/download-artifact"))
    assert download.get("continue-on-error") is True and download["with"]["pattern"] == "shard-*"
    upload = next(step for step in merge_job["steps"] if step.get("uses", "").startswith("actions/upload-artifact"))
    assert upload.get("if") == "always()", "the merged CSV is kept even when shards are missing"


def test_batch_workflow_merges_what_exists_when_a_shard_failed(tmp_path):
    import yaml

    workflow = yaml.safe_load((REPO / "examples" / "batch-grading" / "batch-grading.yml").read_text())
    merge_step = next(step for step in workflow["jobs"]["merge"]["steps"] if "grader merge" in step.get("run", ""))
    header = "submission,total," + ",".join(SHARES) + "\n"
    for k, student in ((1, "ada"), (2, "bob"), (4, "dan")):  # shard 3 failed: no artifact
        (tmp_path / "shards" / f"shard-{k}").mkdir(parents=True)
        (tmp_path / "shards" / f"shard-{k}" / "grades.csv").write_text(header + f"{student},7,7" + "," * (len(SHARES) - 1) + "\n")
        (tmp_path / "shards" / f"shard-{k}" / f"{student}.json").write_text("{}")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run(["bash", "-e", "-c", merge_step["run"]], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, "the job fails, so that the missing shard is noticed"
    assert proc.stderr.splitlines() == [
        "missing: shard 3 of 4 (no shard-3/ CSV among the inputs): its students are not in class/grades.csv"]
    assert [line.split(",")[0] for line in (tmp_path / "class" / "grades.csv").read_text().splitlines()] == [
        "submission", "ada", "bob", "dan"]
    assert sorted(p.name for p in (tmp_path / "class").glob("*.json")) == ["ada.json", "bob.json", "dan.json"]


# ----------------------------------------------------------------------------------------------
# make setup: which torch build

def run_make_setup(tmp_path: Path, gpu: bool, fails: str = "", **variables: str) -> tuple[int, list[str], str]:
    """`make setup` with stand-ins for python, pip, uname and nvidia-smi: the pip commands it runs.
    A pip command containing one of the words of `fails` fails (the wheel or index is out of reach)."""
    bin_dir, venv, log = tmp_path / "bin", tmp_path / "venv", tmp_path / "pip.log"
    bin_dir.mkdir(exist_ok=True)
    shutil.rmtree(venv, ignore_errors=True)
    log.write_text("")
    scripts = {
        "uname": "echo Linux",
        "nvidia-smi": "exit 0" if gpu else "exit 9",
        # the interpreter that creates the venv, whose python logs each pip command
        "python3": f'mkdir -p "$3/bin"; printf \'%s\\n\' \'#!/bin/sh\' \'echo "$*" >> {log}\' '
                   f'\'for w in $FAILS; do case "$*" in *"$w"*) exit 1;; esac; done\' > "$3/bin/python"; '
                   f'chmod +x "$3/bin/python"',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "setup", f"VENV={venv}",
                           f"PYTHON={bin_dir / 'python3'}", *(f"{k}={v}" for k, v in variables.items())],
                          env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAILS": fails},
                          capture_output=True, text=True, timeout=120)
    torch_commands = [line for line in log.read_text().splitlines() if "torch" in line]
    return proc.returncode, torch_commands, proc.stdout + proc.stderr


CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_setup_installs_the_cpu_build_of_torch_without_a_gpu(tmp_path):
    # Here: the CPU wheel on this disk (torch==2.13.0+cpu), nothing else.
    code, commands, _ = run_make_setup(tmp_path, gpu=False)
    assert code == 0 and commands == ["-m pip install --quiet torch==2.13.0+cpu"]
    # A CI runner: no such wheel at hand, PyTorch's CPU index; never PyPI's (CUDA) build.
    code, commands, _ = run_make_setup(tmp_path, gpu=False, fails="+cpu")
    assert code == 0 and commands[1:] == [f"-m pip install --quiet torch==2.13.0 {CPU_INDEX}"]
    code, commands, _ = run_make_setup(tmp_path, gpu=False, fails="+cpu torch==2.13.0")
    assert code == 0 and commands[-1] == f"-m pip install --quiet torch>=2.4,<2.15 {CPU_INDEX}"
    # The CPU index out of reach: PyPI's build rather than no torch at all, and it says so.
    code, commands, output = run_make_setup(tmp_path, gpu=False, fails="+cpu download.pytorch.org")
    assert code == 0 and commands[-1] == "-m pip install --quiet torch==2.13.0" and "out of reach" in output


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_setup_installs_pypis_cuda_build_with_a_gpu_or_when_asked(tmp_path):
    for gpu, variables in ((True, {}), (False, {"TORCH_BUILD": "cuda"})):
        code, commands, _ = run_make_setup(tmp_path, gpu=gpu, **variables)
        assert code == 0 and commands == ["-m pip install --quiet torch==2.13.0"], (gpu, commands)
    code, commands, _ = run_make_setup(tmp_path, gpu=True, TORCH_BUILD="cpu")
    assert code == 0 and commands == ["-m pip install --quiet torch==2.13.0+cpu"]
    code, commands, output = run_make_setup(tmp_path, gpu=False, TORCH_BUILD="rocm")
    assert code != 0 and not commands and "TORCH_BUILD must be auto, cpu or cuda, got 'rocm'" in output


def test_what_to_fix_groups_one_test_function_with_one_hint_whatever_its_inputs(capsys):
    """Seven texts, one mistake: one entry "(+6 more)" under the first message, not seven (the
    messages differ only in the input they show); another hint of the same function, and another
    function, stay entries of their own."""
    hint = " - hint: return tokenizer(text)['input_ids'] as it is"
    messages = [(f"test_encode_matches_tokenizer[default-{i}]", f"encode({i!r}): expected [1], got [1, 2]{hint}")
                for i in range(7)]
    messages += [("test_encode_matches_tokenizer[default-7]", "encode('x'): expected a list - hint: return a plain list"),
                 ("test_decode_roundtrip[default-0]", f"decode([1]): expected 'a', got 'b'{hint}")]
    ex = ExerciseResult(name="tokenization", share=10, tests=[
        TestResult(nodeid=f"tests/test_tokenization.py::{name}", exercise="tokenization", weight=1, outcome="failed",
                   message=message) for name, message in messages])
    groups = ex.to_fix()
    assert [(m, len(tests)) for m, tests in groups.items()] == [
        (messages[0][1], 7), (messages[7][1], 1), (messages[8][1], 1)]
    score(ex)
    print_report(GradeResult(submission="exercises", model="tiny", device="cpu", exercises=[ex]))
    out = capsys.readouterr().out
    assert out.count("test_encode_matches_tokenizer") == 2 and "(+6 more)" in out
