"""The grader holds against submissions that crash, hang, hoard memory, print, or try to change
their score (tests/adversarial/, see its README): each one must get exactly the score stated here,
and grading always completes. All of them are graded at once, with one exercise each (fast)."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from make_submission import case_files, submission_with

from grader.run import grade_many

pytestmark = pytest.mark.kit

HERE = Path(__file__).resolve().parent.parent
ADVERSARIAL = HERE / "adversarial"
EXERCISE = "tokenization"
TIMEOUT = 10  # seconds per test: short, so that the hanging submissions cost little time here
MEMORY_GB = 1  # the address space a test process may add (runaway_memory reserves up to 3 GB)

ALL = None  # the whole exercise is lost
BATCH = ("test_batch_encode", "test_tokenizer_not_changed")  # the tests that call batch_encode
TWO_TEXTS = ("test_batch_encode_pad_is_eos_without_pad_token",)  # the one test with ['The movie was full of', 'Hi']
FIVE_TEXTS = ("test_batch_encode_matches_reference",)  # the one test with five texts


@dataclass(frozen=True)
class Expect:
    lose: tuple[str, ...] | None  # test functions (name prefixes) that fail; ALL: every test; (): none
    says: str = ""  # what each lost test's message (or the exercise's note) says


CASES = {
    "prints_and_warns": Expect(lose=()),
    "raises_at_import": Expect(ALL, "could not import tokenization.py"),
    "sys_exit_at_import": Expect(ALL, "SystemExit"),
    "os_exit_at_import": Expect(ALL, "the test process"),
    "sys_exit_in_function": Expect(BATCH, "SystemExit"),
    "os_exit_in_function": Expect(BATCH, "exit code 7"),
    "segfault_in_function": Expect(BATCH, "SIGSEGV"),
    "ctypes_null_read": Expect(BATCH, "raw memory"),
    "infinite_loop": Expect(TWO_TEXTS, "took too long"),
    "loops_at_import": Expect(ALL, "took too long"),
    "loop_ignores_timeout": Expect(TWO_TEXTS, "the grader stopped it"),
    "runaway_memory": Expect(FIVE_TEXTS, "MemoryError"),
    "writes_results_files": Expect(ALL, "not implemented"),
    "forges_results_channel": Expect(ALL, "did not sign"),
    "patches_checks": Expect(ALL, "replaced"),
    "patches_torch": Expect(ALL, "replaced torch"),
    "patches_recordings": Expect(ALL, "replaced grader.expectations.Expected.__call__"),
    "patches_pytest_runner": Expect(ALL, "replaced _pytest.runner.CallInfo.from_call"),
    "registers_pytest_plugin": Expect(ALL, "pytest's plugins or hooks"),
    "hunts_key_with_gc": Expect(ALL, "grader's memory"),
    "kills_grader": Expect(ALL, "signal to another process"),
    "disables_timeout_with_settrace": Expect(ALL, "trace function"),
    "ships_kit_files": Expect(ALL, "not implemented"),
    "imports_reference": Expect(ALL, "imports the reference solutions"),
    # The reference is never loaded in the grading process, nor readable from the submission.
    "borrows_reference_from_sys_modules": Expect(ALL, "KeyError"),
    "imports_reference_by_computed_name": Expect(ALL, "open the kit's file"),
    "reads_reference_source": Expect(ALL, "open the kit's file"),
    "loads_reference_with_ctypes": Expect(ALL, "load a C library"),
    # What the guard compares with, its own check, the report's encoder, what the audit hook uses.
    "blinds_guard_with_operator": Expect(ALL, "replaced operator.is_not"),
    "blinds_guard_with_builtins": Expect(ALL, "replaced builtins.any"),
    "replaces_guard_check": Expect(ALL, "added grader.guard.Guard.check"),
    "rewrites_report_encoder": Expect(ALL, "replaced json.encoder.JSONEncoder.encode"),
    "blinds_audit_hook_for_a_moment": Expect(ALL, "open the kit's file"),
    # Terminal escapes, NUL and lone surrogates in its messages: every report escapes them
    # (tests/kit/test_reports_escape.py checks each format).
    "paints_fake_scores": Expect(ALL),
    # Correct code whose import leaves detached processes behind (test_no_process_outlives_its_test).
    "outlives_the_test": Expect(lose=()),
}
DETERMINISM = HERE / "wrong" / "tokenization" / "right_padding.py"


def build(case: Path, dest: Path) -> Path:
    """The reference solutions with the case's files in place of theirs (tests/kit/make_submission.py)."""
    return submission_with(dest, case_files(case), borrow=EXERCISE)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("adversarial")
    folders = {name: build(ADVERSARIAL / name, root / name) for name in CASES}
    for copy in ("determinism_1", "determinism_2"):  # one known-wrong implementation, graded twice
        folders[copy] = submission_with(root / copy, {"tokenization.py": DETERMINISM}, borrow=EXERCISE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTGEN_KIT_STRAY_MARKER", str(root / "stray.log"))  # where outlives_the_test writes
        results = grade_many(list(folders.values()), model="tiny", device="cpu", exercises=[EXERCISE],
                             timeout=TIMEOUT, memory_gb=MEMORY_GB, jobs=2)
    graded = {name: result.exercise(EXERCISE) for name, result in zip(folders, results)}
    graded["stray.log"] = root / "stray.log"
    return graded


def test_every_case_has_a_folder_and_an_expectation():
    assert sorted(CASES) == sorted(p.name for p in ADVERSARIAL.iterdir() if p.is_dir())


@pytest.mark.parametrize("name", sorted(CASES))
def test_adversarial_submission_gets_its_stated_score(graded, name):
    ex, expect = graded[name], CASES[name]
    assert ex.tests, f"{name}: no test results at all ({ex.note})"
    assert len(ex.tests) == len(graded["prints_and_warns"].tests), "the kit's own tests, no others"

    def lost(test) -> bool:
        function = test.name.split("[")[0]
        return expect.lose is ALL or any(function.startswith(prefix) for prefix in expect.lose)

    want = sum(t.max_score for t in ex.tests if not lost(t))
    failed = [t for t in ex.tests if t.outcome != "passed"]
    assert ex.earned == pytest.approx(want), \
        f"{name}: {ex.earned:.2f} points instead of {want:.2f}; failed: {[(t.name, t.message) for t in failed]}"
    assert {t.nodeid for t in failed} == {t.nodeid for t in ex.tests if lost(t)}
    for t in failed:
        assert expect.says in t.message or expect.says in ex.note, f"{name}: {t.name}: {t.message!r} / {ex.note!r}"
        assert "Traceback" not in t.message


def test_noise_costs_nothing_and_full_marks_are_possible(graded):
    assert graded["prints_and_warns"].earned == pytest.approx(graded["prints_and_warns"].share)


def test_same_submission_same_score_twice(graded):
    first, second = graded["determinism_1"], graded["determinism_2"]
    assert 0 < first.earned < first.share, "the known-wrong implementation should lose some points"
    assert [(t.nodeid, t.outcome, t.message) for t in first.tests] == \
           [(t.nodeid, t.outcome, t.message) for t in second.tests]
    assert first.earned == second.earned


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the processes in /proc")
def test_no_process_outlives_its_test(graded):
    """outlives_the_test started five shells in sessions of their own, which write to a file for
    20 s; the worker (their subreaper) ended them before it reported the exercise: once grading is
    over, none is alive and the file grows no more."""
    marker = graded["stray.log"]
    assert marker.exists() and marker.read_text().startswith("started"), "the attack never ran"
    alive = [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(marker).encode() in _read(p)]
    assert not alive, f"{len(alive)} processes the submission started outlived the grading"
    size = marker.stat().st_size
    time.sleep(1.5)
    assert marker.stat().st_size == size, "something still writes to the file"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""



def test_the_worker_reads_only_the_ends_of_a_flood_of_output(tmp_path):
    """A test process that prints gigabytes (its stdout goes to a log) costs the worker at most
    2 * OUTPUT_KEPT bytes of memory: the start and the end, where a crash's last line is."""
    from grader.worker import OUTPUT_KEPT, _output_of

    log = tmp_path / "output-0.log"
    with log.open("wb") as f:
        f.write(b"first line\n" + b"x" * (20 * OUTPUT_KEPT) + b"\nSegmentation fault: the last line")
    text = _output_of(log)
    assert len(text) < 2 * OUTPUT_KEPT + 100
    assert text.startswith("first line") and text.endswith("Segmentation fault: the last line")
    assert f"[... {log.stat().st_size - 2 * OUTPUT_KEPT} bytes left out ...]" in text
    small = tmp_path / "small.log"
    small.write_text("all of it\n")
    assert _output_of(small) == "all of it\n" and _output_of(tmp_path / "missing.log") == ""


def test_an_aborted_grading_leaves_no_temporary_folder(tmp_path, monkeypatch):
    """A grading that stops with an error (here: a tests folder without graded tests) still removes
    every task's temporary folder; each was private (mkdtemp: mode 0700)."""
    from grader import KitError
    from grader.submission import EXERCISES_DIR

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    with pytest.raises(KitError, match="no graded tests were found"):
        grade_many([EXERCISES_DIR], model="tiny", device="cpu", exercises=["tokenization", "sampling"],
                   tests_dir=str(tmp_path / "tests"))
    assert not list(temp.glob("textgen-grade-*"))
