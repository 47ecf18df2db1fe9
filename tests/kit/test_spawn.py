"""The spawn path: TEXTGEN_KIT_ISOLATION=spawn, a fresh interpreter per test process, which is the
only path on macOS and on CUDA (every other kit test forks). The adversarial cases of
tests/kit/test_isolation.py that depend on how a test process starts (SPAWN_CASES) must get the
same scores here, the reference full marks and the
untouched stubs zero, so that students on a Mac get the guarantees docs/instructors.md promises.
Tiny model; the cases are graded at once by one worker, like test_isolation.py does."""
from __future__ import annotations

import sys

import pytest
import test_isolation as isolation  # tests/kit/, on sys.path as pytest imports this file
from make_submission import submission_with

from grader.points import EXERCISES, TOTAL
from grader.run import grade_many
from grader.submission import EXERCISES_DIR, SOLUTIONS_DIR

pytestmark = [pytest.mark.kit, pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="elsewhere every grading spawns: the other kit tests cover it")]

# Appended to the reference's tokenization.py: records how the test process importing it started. A
# forked one has its worker's command line (`python -c CODE`: argv ['-c']); a spawned one was given
# its configuration as an argument (argv ['-c', CONFIG]).
PROBE = '''

import os as _os, sys as _sys
with open(_os.environ["TEXTGEN_KIT_SPAWN_PROBE"], "a") as _probe:
    _probe.write(("spawned" if len(_sys.argv) > 1 else "forked") + "\\n")
    if "" in _sys.path or _os.getcwd() in _sys.path:  # its temporary folder, where a classmate could plant files
        _probe.write("cwd-on-sys.path\\n")
'''


# The adversarial cases whose defence depends on how the test process starts (its stdio, pipes,
# process group, limits, sys.path and current folder, the key and the guard's snapshot in a fresh
# interpreter, restarts after a crash); the cases that only call into the guard's checks, which run
# the same code either way, are left to test_isolation.py: each spawn costs a fresh interpreter's
# import of torch and load of the model (10 to 13 s on a slow day of a 2-core machine). A restart after
# a crash is shown once (segfault_in_function: six test processes); os_exit_at_import shows an exit
# code read through the namespace's init, and that a crash while importing is not restarted.
SPAWN_CASES = ("prints_and_warns", "raises_at_import", "os_exit_at_import", "segfault_in_function",
               "loop_ignores_timeout", "runaway_memory", "forges_results_channel", "hunts_key_with_gc",
               "kills_grader", "ships_kit_files", "imports_reference", "reads_reference_source", "patches_checks",
               "reads_classmates_and_secrets", "plants_in_classmates_temp_folders", "floods_output")


def test_every_spawn_case_is_an_adversarial_case():
    assert set(SPAWN_CASES) <= set(isolation.CASES)


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    """{case: ExerciseResult} for the adversarial cases, and the reference's and the stubs' results."""
    root = tmp_path_factory.mktemp("spawn")
    folders = {name: isolation.build(isolation.ADVERSARIAL / name, root / name) for name in SPAWN_CASES}
    probe = (SOLUTIONS_DIR / "tokenization.py").read_text() + PROBE
    folders["probe"] = submission_with(root / "probe", {"tokenization.py": probe})
    # in the probe's own folder, which its test process sees read-only: a pipe is still writable there
    fifo = isolation.Fifo(folders["probe"] / "probe.fifo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTGEN_KIT_ISOLATION", "spawn")
        patch.setenv("TEXTGEN_KIT_SPAWN_PROBE", str(fifo.path))
        # one worker for all: the cases in their exercise, the reference and the stubs in every one, all
        # under the cases' short time and memory limits (which the reference keeps to on the tiny model)
        *results, reference, stubs = grade_many(
            [(folder, [isolation.EXERCISE]) for folder in folders.values()] + [SOLUTIONS_DIR, EXERCISES_DIR],
            model="tiny", device="cpu", timeout=isolation.TIMEOUT, memory_gb=isolation.MEMORY_GB, jobs=2)
    cases = {name: result.exercise(isolation.EXERCISE) for name, result in zip(folders, results)}
    return {"cases": cases, "reference": reference, "stubs": stubs,
            "exercises": {name: [e.name for e in result.exercises] for name, result in zip(folders, results)},
            "probe": [line for _, line in fifo.lines]}


def test_one_worker_grades_each_submission_in_its_own_exercises(spawned):
    """grade_many's (folder, exercises) entries: the cases in their one exercise only, beside the
    reference and the stubs in all six (test_reference_scores_full_marks_when_spawned)."""
    assert set(map(tuple, spawned["exercises"].values())) == {(isolation.EXERCISE,)}
    assert [e.name for e in spawned["stubs"].exercises] == list(EXERCISES)


def test_the_test_processes_were_spawned(spawned):
    assert spawned["probe"] and set(spawned["probe"]) == {"spawned"}, spawned["probe"]
    assert spawned["cases"]["probe"].earned == pytest.approx(spawned["cases"]["probe"].share)


@pytest.mark.parametrize("name", SPAWN_CASES)
def test_adversarial_submission_gets_its_stated_score_when_spawned(spawned, name):
    # The very check of test_isolation.py, on the results of the spawn path.
    isolation.test_adversarial_submission_gets_its_stated_score(spawned["cases"], name)


def test_a_crash_while_importing_is_not_restarted_when_spawned(spawned):
    isolation.check_crash_restarts(spawned["cases"], in_function="segfault_in_function")


def test_reference_scores_full_marks_when_spawned(spawned):
    result = spawned["reference"]
    failures = [(t.nodeid, t.message) for e in result.exercises for t in e.tests if t.outcome != "passed"]
    assert not failures and result.total == pytest.approx(TOTAL)


def test_untouched_stubs_score_zero_when_spawned(spawned):
    result = spawned["stubs"]
    assert result.total == 0 and all(e.tests and not e.note for e in result.exercises)
    messages = {t.message for e in result.exercises for t in e.tests}
    assert all(m.startswith("not implemented yet") for m in messages), messages - {
        m for m in messages if m.startswith("not implemented yet")}

