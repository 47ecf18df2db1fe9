"""Grade a submission: one pytest process per exercise, so a crash costs one exercise at most.

Each process runs the kit's own graded tests (``tests/``, never copies from the submission) for
one exercise, with a per-test timeout, and streams each test's outcome to a JSON-lines file
(grader/plugin.py). Tests that never reported (the process crashed or was killed) score zero
with a message that says so.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import KitError, devices, models
from .points import EXERCISES, SHARES
from .submission import REPO, resolve_folder

TESTS = REPO / "tests"
DEFAULT_TIMEOUT = 60  # seconds per test; --timeout changes it


@dataclass
class TestResult:
    nodeid: str
    exercise: str
    weight: float
    outcome: str  # passed | failed | skipped
    message: str = ""
    detail: str = ""
    score: float = 0.0
    max_score: float = 0.0

    @property
    def name(self) -> str:
        return self.nodeid.split("::", 1)[-1]


@dataclass
class ExerciseResult:
    name: str
    share: float
    tests: list[TestResult] = field(default_factory=list)
    note: str = ""  # set when the exercise's process crashed or timed out
    seconds: float = 0.0

    @property
    def earned(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def passed(self) -> int:
        return sum(t.outcome == "passed" for t in self.tests)


@dataclass
class GradeResult:
    submission: str
    model: str
    device: str
    exercises: list[ExerciseResult]
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(e.earned for e in self.exercises)

    @property
    def possible(self) -> float:
        return sum(e.share for e in self.exercises)

    def exercise(self, name: str) -> ExerciseResult:
        return next(e for e in self.exercises if e.name == name)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _score(exercise: ExerciseResult) -> None:
    """Share the exercise's points between its tests in proportion to their weights."""
    total_weight = sum(t.weight for t in exercise.tests)
    for t in exercise.tests:
        t.max_score = exercise.share * t.weight / total_weight if total_weight else 0.0
        t.score = t.max_score if t.outcome == "passed" else 0.0


def run_exercise(name: str, folder: Path, model: str, device: str, timeout: int,
                 tests_dir: Path = TESTS) -> ExerciseResult:
    result = ExerciseResult(name=name, share=SHARES[name])
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="textgen-grade-") as tmp:
        report = Path(tmp) / "report.jsonl"
        cmd = [sys.executable, "-m", "pytest", str(tests_dir), "--ignore", str(tests_dir / "kit"),
               "-m", f"{name} and points", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               f"--rootdir={REPO}", f"--submission={folder}", f"--model={model}",
               f"--device={device}", f"--grader-report={report}", f"--timeout={timeout}"]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HF_HUB_OFFLINE": "1"}
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True,
                                  timeout=max(600, 20 * timeout), stdin=subprocess.DEVNULL)
            code, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as err:
            code, output = None, f"{err.stdout or ''}{err.stderr or ''}"
            result.note = f"stopped after {err.timeout:.0f} s"
        records = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    result.seconds = time.monotonic() - start
    collected = next((r["tests"] for r in records if r["event"] == "collected"), None)
    if code in (3, 4):
        raise KitError(f"grading {name} could not run (pytest exit code {code}): {_last_line(output)}")
    if code == 5 or collected == []:
        raise KitError(f"no graded tests were found for exercise '{name}' in {tests_dir}")
    if collected is None:  # died before collection ended: nothing to attribute points to
        result.note = result.note or f"the test process died before running any test: {_last_line(output)}"
        return result
    outcomes = {r["nodeid"]: r for r in records if r["event"] == "result"}
    if code not in (0, 1) and not result.note:
        result.note = f"the test process crashed (exit code {code}); the tests it did not finish score 0"
    for test in collected:
        got = outcomes.get(test["nodeid"])
        if got is None:
            got = {"outcome": "failed", "message": f"not run: {result.note or 'the test process stopped'}"}
        result.tests.append(TestResult(nodeid=test["nodeid"], exercise=name, weight=test["weight"],
                                       outcome=got["outcome"], message=got.get("message", ""),
                                       detail=got.get("detail", "")))
    _score(result)
    return result


def grade(submission=None, model: str = "default", device: str = "auto", exercises=None,
          timeout: int = DEFAULT_TIMEOUT, jobs: int = 1, tests_dir: Path = TESTS) -> GradeResult:
    """Grade `submission` (a folder laid out like exercises/) and return the scored results."""
    folder = resolve_folder(submission)
    chosen = list(exercises or EXERCISES)
    unknown = [e for e in chosen if e not in SHARES]
    if unknown:
        raise KitError(f"unknown exercise '{unknown[0]}'; choose from {', '.join(EXERCISES)}")
    # Validate once here, so that a bad --model or --device is one line, not one error per test;
    # and convert the default model once, before the exercise processes start.
    devices.resolve(device)
    models.check(model)
    if model in ("default", "tiny"):
        models.ensure_default_cached()
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda name: run_exercise(name, folder, model, device, timeout, tests_dir), chosen))
    return GradeResult(submission=str(folder), model=model, device=device, exercises=results,
                       seconds=time.monotonic() - start)
