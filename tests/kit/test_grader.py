"""The grader end to end: untouched stubs score zero cleanly, the reference scores full marks,
bad options are one line, --min-score fails CI."""
import subprocess
import sys

import pytest

from grader.points import EXERCISES, TOTAL
from grader.run import grade
from grader.submission import EXERCISES_DIR, REPO, SOLUTIONS_DIR

pytestmark = pytest.mark.kit


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def stubs_cli():
    return run_cli("--submission", str(EXERCISES_DIR), "--model", "tiny", "--device", "cpu", "--jobs", "2")


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
    (["--device", "tpu"], "unknown device"),
    (["--submission", "no/such/folder"], "does not exist"),
])
def test_bad_options_are_one_line_and_exit_2(args, says):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and says in proc.stderr
    assert proc.stderr.startswith("error: ")
