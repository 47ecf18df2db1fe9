"""What a grading returns: one result per test, per exercise and per submission, and how an
exercise's points are shared between its tests. Plain data (no torch): the reports, the result
files and batch grading read it without loading a model.

The texts that can come from the submission (a failure's message and traceback, an exercise's
note) are made safe here, as they enter a result (`safe_text`), so that every report (the terminal,
results.json, JUnit XML, the class report) shows them and none is broken or painted over by them."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# What no report may receive raw: C0 and C1 control characters (ESC, CR, NUL...: a terminal obeys
# them, XML 1.0 forbids them), DEL, lone surrogates (not encodable as UTF-8) and U+FFFE/U+FFFF (not
# XML characters). A multi-line text keeps its newlines and tabs; a one-line text keeps its tabs.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_UNSAFE_IN_A_LINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def safe_text(text: str, lines: bool = False) -> str:
    """`text` with each unsafe character (see above) written as its Python escape: ESC as \\x1b,
    a lone surrogate as \\udc80, and (unless `lines`) a newline as \\n."""
    return (_UNSAFE if lines else _UNSAFE_IN_A_LINE).sub(lambda m: ascii(m.group())[1:-1], text)


class _SafeText:
    """Mixin of a result: the fields named in `_TEXTS` (name: may it hold several lines) go
    through safe_text whenever they are set, by the constructor or later."""

    _TEXTS: dict[str, bool] = {}

    def __setattr__(self, name, value):
        if name in self._TEXTS and isinstance(value, str):
            value = safe_text(value, self._TEXTS[name])
        super().__setattr__(name, value)


@dataclass
class TestResult(_SafeText):
    __test__ = False  # a result, not a test class for pytest to collect
    _TEXTS = {"message": False, "detail": True}

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
class ExerciseResult(_SafeText):
    _TEXTS = {"note": False}

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

    def to_fix(self) -> dict[str, list["TestResult"]]:
        """The failed tests grouped by kind of failure, in order, each group under its first test's
        message: what the reports list under "what to fix". One kind is one message ("not
        implemented yet: encode ..." x 7), or one test function with one hint, whatever inputs its
        messages show (test_encode_matches_tokenizer on seven texts). Hidden tests (the
        instructor's) are left out: their names and messages are not for students."""
        groups: dict[str, list[TestResult]] = {}
        first: dict[tuple, str] = {}  # kind -> the message its group is shown under
        for t in self.tests:
            if t.outcome != "passed" and not t.hidden:
                _, found, hint = t.message.rpartition(" - hint: ")
                kind = (t.name.split("[")[0], hint) if found and hint else (t.message,)
                groups.setdefault(first.setdefault(kind, t.message), []).append(t)
        return groups

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
    # Where the grading's time went, in seconds: the caller's start (until the worker runs), the
    # worker's preloading (importing torch, collecting the tests, loading the models, warming up),
    # shared by every submission of one grading; see docs/grader.md.
    phases: dict = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(e.earned for e in self.exercises)

    @property
    def possible(self) -> float:
        return sum(e.share for e in self.exercises)

    def exercise(self, name: str) -> ExerciseResult:
        return next(e for e in self.exercises if e.name == name)


# Points are shared in units of 1 / POINT_UNITS (4 decimals, as results.json writes them), so that
# the tests' points, as written, add up to exactly their exercise's share.
POINT_UNITS = 10_000


def allocate(share: float, weights: list[float]) -> list[float]:
    """`share` split in proportion to `weights`, each part a whole number of 1/POINT_UNITS, the
    parts adding up to exactly `share`: the largest remainders get the units left over (the
    earlier test on a tie), so no part is off by more than one unit from its exact value."""
    from fractions import Fraction

    total_weight = sum(Fraction(w) for w in weights)
    if not weights or total_weight == 0:
        return [0.0] * len(weights)
    units = round(Fraction(share) * POINT_UNITS)
    exact = [units * Fraction(w) / total_weight for w in weights]
    parts = [int(x) for x in exact]  # floors (weights are >= 0)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:units - sum(parts)]:
        parts[i] += 1
    return [part / POINT_UNITS for part in parts]


# A broken documented rule costs at least FLOOR of its exercise's share. A rule is one graded test
# function: all its parametrized cases are that rule. In proportion to the weights alone, one failed
# case of a rule with many cases (decode skipping special tokens: 1 of 27 tokenization cases) would
# cost a few hundredths of the 100 points. FLOOR = 5%: 0.5 of tokenization's 10 points, 1 of
# sampling's 20, 1.25 of decoding's 25 (docs/grader.md, "How points are shared").
FLOOR = 0.05


def rule_of(nodeid: str) -> str:
    """The documented rule a graded test checks: its test function (the node id without its parameters)."""
    return nodeid.split("[", 1)[0]


def with_floor(share: float, tests: list[tuple[str, float, bool]], floor: float = FLOOR) -> list:
    """Each test's exact maximum score (a Fraction), for `tests` = (node id, weight, failed) of one
    exercise: `share` in proportion to the weights; then the failed cases of each broken rule are
    raised to `floor * share` in all (in proportion to their weights), paid for by the passing tests
    in proportion to theirs. Without a failure, exactly the weights' proportions (full marks stay
    full marks); when every test fails, nothing moves (the stubs stay at 0)."""
    from fractions import Fraction

    total = sum(Fraction(w) for _, w, _ in tests)
    if not tests or total == 0:
        return [Fraction(0)] * len(tests)
    exact = [Fraction(share) * Fraction(w) / total for _, w, _ in tests]
    minimum = Fraction(floor) * Fraction(share)
    raise_by = [Fraction(0)] * len(tests)
    for rule in dict.fromkeys(rule_of(n) for n, _, failed in tests if failed):
        cases = [i for i, (n, _, failed) in enumerate(tests) if failed and rule_of(n) == rule]
        lost = sum(exact[i] for i in cases)
        if lost < minimum:
            parts = [exact[i] for i in cases] if lost > 0 else [Fraction(1)] * len(cases)
            for i, part in zip(cases, parts):
                raise_by[i] = (minimum - lost) * part / sum(parts)
    passing = sum(exact[i] for i, (_, _, failed) in enumerate(tests) if not failed)
    wanted = sum(raise_by)
    if wanted > passing:  # the passing tests cannot pay for every floor: all of them is what the failures cost
        raise_by = [r * passing / wanted for r in raise_by]
        wanted = passing
    keep = (passing - wanted) / passing if passing else Fraction(0)
    return [exact[i] + raise_by[i] if failed else exact[i] * keep for i, (_, _, failed) in enumerate(tests)]


def score(exercise: ExerciseResult) -> None:
    """Share the exercise's points between its tests in proportion to their weights, each broken
    rule costing at least FLOOR of the share (`with_floor`), to 4 decimals adding up to exactly the
    share (`allocate`). A skipped test (no recording and no live check for this model or device)
    leaves the total: the others share the exercise's points, and the exercise's note says so."""
    counted = [t for t in exercise.tests if t.outcome != "skipped"]
    exact = with_floor(exercise.share, [(t.nodeid, t.weight, t.outcome != "passed") for t in counted])
    points = dict(zip(map(id, counted), allocate(exercise.share, exact)))
    for t in exercise.tests:
        t.max_score = points.get(id(t), 0.0)
        t.score = t.max_score if t.outcome == "passed" else 0.0
    skipped = [t for t in exercise.tests if t.outcome == "skipped"]
    if skipped:
        why = skipped[0].message or "skipped"
        note = f"{len(skipped)} test(s) not graded here ({why}): their weight is left out"
        exercise.note = f"{exercise.note}; {note}" if exercise.note else note
