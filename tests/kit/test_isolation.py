"""The grader holds against submissions that crash, hang, hoard memory, print, or try to change
their score (tests/adversarial/, see its README): each one must get exactly the score stated here,
and grading always completes. All of them are graded at once, with one exercise each (fast)."""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from make_submission import case_files, submission_with

from grader import sandbox
from grader.run import grade_many
from grader.worker import MAX_RESTARTS

pytestmark = pytest.mark.kit

HERE = Path(__file__).resolve().parent.parent
ADVERSARIAL = HERE / "adversarial"
EXERCISE = "tokenization"
TIMEOUT = 10  # seconds per test: short, so that the hanging submissions cost little time here
MEMORY_GB = 1  # the address space a test process may add (runaway_memory reserves up to 3 GB)

NAMESPACES = sandbox.supported()  # each test process in namespaces of its own (grader/sandbox.py)
ALL = None  # the whole exercise is lost
BATCH = ("test_batch_encode", "test_tokenizer_not_changed")  # the tests that call batch_encode
TWO_TEXTS = ("test_batch_encode_pad_is_eos_without_pad_token",)  # the one test with ['The movie was full of', 'Hi']
FIVE_TEXTS = ("test_batch_encode_matches_reference",)  # the one test with five texts


@dataclass(frozen=True)
class Expect:
    lose: tuple[str, ...] | None  # test functions (name prefixes) that fail; ALL: every test; (): none
    says: str = ""  # what each lost test's message (or the exercise's note) says
    namespaces_only: bool = False  # defended by the namespaces alone (docs/grader.md: reading around Python)


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
    # The submission runs apart from the test (grader/submission.py): the timeout stops the test, not the loop.
    "loop_ignores_timeout": Expect(TWO_TEXTS, "took too long"),
    "runaway_memory": Expect(FIVE_TEXTS, "MemoryError"),
    "writes_results_files": Expect(ALL, "not implemented"),
    "forges_results_channel": Expect(ALL, "did not sign"),
    "patches_checks": Expect(ALL, "replaced"),
    "patches_torch": Expect(ALL, "replaced torch"),
    "patches_recordings": Expect(ALL, "replaced grader.expectations.Expected.__call__"),
    "patches_pytest_runner": Expect(ALL, "replaced _pytest.runner.CallInfo.from_call"),
    "registers_pytest_plugin": Expect(ALL, "pytest's plugins or hooks"),
    # The test's expected value, one frame above (what a hidden test compares with): out of reach.
    "reads_expected_from_frames": Expect(ALL, "found no expected value"),
    "returns_objects_equal_to_anything": Expect(ALL, "not plain data"),
    "hunts_key_with_gc": Expect(ALL, "grader's memory"),
    "kills_grader": Expect(ALL, "signal to another process"),
    "disables_timeout_with_settrace": Expect(ALL, "trace function"),
    "ships_kit_files": Expect(ALL, "not implemented"),
    "imports_reference": Expect(ALL, "imports the reference solutions"),
    # The reference is never loaded in the grading process, nor readable from the submission.
    "borrows_reference_from_sys_modules": Expect(ALL, "KeyError"),
    "imports_reference_by_computed_name": Expect(ALL, "open the kit's file" if not NAMESPACES else "No module"),
    "reads_reference_source": Expect(ALL, "open the kit's file" if not NAMESPACES else "FileNotFoundError"),
    "loads_reference_with_ctypes": Expect(ALL, "load a C library"),
    # What the guard compares with, its own check, the report's encoder, what the audit hook uses.
    "blinds_guard_with_operator": Expect(ALL, "replaced operator.is_not"),
    "blinds_guard_with_builtins": Expect(ALL, "replaced builtins.any"),
    "replaces_guard_check": Expect(ALL, "added grader.guard.Guard.check"),
    "rewrites_report_encoder": Expect(ALL, "replaced json.encoder.JSONEncoder.encode"),
    # (With namespaces, the reference's folder is not even there.)
    "blinds_audit_hook_for_a_moment": Expect(ALL, "open the kit's file" if not NAMESPACES else "not found"),
    # Terminal escapes, NUL and lone surrogates in its messages: every report escapes them
    # (tests/kit/test_reports_escape.py checks each format).
    "paints_fake_scores": Expect(ALL),
    # Correct code whose import leaves detached processes behind (test_no_process_outlives_its_test).
    "outlives_the_test": Expect(lose=()),
    # ... which rewrite the grades for 10 s (test_the_grades_are_not_rewritten_later).
    "rewrites_results_later": Expect(lose=()),
    # Correct code that writes what grading depends on (test_nothing_the_grading_depends_on_changes).
    "writes_what_grading_depends_on": Expect(lose=()),
    # Stubs that read a classmate's module (and would run it), the reference, other recordings...
    "reads_classmates_and_secrets": Expect(ALL, "read: nothing", namespaces_only=True),
    "asks_the_warm_worker": Expect(ALL, "reached: nothing", namespaces_only=True),  # and tests/kit/test_warm.py
    # Correct code that plants an import hook and a skip list in every other task's folder.
    "plants_in_classmates_temp_folders": Expect(lose=()),
    # 1 GiB on stdout in one test: that test fails (past FILE_LIMIT), the worker reads 128 KiB.
    "floods_output": Expect(TWO_TEXTS, "File too large"),
}
CLASSMATE = "classmate"  # the reference, graded in the same batch: the victim of the cases above
DETERMINISM = HERE / "wrong" / "tokenization" / "right_padding.py"


