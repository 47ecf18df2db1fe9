"""Recorded expectations (grader/expectations.py): every recording belongs to a graded test, a
stale recording fails `make test` with one line, grading uses the recordings, the live checks
grade the reference full marks where no recording applies, and a test with neither leaves its
exercise's total."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.expectations import COMMON, FOLDER, key_of
from grader.models import BUILT_IN
from grader.points import TOTAL
from grader.run import grade
from grader.submission import REPO, SOLUTIONS_DIR

pytestmark = pytest.mark.kit

TESTS = REPO / "tests"
RECORDINGS = TESTS / FOLDER
KIT_MODELS = BUILT_IN  # the kit's own models, recorded by `make expectations`


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """Plain pytest with the kit's plugin on test files outside the kit (a copy, or hidden tests)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "grader.plugin", "-c", str(REPO / "pyproject.toml"),
                           f"--rootdir={folder}", "-q", "--device", "cpu", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


def test_every_recording_belongs_to_a_graded_test():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "points",
                           "--ignore", str(TESTS / "kit"), "--submission", str(SOLUTIONS_DIR),
                           "--model", ",".join(KIT_MODELS), str(TESTS)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    collected = {line for line in proc.stdout.splitlines() if "::" in line}
    assert len(collected) > 100, proc.stdout[-1000:]
    keys = set()
    for nodeid in collected:
        file, _, name = nodeid.partition("::")
        model = next((m for m in KIT_MODELS if f"[{m}" in name), None)
        keys.add((Path(file).stem, model, key_of(type("Item", (), {"name": name}), model)))
    for folder in [*KIT_MODELS, COMMON]:
        files = sorted((RECORDINGS / folder).glob("test_*.json"))
        assert files, f"no recordings for {folder}: run make expectations"
        for path in files:
            data = json.loads(path.read_text())
            assert data["header"]["device"] == "cpu" and data["header"]["versions"]["torch"]
            model = None if folder == COMMON else folder
            unknown = [key for key in data["tests"] if (path.stem, model, key) not in keys]
            assert not unknown, f"{path}: recordings of tests that do not exist (run make expectations): {unknown}"


@pytest.fixture
def copied_tests(tmp_path) -> Path:
    """A copy of the tokenisation tests and their tiny-model recordings."""
    folder = tmp_path / "tests"
    folder.mkdir()
    for name in ("test_tokenization.py", "checks.py", "counting.py"):
        shutil.copy(TESTS / name, folder / name)
    (folder / FOLDER / "tiny").mkdir(parents=True)
    shutil.copy(RECORDINGS / "tiny" / "test_tokenization.json", folder / FOLDER / "tiny")
    return folder


def alter_batch_recording(folder: Path) -> None:
    """Put another pad id in the recorded batch of test_batch_encode_matches_reference."""
    path = folder / FOLDER / "tiny" / "test_tokenization.json"
    data = json.loads(path.read_text())
    (batch,) = data["tests"]["test_batch_encode_matches_reference"]
    ids = batch["dict"]["input_ids"]["values"]
    ids[0][0] += 1
    path.write_text(json.dumps(data))


def test_a_stale_recording_fails_make_test_with_one_line(copied_tests):
    select = ("-k", "batch_encode_matches_reference", "--model", "tiny")
    proc = pytest_in(copied_tests, str(copied_tests / "test_tokenization.py"), "--submission", str(SOLUTIONS_DIR), *select)
    assert proc.returncode == 0, proc.stdout[-2000:]  # the copy as it is: the reference matches it

    alter_batch_recording(copied_tests)
    proc = pytest_in(copied_tests, str(copied_tests / "test_tokenization.py"), "--submission", str(SOLUTIONS_DIR), *select)
    assert proc.returncode == 1
    assert ("recording stale: value 1 of test_batch_encode_matches_reference in" in proc.stdout
            and "differs from the reference's: run make expectations" in proc.stdout), proc.stdout[-2000:]

    # what grading does: compare with the (altered) recording, so the reference now fails there
    proc = pytest_in(copied_tests, str(copied_tests / "test_tokenization.py"), "--submission", str(SOLUTIONS_DIR),
                     "--expectations", "recorded", *select)
    assert proc.returncode == 1 and "batch_encode" in proc.stdout

    (copied_tests / FOLDER / "tiny" / "test_tokenization.json").unlink()
    proc = pytest_in(copied_tests, str(copied_tests / "test_tokenization.py"), "--submission", str(SOLUTIONS_DIR), *select)
    assert proc.returncode == 1 and "recording stale: no recording for model tiny" in proc.stdout, proc.stdout[-2000:]


def test_live_checks_grade_the_reference_full_marks():
    """Where no recording applies (another model, CUDA), transformers' own pieces stand in; they
    agree with the reference (on the tiny model here, so that this runs in seconds)."""
    result = grade(SOLUTIONS_DIR, model="tiny", device="cpu", jobs=2, expectations="live")
    failed = [(t.nodeid, t.message) for e in result.exercises for t in e.tests if t.outcome != "passed"]
    assert not failed and result.total == pytest.approx(TOTAL)
    sources = {t.expectations for e in result.exercises for t in e.tests if t.expectations}
    assert sources == {"live (--expectations live)"}


HIDDEN = '''
import pytest

from checks import expect_equal

pytestmark = pytest.mark.tokenization


@pytest.mark.points(5)
def test_hidden_compares_with_the_reference_only(impl, expected, tokenizer):
    want = expected(lambda ref: ref.tokenization.encode(tokenizer, "Seen by nobody"))
    expect_equal(impl.tokenization.encode(tokenizer, "Seen by nobody"), want, "encode('Seen by nobody')")
'''


