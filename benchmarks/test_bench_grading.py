"""What grading costs: the untouched stubs, the reference and one known-wrong submission, each
graded whole (`grader.run.grade`: a worker, its preloading, one test process per exercise), in the
same run, with the model under --model on the CPU. The reference's grading is the baseline: the
stubs' ratio is how much of a grading is the grader's own work (ideally small, since the stubs do
nothing), the wrong submission's how a typical failing one compares. Each round's phases (the
worker's preloading, each exercise's test process) are kept in extra_info and summarised in
docs/benchmarks.md.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from bench import ROUNDS, measure
from grader import run
from grader.submission import EXERCISES_DIR, SOLUTIONS_DIR, TESTS_DIR

KIT_TESTS = TESTS_DIR / "kit"
WRONG = "sampling/logits_times_temperature.py"  # tests/wrong/: the logits multiplied by T, not divided


def graded_phases(result) -> dict:
    """The worker's phases and each exercise's test-process seconds of one grading."""
    return {**{k: round(v, 3) for k, v in result.phases.items()},
            **{f"test process: {e.name}": round(e.seconds, 3) for e in result.exercises}}


@pytest.fixture(scope="module")
def own_warm_workers():
    """A temporary folder of this module's own for the warm workers' sockets; they end with it."""
    from grader import warm

    folder, before = tempfile.mkdtemp(prefix="tb-"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = folder, folder
    yield
    warm.stop_all()
    os.environ.pop("TMPDIR")
    tempfile.tempdir = before
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.benchmark(group="grading")
@pytest.mark.parametrize("who", ["reference", "stubs", "wrong"])
def test_grading(benchmark, request, tmp_path, who):
    grading(benchmark, request, tmp_path, who, warm=False)


@pytest.mark.benchmark(group="grading, warm worker")
@pytest.mark.parametrize("who", ["reference", "stubs", "wrong"])
def test_grading_warm(benchmark, request, tmp_path, who, own_warm_workers):
    """The same gradings forked from a warm worker (grader/warm.py), as `python -m grader` does
    from its second grading on: one grading first starts it, untimed."""
    grading(benchmark, request, tmp_path, who, warm=True)


def grading(benchmark, request, tmp_path, who: str, warm: bool) -> None:
    if not SOLUTIONS_DIR.is_dir():
        pytest.skip("grading is measured against the reference solutions, which this copy does not hold")
    model = request.config.getoption("model").split(",")[0]
    if who == "reference":
        folder = SOLUTIONS_DIR
    elif who == "stubs":
        folder = EXERCISES_DIR
    else:
        sys.path.insert(0, str(KIT_TESTS))
        from make_submission import submission_with  # the kit tests' one way to build a submission

        wrong = KIT_TESTS.parent / "wrong" / WRONG
        folder = submission_with(tmp_path / "submission", {f"{wrong.parent.name}.py": wrong}, borrow=wrong.parent.name)
    results = []

    def grade_once():
        results.append(run.grade(folder, model=model, device="cpu", jobs=run.DEFAULT_JOBS, warm=warm))
        return results[-1]

    if warm:
        grade_once()
        results.clear()

    result = measure(benchmark, grade_once, unit="gradings", work=1, baseline=who == "reference", rounds=ROUNDS,
                     label={"reference": "the reference (solutions/)", "stubs": "the untouched stubs (exercises/)",
                            "wrong": f"the reference with tests/wrong/{WRONG}"}[who])
    benchmark.extra_info["total"] = round(result.total, 4)
    benchmark.extra_info["phases"] = [graded_phases(r) for r in results]