def build(case: Path, dest: Path) -> Path:
    """The reference solutions with the case's files in place of theirs (tests/kit/make_submission.py)."""
    return submission_with(dest, case_files(case), borrow=EXERCISE)


class Fifo:
    """A named pipe that a thread reads while the grading runs: what the processes that
    outlives_the_test started write into it (a pipe is writable on a read-only file system), and
    when each line arrived."""

    def __init__(self, path: Path):
        self.path, self.lines = path, []
        os.mkfifo(path)
        self.fd = os.open(path, os.O_RDWR)  # held open for writing too: never at its end
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while chunk := os.read(self.fd, 1 << 16):
            self.lines += [(time.monotonic(), line) for line in chunk.decode().split()]


def _victims(root: Path) -> dict[str, Path]:
    """Copies of what a grading depends on, which writes_what_grading_depends_on tries to change:
    a recording, a run_autograder script, a converted model, an environment's site-packages; and
    the classmate's tokenization.py (itself, not a copy: it must keep its full marks)."""
    kit = root / "kit"
    (kit / "site-packages").mkdir(parents=True)
    recording = kit / "test_next_token.json"
    recording.write_bytes((HERE / "expectations" / "tiny" / "test_next_token.json").read_bytes())
    (kit / "run_autograder").write_text("#!/bin/bash\npython -m grader --gradescope\n")
    (kit / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    return {"recording": recording, "run_autograder": kit / "run_autograder", "model": kit / "model.safetensors",
            "site-packages": kit / "site-packages", "classmate": root / CLASSMATE / "tokenization.py"}


def _bytes_of(paths) -> dict[str, str]:
    """sha256 of each file, the names in each folder."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else sorted(os.listdir(p))
            for p in paths}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("adversarial")
    folders = {name: build(ADVERSARIAL / name, root / name) for name in CASES}
    for copy in ("determinism_1", "determinism_2"):  # one known-wrong implementation, graded twice
        folders[copy] = submission_with(root / copy, {"tokenization.py": DETERMINISM}, borrow=EXERCISE)
    folders[CLASSMATE] = submission_with(root / CLASSMATE)
    victims = _victims(root)
    before = _bytes_of(victims.values())
    late = [root / "grades.csv", root / "results.json"]  # what rewrites_results_later rewrites
    for path in late:
        path.write_text("written by the grader\n")
    secrets = [root / CLASSMATE / "tokenization.py", HERE.parent / "solutions" / "tokenization.py",
               HERE / "expectations" / "tiny" / "test_next_token.json",
               HERE / "expectations" / "tiny" / "test_tokenization.json"]
    # in the attacker's own folder, which its test process sees (read-only: a pipe is still writable there)
    stray = Fifo(folders["outlives_the_test"] / "stray.fifo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTGEN_KIT_STRAY_MARKER", str(stray.path))  # where outlives_the_test writes
        patch.setenv("TEXTGEN_KIT_LATE_TARGETS", os.pathsep.join(map(str, late)))
        if NAMESPACES:  # without them the writes go through: test_without_namespaces_a_change_is_named
            patch.setenv("TEXTGEN_KIT_WRITE_TARGETS", os.pathsep.join(map(str, victims.values())))
        patch.setenv("TEXTGEN_KIT_READ_TARGETS", os.pathsep.join(map(str, secrets)))
        results = grade_many(list(folders.values()), model="tiny", device="cpu", exercises=[EXERCISE],
                             timeout=TIMEOUT, memory_gb=MEMORY_GB, jobs=2)
    graded = {name: result.exercise(EXERCISE) for name, result in zip(folders, results)}
    graded.update({"stray": stray, "ended": time.monotonic(), "ended_at": time.time(), "late": late, "victims": victims,
                   "before": before})
    return graded


def test_every_case_has_a_folder_and_an_expectation():
    assert CLASSMATE not in CASES
    assert sorted(CASES) == sorted(p.name for p in ADVERSARIAL.iterdir() if p.is_dir())


@pytest.mark.parametrize("name", sorted(CASES))
def test_adversarial_submission_gets_its_stated_score(graded, name):
    ex, expect = graded[name], CASES[name]
    if expect.namespaces_only and not NAMESPACES:
        pytest.skip("without namespaces, reading files around Python is not prevented (docs/grader.md)")
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


def test_a_crash_while_importing_is_not_restarted(graded):
    """A test process that ends while the submission's module is being imported would end the same way in
    every new one: it is not restarted (one stop), and the tests it did not run say why; a crash inside a
    function is restarted up to MAX_RESTARTS times, each restart running the tests that are left."""
    check_crash_restarts(graded, in_function="os_exit_in_function")


def check_crash_restarts(graded, in_function: str) -> None:
    at_import = graded["os_exit_at_import"]
    assert ("stopped 1 time(s) (last: the test process stopped while tokenization.py was being imported: "
            "ended the test process") in at_import.note
    not_run = [t for t in at_import.tests if t.message.startswith("not run")]
    assert len(not_run) == len(at_import.tests) - 1, at_import.note
    assert all("while importing tokenization.py, as it would in every test" in t.message for t in not_run)
    assert at_import.note.endswith(
        f"; the test running then scored 0, and the {len(not_run)} test(s) after it were not run")
    crashed = graded[in_function]
    assert f"stopped {MAX_RESTARTS + 1} time(s)" in crashed.note, crashed.note


def test_noise_costs_nothing_and_full_marks_are_possible(graded):
    assert graded["prints_and_warns"].earned == pytest.approx(graded["prints_and_warns"].share)
    assert graded[CLASSMATE].earned == pytest.approx(graded[CLASSMATE].share), "the classmate lost points"


def test_same_submission_same_score_twice(graded):
    first, second = graded["determinism_1"], graded["determinism_2"]
    assert 0 < first.earned < first.share, "the known-wrong implementation should lose some points"
    assert [(t.nodeid, t.outcome, t.message) for t in first.tests] == \
           [(t.nodeid, t.outcome, t.message) for t in second.tests]
    assert first.earned == second.earned


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the processes in /proc")
def test_no_process_outlives_its_test(graded):
    """outlives_the_test started five shells in sessions of their own, which write to a named pipe
    for 20 s; they ended with their test process (process 1 of their PID namespace; without
    namespaces, the worker, their subreaper, ends them before it reports the exercise): once the
    grading is over, none is alive and nothing more arrives."""
    stray = graded["stray"]
    assert any(line == "started" for _, line in stray.lines), "the attack never ran"
    alive = [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(stray.path).encode() in _read(p)]
    assert not alive, f"{len(alive)} processes the submission started outlived the grading"
    time.sleep(1.5)
    late = [line for at, line in stray.lines if at > graded["ended"]]
    assert not late, f"something wrote {late[:3]} after the grading"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the processes in /proc")
def test_the_grades_are_not_rewritten_later(graded):
    """rewrites_results_later left 50 shells that rewrite a grades.csv and a results.json for 10 s:
    none outlives its test process, and not one write went through (read-only everywhere; without
    namespaces, none after the grading: the worker ended them before it reported the result)."""
    time.sleep(1)
    for path in graded["late"]:
        if NAMESPACES:
            assert path.read_text() == "written by the grader\n", f"{path.name} was rewritten"
        assert path.stat().st_mtime <= graded["ended_at"], f"{path.name} was rewritten after the grading"
        alive = [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(path).encode() in _read(p)]
        assert not alive, f"{len(alive)} processes the submission started outlived the grading"


@pytest.mark.skipif(not NAMESPACES, reason="without namespaces a write goes through and is named instead "
                                            "(test_without_namespaces_a_change_is_named)")
def test_nothing_the_grading_depends_on_changes(graded):
    """writes_what_grading_depends_on truncated, rewrote in place and planted `.pth` hooks around
    Python's audit hook: every byte is as it was, and the classmate it overwrote kept full marks."""
    assert _bytes_of(graded["victims"].values()) == graded["before"]
    assert graded[CLASSMATE].earned == pytest.approx(graded[CLASSMATE].share)


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


def test_without_namespaces_a_change_is_named(tmp_path, monkeypatch):
    """Where no namespace makes the files read-only (macOS, a container without them; here forced
    with TEXTGEN_KIT_SANDBOX=off), a write goes through, but the task during which a file the
    grading depends on changed scores 0, its note naming the file (one test process at a time: the
    culprit is the one that ran; the classmate graded after it is the victim it was: detected, not
    prevented)."""
    attacker = build(ADVERSARIAL / "writes_what_grading_depends_on", tmp_path / "attacker")
    victim = submission_with(tmp_path / CLASSMATE)
    monkeypatch.setenv("TEXTGEN_KIT_SANDBOX", "off")
    monkeypatch.setenv("TEXTGEN_KIT_WRITE_TARGETS", str(victim / "tokenization.py"))
    first, _ = (r.exercise(EXERCISE) for r in grade_many(
        [attacker, victim], model="tiny", device="cpu", exercises=[EXERCISE], timeout=TIMEOUT,
        memory_gb=MEMORY_GB, jobs=1, tests_dir=str(HERE)))
    assert first.earned == 0 and all(t.outcome == "failed" for t in first.tests)
    assert "tampering" in first.note and str(victim / "tokenization.py") in first.note, first.note