def test_a_test_with_no_recording_and_no_live_check_leaves_the_total(tmp_path):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_hidden_tokens.py").write_text(HIDDEN)
    result = grade(SOLUTIONS_DIR, model="tiny", device="cpu", exercises=["tokenization"], extra_tests=hidden)
    ex = result.exercise("tokenization")
    (skipped,) = [t for t in ex.tests if t.hidden]
    assert skipped.outcome == "skipped" and "no live check" in skipped.message and skipped.max_score == 0
    assert ex.earned == pytest.approx(ex.share), "the other tests share the exercise's points"
    assert "1 test(s) not graded here" in ex.note and "left out" in ex.note

    # recorded for the tiny model (what `python -m grader record --extra-tests` does), it is graded
    proc = pytest_in(hidden, str(hidden), "--submission", str(SOLUTIONS_DIR), "--model", "tiny",
                     "--expectations", "record")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (hidden / FOLDER / "tiny" / "test_hidden_tokens.json").exists()
    result = grade(SOLUTIONS_DIR, model="tiny", device="cpu", exercises=["tokenization"], extra_tests=hidden)
    (graded,) = [t for t in result.exercise("tokenization").tests if t.hidden]
    assert graded.outcome == "passed" and graded.expectations == "recorded"


# ----------------------------------------------------------------------------------------------
# Re-recording is deterministic and rewrites nothing that did not change (issue 23, point 7)

def test_recording_again_keeps_values_within_tolerance_and_writes_only_changed_files(tmp_path):
    """Recordings.write: a value equal within its tolerance keeps its recorded bits, a file whose
    text is unchanged is not written, a value that really changed is written."""
    import torch

    from grader.devices import Tolerance
    from grader.expectations import Recordings

    test_file = tmp_path / "test_x.py"
    tol = Tolerance(atol=1e-5, rtol=1e-4)
    probs = torch.tensor([0.10766078531742096, 0.2, 0.3])

    def record(values) -> tuple[Recordings, list[Path]]:
        recordings = Recordings("record", under_grader=False, submission_is_reference=True)
        for value in values:
            recordings.add(test_file, None, "test_probs", value, tol)
        recordings.add(test_file, None, "test_ids", [1, 2, 3])
        return recordings, recordings.write()

    _, written = record([probs])
    (path,) = written
    first = path.read_text()
    stamp = path.stat().st_mtime_ns

    # last-bit noise, as between two kernels: the recorded bits stay, the file is not touched
    _, written = record([probs + torch.tensor([1.6e-7, 0.0, 0.0])])
    assert written == [] and path.read_text() == first and path.stat().st_mtime_ns == stamp

    # a real change: written
    _, written = record([probs + torch.tensor([0.01, 0.0, 0.0])])
    assert written == [path] and path.read_text() != first
    assert json.loads(path.read_text())["tests"]["test_probs"][0]["values"][0] == pytest.approx(0.11766078)


HIDDEN_SAMPLING = '''
import pytest
import torch

from checks import expect_close

pytestmark = pytest.mark.next_token


@pytest.mark.points(1)
def test_hidden_next_token_other_prompt(impl, expected, model, tokenizer, tol):
    torch.set_num_threads(2)  # a test that changes the thread count must not move later recordings
    want = expected(lambda ref: ref.next_token.next_token_probs(model, tokenizer, "Seen by nobody at all"),
                    tol=tol.prob)
    expect_close(impl.next_token.next_token_probs(model, tokenizer, "Seen by nobody at all"), want, tol.prob,
                 "next_token_probs")
'''


def test_recording_with_hidden_tests_rewrites_no_committed_recording(tmp_path):
    """`make expectations HIDDEN=hidden/` on the tiny model, in a copy of the kit's tests with the
    committed recordings: the kit's recordings stay bit for bit (not even rewritten), whatever the
    hidden tests do before them; recording again rewrites nothing at all."""
    tests = tmp_path / "tests"
    tests.mkdir()
    for path in TESTS.glob("*.py"):
        shutil.copy(path, tests / path.name)
    for folder in ("tiny", COMMON):
        shutil.copytree(RECORDINGS / folder, tests / FOLDER / folder)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    # named to run first (collected before test_beam_search...): it changes the thread count
    (hidden / "test_hidden_a_next_token.py").write_text(HIDDEN_SAMPLING)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tests / FOLDER).rglob("*.json")}

    def record_tiny() -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(REPO)]), "HF_HUB_OFFLINE": "1"}
        return subprocess.run([sys.executable, "-m", "pytest", str(hidden), str(tests), "--noconftest",
                               "-p", "grader.plugin", "-c", str(REPO / "pyproject.toml"), f"--rootdir={REPO}",
                               "-p", "no:cacheprovider", "-m", "points", "-q", f"--submission={SOLUTIONS_DIR}",
                               "--model=tiny", "--device=cpu", "--expectations=record"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    proc = record_tiny()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wrote = [line for line in proc.stderr.splitlines() if line.startswith("wrote ")]
    assert wrote == [f"wrote {hidden / FOLDER / 'tiny' / 'test_hidden_a_next_token.json'}"], proc.stderr[-2000:]
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tests / FOLDER).rglob("*.json")}
    assert after == before, "a committed recording was rewritten"

    hidden_file = hidden / FOLDER / "tiny" / "test_hidden_a_next_token.json"
    stamp = hidden_file.stat().st_mtime_ns
    proc = record_tiny()
    assert proc.returncode == 0 and "wrote " not in proc.stderr, proc.stderr[-2000:]
    assert hidden_file.stat().st_mtime_ns == stamp
