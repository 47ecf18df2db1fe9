"""The spawn path: TEXTGEN_KIT_ISOLATION=spawn, a fresh interpreter per test process, which is the
only path on macOS and on CUDA (every other kit test forks). The adversarial cases of
tests/kit/test_isolation.py must get the same scores here, the reference full marks and the
untouched stubs zero, so that students on a Mac get the guarantees docs/instructors.md promises.
Tiny model; the cases are graded at once by one worker, like test_isolation.py does."""
from __future__ import annotations

import sys

import pytest
import test_isolation as isolation  # tests/kit/, on sys.path as pytest imports this file
from make_submission import submission_with

from grader.points import TOTAL
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
'''


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    """{case: ExerciseResult} for the adversarial cases, and the reference's and the stubs' results."""
    root = tmp_path_factory.mktemp("spawn")
    folders = {name: isolation.build(isolation.ADVERSARIAL / name, root / name) for name in isolation.CASES}
    probe = (SOLUTIONS_DIR / "tokenization.py").read_text() + PROBE
    folders["probe"] = submission_with(root / "probe", {"tokenization.py": probe})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEXTGEN_KIT_ISOLATION", "spawn")
        patch.setenv("TEXTGEN_KIT_SPAWN_PROBE", str(root / "probe.log"))
        results = grade_many(list(folders.values()), model="tiny", device="cpu", exercises=[isolation.EXERCISE],
                             timeout=isolation.TIMEOUT, memory_gb=isolation.MEMORY_GB, jobs=2)
        reference, stubs = grade_many([SOLUTIONS_DIR, EXERCISES_DIR], model="tiny", device="cpu", jobs=2)
    cases = {name: result.exercise(isolation.EXERCISE) for name, result in zip(folders, results)}
    return {"cases": cases, "reference": reference, "stubs": stubs,
            "probe": (root / "probe.log").read_text().split() if (root / "probe.log").exists() else []}


def test_the_test_processes_were_spawned(spawned):
    assert spawned["probe"] and set(spawned["probe"]) == {"spawned"}, spawned["probe"]
    assert spawned["cases"]["probe"].earned == pytest.approx(spawned["cases"]["probe"].share)


@pytest.mark.parametrize("name", sorted(isolation.CASES))
def test_adversarial_submission_gets_its_stated_score_when_spawned(spawned, name):
    # The very check of test_isolation.py, on the results of the spawn path.
    isolation.test_adversarial_submission_gets_its_stated_score(spawned["cases"], name)


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

