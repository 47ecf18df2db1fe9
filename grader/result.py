"""What a grading returns: one result per test, per exercise and per submission, and how an
exercise's points are shared between its tests. Plain data (no torch): the reports, the result
files and batch grading read it without loading a model."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TestResult:
    __test__ = False  # a result, not a test class for pytest to collect

    nodeid: str
    exercise: str
    weight: float
    outcome: str  # passed | failed | skipped
    message: str = ""
    detail: str = ""
    score: float = 0.0
    max_score: float = 0.0
    hidden: bool = False  # one of the instructor's hidden tests (--extra-tests)
    seconds: float = 0.0  # the test call's duration
    expectations: str = ""  # what it compared with: "recorded", or "live (why no recording applies)"

    @property
    def name(self) -> str:
        return self.nodeid.split("::", 1)[-1]


@dataclass
class ExerciseResult:
    name: str
    share: float
    tests: list[TestResult] = field(default_factory=list)
    note: str = ""  # set when the exercise's process crashed, hung or was tampered with
    seconds: float = 0.0

    @property
    def earned(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def passed(self) -> int:
        return sum(t.outcome == "passed" for t in self.tests)

    @classmethod
    def from_dict(cls, data: dict) -> "ExerciseResult":
        return cls(**{**data, "tests": [TestResult(**t) for t in data["tests"]]})


@dataclass
class GradeResult:
    submission: str
    model: str
    device: str
    exercises: list[ExerciseResult]
    seconds: float = 0.0
    dtype: str = ""  # set by the grader: grader.devices.dtype_name()

    @property
    def total(self) -> float:
        return sum(e.earned for e in self.exercises)

    @property
    def possible(self) -> float:
        return sum(e.share for e in self.exercises)

    def exercise(self, name: str) -> ExerciseResult:
        return next(e for e in self.exercises if e.name == name)


def score(exercise: ExerciseResult) -> None:
    """Share the exercise's points between its tests in proportion to their weights. A skipped
    test (no recording and no live check for this model or device) leaves the total: the others
    share the exercise's points, and the exercise's note says so."""
    total_weight = sum(t.weight for t in exercise.tests if t.outcome != "skipped")
    for t in exercise.tests:
        counted = t.outcome != "skipped" and total_weight
        t.max_score = exercise.share * t.weight / total_weight if counted else 0.0
        t.score = t.max_score if t.outcome == "passed" else 0.0
    skipped = [t for t in exercise.tests if t.outcome == "skipped"]
    if skipped:
        why = skipped[0].message or "skipped"
        note = f"{len(skipped)} test(s) not graded here ({why}): their weight is left out"
        exercise.note = f"{exercise.note}; {note}" if exercise.note else note
