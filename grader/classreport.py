"""The class report: one self-contained HTML page about a graded class, for the instructor.

    python -m grader batch DIR --report report.html      # after grading
    python -m grader report grades.csv                   # from an earlier batch's CSV and JSONs

It reads what batch wrote (the CSV, and each student's results.json beside it) and shows: per
exercise the distribution of points, the mean, the median and the share at full marks; the most
common mistakes (the failures that read alike, grouped, with the students they hit); the tests
ordered by failure rate; the pairs of submissions that share code (grader/similarity.py); then
each student's table and messages, as `make grade` shows them. Plots are PNGs inside the page:
it needs no network and no other file.

Hidden tests (the instructor's, --extra-tests) stay hidden here as in the student's report: they
are counted and numbered, never named, and their messages (which quote their inputs) never shown.
"""
from __future__ import annotations

import base64
import csv
import functools
import html
import io
import json
import re
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import KitError
from .points import EXERCISES, SHARES, task_number
from .result import ExerciseResult, GradeResult, TestResult
from .submission import EXERCISES_DIR

FULL = 1e-6  # points below the maximum that still count as full marks (the CSV rounds to 4 places)


# ----------------------------------------------------------------------------------------------
# Reading a batch: the CSV, and each student's results.json (grader/results.py) as results objects.

HIDDEN_NAME = re.compile(r"hidden test \d+")  # how results.json may name a hidden test for students


def result_from_gradescope(data: dict) -> GradeResult:
    """A results.json that grader/results.py wrote, read back as a GradeResult. A skipped test
    (no points at stake) comes back as skipped; a hidden test (not shown to students at once, or
    named "hidden test N" for them) as hidden. The instructor's data of a test (its node id, full
    message and traceback), when the file has them, are preferred to what students read."""
    extra = data.get("extra_data", {})
    exercises = {name: ExerciseResult(name, float(info.get("max_score", SHARES.get(name, 0))), note=info.get("note", ""))
                 for name, info in extra.get("exercises", {}).items()}
    for t in data.get("tests", []):
        prefix, _, name = t["name"].partition(": ")
        exercise = (t.get("tags") or [prefix])[0]
        ex = exercises.setdefault(exercise, ExerciseResult(exercise, float(SHARES.get(exercise, 0))))
        own = t.get("extra_data") or {}
        if t["status"] == "passed":
            outcome, message, detail = "passed", "", ""
        else:
            outcome = "failed" if t.get("max_score") else "skipped"
            message, _, detail = t.get("output", "").partition("\n\n")
            message, detail = own.get("message", message), own.get("traceback", detail)
        ex.tests.append(TestResult(nodeid=own.get("nodeid", name), exercise=exercise,
                                   weight=float(t.get("max_score", 0)), outcome=outcome, message=message,
                                   detail=detail, score=float(t["score"]), max_score=float(t.get("max_score", 0)),
                                   hidden=t.get("visibility", "visible") != "visible" or bool(HIDDEN_NAME.fullmatch(name))))
    order = [e for e in EXERCISES if e in exercises] + [e for e in exercises if e not in EXERCISES]
    return GradeResult(submission=extra.get("submission", ""), model=extra.get("model", ""),
                       device=extra.get("device", ""), exercises=[exercises[e] for e in order],
                       seconds=float(data.get("execution_time", 0)), dtype=extra.get("dtype", ""))


@dataclass
class Student:
    name: str
    row: dict  # the student's row of the CSV: the grades
    result: GradeResult | None  # from their JSON (None: no JSON found)
    problem: str = ""  # why nothing of theirs was graded, or why their tests are unknown

    @property
    def graded(self) -> bool:
        return self.result is not None and any(ex.tests for ex in self.result.exercises)


def load_class(grades_csv: Path, results: list[Path] | None = None) -> list[Student]:
    """The students of a batch CSV (or of a merged one), each with the results.json found first in
    `results` (default: the CSV's folder)."""
    grades_csv = Path(grades_csv)
    if not grades_csv.is_file():
        raise KitError(f"'{grades_csv}' is not a file: pass the CSV that `python -m grader batch` or `merge` wrote")
    with grades_csv.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        if not {"submission", "total"} <= set(reader.fieldnames or ()):
            raise KitError(f"{grades_csv} does not have the columns of a batch CSV (submission, total, ...)")
    folders = [Path(p) for p in results] if results else [grades_csv.parent]
    students = []
    for row in rows:
        name = row["submission"]
        path = next((d / f"{name}.json" for d in folders if (d / f"{name}.json").is_file()), None)
        if path is None:
            where = ", ".join(str(d) for d in folders)
            students.append(Student(name, row, None, f"no {name}.json in {where} (pass the folders of the "
                                                     f"shards' JSONs with --results): only the CSV's points"))
            continue
        try:
            result = result_from_gradescope(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as err:
            raise KitError(f"{path} is not a results.json that batch wrote ({type(err).__name__}: {err})") from None
        student = Student(name, row, result)
        if not student.graded:  # a folder without code, a zip uploaded: the reason is its first note
            student.problem = next((ex.note for ex in result.exercises if ex.note), "") or "nothing was graded"
        students.append(student)
    return students


def _points(row: dict, column: str) -> float | None:
    value = row.get(column, "")
    return float(value) if value not in ("", None) else None


def graded_exercises(students: list[Student]) -> list[str]:
    """The exercises the batch graded: the CSV's columns that hold points."""
    return [e for e in EXERCISES if any(_points(s.row, e) is not None for s in students)]


# ----------------------------------------------------------------------------------------------
# What the class got wrong.

@dataclass
class Mistake:
    """A kind of failure: the tests of one exercise that failed alike for the same students."""
    exercise: str
    subject: str  # the function the messages name, or the message's shape
    students: list[str]
    tests: list[str] = field(default_factory=list)  # test names ("hidden test 2" for a hidden one)
    messages: list[str] = field(default_factory=list)  # what the students read, one per test
    hidden: bool = False

    @property
    def message(self) -> str:
        return self.messages[0]


NOT_WRITTEN = "not implemented yet"  # how the failure of an untouched stub starts (grader/messages.py)
NOT_RUN = "not run: "  # a test the grader did not run after a stop or a time limit: a consequence, no kind of its own


def _shape(message: str) -> str:
    """A message with what varies from one run or one student to the next taken out: numbers,
    addresses, and the folders of paths (each student's file has its own)."""
    text = re.sub(r"(?:/[\w.+-]+)+/([\w.+-]+)", r"\1", message)
    text = re.sub(r"0x[0-9a-fA-F]+", "0x#", text)
    return re.sub(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", text)


def _function(message: str) -> str:
    """The function a message is about ("not implemented yet: encode: ...", "softmax_with_temperature(
    logits, 0.5): expected ...", "20000 draws of sample_next_token(...)"), or "" where it names none."""
    match = (re.match(r"not implemented yet: ([A-Za-z_]\w*)", message)
             or re.search(r"\b([A-Za-z_]\w*)\(", message[:120]))
    return match.group(1) if match else ""


def _subject(message: str) -> str:
    """The function a message is about, or else its shape."""
    return _function(message) or _shape(message)


@functools.cache
def _contract(exercise: str) -> tuple[str, ...]:
    """The public functions of an exercise (its stub module in exercises/), in the module's order: the
    more basic ones first (sample_next_token calls top_k_filter, defined above it)."""
    path = EXERCISES_DIR / f"{exercise}.py"
    source = path.read_text(encoding="utf-8") if path.is_file() else ""
    return tuple(re.findall(r"^def ([a-z]\w*)\(", source, flags=re.M))


def _basic_first(kind: "Mistake") -> int:
    """Where a kind's function comes in its exercise's module (a kind that names none: last)."""
    functions = _contract(kind.exercise)
    subject = kind.subject.removeprefix("hidden: ")
    return functions.index(subject) if subject in functions else len(functions)


def _hidden_message(function: str) -> str:
    """What the report says of a hidden test's failure: the function it names (the student's own, no
    secret), where it names one, never the test's name or message."""
    about = f" of {function}" if function else ""
    return f"an instructor's hidden test{about} failed (its name and message are not shown)"


def hidden_labels(students: list[Student]) -> dict[tuple[str, str], str]:
    """(exercise, hidden test name) -> "hidden test N": numbered the same way for every student."""
    names = sorted({(ex.name, t.name) for s in students if s.result for ex in s.result.exercises
                    for t in ex.tests if t.hidden})
    numbers: dict[str, int] = defaultdict(int)
    labels = {}
    for exercise, name in names:
        numbers[exercise] += 1
        labels[(exercise, name)] = f"hidden test {numbers[exercise]}"
    return labels


def mistakes(students: list[Student]) -> list[Mistake]:
    """The kinds of failure in the class, the most frequent first, then in the order of the exercises
    and of their functions, the more basic first (a mistake in top_k_filter before the failures it
    causes in sample_next_token). A test's failures with the same message (up to numbers and paths)
    are one; those of one exercise, about the same function and hitting the same students, are one
    kind. A test the grader did not run (after a stop or a time limit) is no kind: its cause is."""
    labels = hidden_labels(students)
    by_test: dict[tuple, dict] = {}
    for s in students:
        if not s.graded:
            continue
        for ex in s.result.exercises:
            for t in ex.tests:
                if t.outcome != "failed" or t.message.startswith(NOT_RUN):
                    continue
                if t.hidden and not t.message.startswith(NOT_WRITTEN):  # a stub's own message says nothing hidden
                    function = _function(t.message)
                    function = function if function in _contract(ex.name) else ""  # never a name of the test's own
                    key = (ex.name, labels[(ex.name, t.name)], "hidden", function)
                    entry = by_test.setdefault(key, {"message": _hidden_message(function), "students": set(),
                                                     "subject": f"hidden: {function}", "hidden": True})
                else:
                    name = labels[(ex.name, t.name)] if t.hidden else t.name
                    key = (ex.name, name, _shape(t.message))
                    entry = by_test.setdefault(key, {"message": t.message, "subject": _subject(t.message),
                                                     "students": set()})
                entry["students"].add(s.name)
    kinds: dict[tuple, Mistake] = {}
    for (exercise, test, *_), entry in by_test.items():
        who = tuple(sorted(entry["students"]))
        kind = kinds.setdefault((exercise, entry["subject"], who),
                                Mistake(exercise, entry["subject"], list(who), hidden=entry.get("hidden", False)))
        kind.tests.append(test)
        kind.messages.append(entry["message"])
    order = {e: i for i, e in enumerate(EXERCISES)}
    return sorted(kinds.values(), key=lambda k: (-len(k.students), order.get(k.exercise, 99), _basic_first(k),
                                                 -len(k.tests), k.message))


@dataclass
class TestRate:
    exercise: str
    test: str  # its name, or "hidden test N"
    failed: int
    graded: int  # students for whom it counted: not skipped, and their function written (not a stub)
    not_written: int = 0  # students whose function was still the stub ("not implemented yet"): left out

    @property
    def rate(self) -> float:
        return self.failed / self.graded if self.graded else 0.0


def failure_rates(students: list[Student]) -> list[TestRate]:
    """Every test, the most often failed first (a test that fails for everyone stands out)."""
    labels = hidden_labels(students)
    rates: dict[tuple[str, str], TestRate] = {}
    for s in students:
        if not s.graded:
            continue
        for ex in s.result.exercises:
            for t in ex.tests:
                if t.outcome == "skipped":
                    continue
                name = labels[(ex.name, t.name)] if t.hidden else t.name
                rate = rates.setdefault((ex.name, name), TestRate(ex.name, name, 0, 0))
                if t.outcome == "failed" and t.message.startswith(NOT_WRITTEN):
                    rate.not_written += 1  # not attempted: says nothing about the test or its docstring
                    continue
                rate.graded += 1
                rate.failed += t.outcome == "failed"
    order = {e: i for i, e in enumerate(EXERCISES)}
    return sorted(rates.values(), key=lambda r: (-r.rate, -r.failed, order.get(r.exercise, 99), r.test))


@dataclass
class ExerciseStats:
    name: str
    share: float  # the points it is worth
    points: list[float]  # one per student with points in the CSV

    @property
    def mean(self) -> float:
        return statistics.fmean(self.points) if self.points else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.points) if self.points else 0.0

    @property
    def at_full_marks(self) -> float:
        return sum(p >= self.share - FULL for p in self.points) / len(self.points) if self.points else 0.0


def exercise_stats(students: list[Student]) -> list[ExerciseStats]:
    """Per graded exercise, then the total, the points of the CSV (the grades, ungradable entries
    as the 0 they got)."""
    chosen = graded_exercises(students)
    stats = [ExerciseStats(e, SHARES[e], [p for s in students if (p := _points(s.row, e)) is not None])
             for e in chosen]
    total = [p for s in students if (p := _points(s.row, "total")) is not None]
    return stats + [ExerciseStats("total", sum(SHARES[e] for e in chosen), total)]


# ----------------------------------------------------------------------------------------------
# The page.

def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def distribution_png(points: list[float], top: float) -> str:
    """A strip plot of the points (one dot per student; a histogram above 40 students), with the
    mean (solid) and the median (dashed), as a base64 PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.6, 0.75), dpi=100)
    ax = fig.add_axes((0.04, 0.36, 0.92, 0.6))
    top = top or 1.0
    if len(points) <= 40:
        jitter = [(i * 0.618034) % 1.0 for i in range(len(points))]  # spread, but the same each time
        ax.scatter(points, jitter, s=22, color="#3b6ea8", alpha=0.75, edgecolors="white", linewidths=0.5)
        ax.set_ylim(-0.3, 1.3)
    else:
        ax.hist(points, bins=20, range=(0, top), color="#3b6ea8")
    if points:
        ax.axvline(statistics.fmean(points), color="#c0392b", linewidth=1.2)
        ax.axvline(statistics.median(points), color="#555555", linewidth=1.2, linestyle="--")
    ax.set_xlim(-0.04 * top, top * 1.04)
    ax.set_xticks([0, top / 2, top])
    ax.set_xticklabels([f"{x:g}" for x in (0, round(top / 2, 2), top)], fontsize=8)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def anchors(students: list[Student]) -> dict[str, str]:
    """Each student's id in the page (student-NAME, made safe and unique)."""
    ids, used = {}, set()
    for i, s in enumerate(students):
        base = "student-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", s.name).strip("-") or str(i))
        while base in used:
            base += f"-{i}"
        used.add(base)
        ids[s.name] = base
    return ids


CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222;
       max-width: 1180px; margin: 0 auto; padding: 0 24px 48px; }
h1 { margin: 20px 0 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
nav a { margin-right: 14px; } .meta { color: #666; margin: 0; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 4px 10px; text-align: left; vertical-align: middle; }
th { background: #f3f4f6; } tr + tr td { border-top: 1px solid #eee; } td.num, th.num { text-align: right; }
code, pre { font: 12px/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.msg { background: #f8f8f8; border-left: 3px solid #c0392b; padding: 6px 10px; margin: 6px 0;
       font: 12.5px/1.45 "DejaVu Sans Mono", Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; }
.mistake { border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px 14px; margin: 12px 0; }
.count { font-weight: 600; font-size: 15px; } .muted { color: #777; }
.bar { display: inline-block; height: 10px; background: #c0392b; vertical-align: middle; }
.full { color: #1e7e34; } .none { color: #c0392b; } .part { color: #b8860b; }
.notice { background: #fff8e1; border: 1px solid #f0d58c; border-radius: 6px; padding: 8px 14px; }
.pair { margin: 14px 0; } .side { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 10px; }
.side pre { background: #fafafa; border: 1px solid #e3e3e3; padding: 8px; overflow: auto; max-height: 420px; margin: 4px 0; }
mark { background: #ffe08a; }
.student { border-top: 1px solid #ddd; padding-top: 6px; margin-top: 18px; }
.fix { margin: 2px 0 2px 18px; } details summary { cursor: pointer; color: #3b6ea8; }
"""


def _student_link(name: str, ids: dict[str, str]) -> str:
    return f'<a href="#{ids[name]}">{html.escape(name)}</a>' if name in ids else html.escape(name)


def _summary_section(students: list[Student]) -> list[str]:
    out = ['<h2 id="exercises">How the class did, per exercise</h2>',
           '<table><tr><th>Exercise</th><th class="num">Points</th><th class="num">Mean</th><th class="num">Median</th>'
           '<th class="num">At full marks</th><th>Distribution (a dot per student; red: mean, dashed: median)</th></tr>']
    for st in exercise_stats(students):
        name = "<b>Total</b>" if st.name == "total" else html.escape(st.name)
        out.append(f'<tr><td>{name}</td><td class="num">{_fmt(st.share)}</td><td class="num">{st.mean:.1f}</td>'
                   f'<td class="num">{st.median:.1f}</td><td class="num">{_pct(st.at_full_marks)}</td>'
                   f'<td><img alt="distribution of {html.escape(st.name)}" '
                   f'src="data:image/png;base64,{distribution_png(st.points, st.share)}"></td></tr>')
    out.append("</table>")
    ungraded = sum(not s.graded for s in students)
    if ungraded:  # the grades as the CSV has them: say so, since the mistakes below count graded students only
        out.append(f'<p class="muted">Over all {len(students)} students: the {ungraded} not graded count as 0 '
                   f'(the CSV\'s grades).</p>')
    return out


def _not_graded_section(students: list[Student], entries: list[str], ids: dict[str, str]) -> list[str]:
    missing = [s for s in students if s.problem]
    if not missing and not entries:
        return []
    out = ['<h2 id="not-graded">Not graded</h2><ul>']
    out += [f"<li>{_student_link(s.name, ids)}: {html.escape(s.problem)}</li>" for s in missing]
    out += [f"<li>{html.escape(line)}</li>" for line in entries]
    out.append("</ul>")
    return out


def _mistakes_section(students: list[Student], ids: dict[str, str], limit: int = 40) -> list[str]:
    every = mistakes(students)
    kinds = [k for k in every if not k.message.startswith(NOT_WRITTEN)]
    out = ['<h2 id="mistakes">The most common mistakes</h2>',
           '<p class="muted">Failures that read alike (the same message, numbers aside) in the tests of one '
           'exercise, about the same function, for the same students: the most frequent first. The message is '
           'the one the students read; hidden tests are counted, never shown.</p>']
    if not every:
        out.append("<p>No test failed.</p>")
    elif not kinds:
        out.append("<p>No mistakes, only functions not written yet (below).</p>")
    graded = sum(s.graded for s in students) or 1
    for kind in kinds[:limit]:
        who = ", ".join(_student_link(n, ids) for n in kind.students)
        tests = ", ".join(f"<code>{html.escape(t)}</code>" for t in kind.tests[:6])
        if len(kind.tests) > 6:
            tests += (f" <details><summary>and {len(kind.tests) - 6} more</summary>"
                      + ", ".join(f"<code>{html.escape(t)}</code>" for t in kind.tests[6:]) + "</details>")
        out.append(f'<div class="mistake"><span class="count">{len(kind.students)} of {graded} students</span> '
                   f'<span class="muted">&middot; {html.escape(kind.exercise)} &middot; {len(kind.tests)} '
                   f'test{"s" if len(kind.tests) > 1 else ""}</span>'
                   f'<div class="msg">{html.escape(kind.message)}</div>'
                   f"<div>Students: {who}</div><div>Tests: {tests}</div>")
        others = [(t, m) for t, m in zip(kind.tests[1:], kind.messages[1:]) if m != kind.message]
        if others and not kind.hidden:
            out.append(f"<details><summary>what {len(others)} of its other tests said</summary>")
            out += [f'<div class="msg"><b>{html.escape(t)}</b>: {html.escape(m)}</div>' for t, m in others]
            out.append("</details>")
        out.append("</div>")
    if len(kinds) > limit:
        out.append(f'<p class="muted">{len(kinds) - limit} rarer kinds are left out here; each student\'s section '
                   f"below has all of their messages.</p>")
    # Stubs left as they were are no misconception: one line per function, with who left it.
    unwritten: dict[tuple[str, str], set[str]] = {}
    for k in every:
        if k.message.startswith(NOT_WRITTEN):
            unwritten.setdefault((k.exercise, k.subject), set()).update(k.students)
    if unwritten:
        order = {e: i for i, e in enumerate(EXERCISES)}
        out.append('<h3>Not written yet</h3><table><tr><th>Exercise</th><th>Function</th><th class="num">Students'
                   "</th><th>Who</th></tr>")
        for (exercise, function), who in sorted(unwritten.items(), key=lambda kv: (-len(kv[1]), order.get(kv[0][0], 99),
                                                                                  kv[0][1])):
            out.append(f"<tr><td>{html.escape(exercise)}</td><td><code>{html.escape(function)}</code></td>"
                       f'<td class="num">{len(who)}</td><td>{", ".join(_student_link(n, ids) for n in sorted(who))}'
                       f"</td></tr>")
        out.append("</table>")
    return out


def _rates_table(rates: list[TestRate]) -> list[str]:
    out = ['<table><tr><th>Exercise</th><th>Test</th><th class="num">Failed</th><th>Rate</th>'
           '<th class="num">Not written yet</th></tr>']
    for r in rates:
        out.append(f"<tr><td>{html.escape(r.exercise)}</td><td><code>{html.escape(r.test)}</code></td>"
                   f'<td class="num">{r.failed} / {r.graded}</td><td><span class="bar" '
                   f'style="width:{round(120 * r.rate)}px"></span> {_pct(r.rate)}</td>'
                   f'<td class="num">{r.not_written or ""}</td></tr>')
    return out + ["</table>"]


def _rates_section(students: list[Student], shown: int = 12) -> list[str]:
    rates = failure_rates(students)
    failing = [r for r in rates if r.failed]
    out = ['<h2 id="tests">Tests by failure rate</h2>',
           '<p class="muted">A test that fails for nearly everyone may be broken, or its docstring unclear. '
           'Students whose function is still the stub are not counted in the rate ("not written yet").</p>']
    out += _rates_table(failing[:shown])
    if len(failing) > shown:
        out.append(f"<details><summary>the {len(failing) - shown} other tests that failed at least once</summary>")
        out += _rates_table(failing[shown:])
        out.append("</details>")
    passing = [r for r in rates if not r.failed]
    if passing:
        out.append(f"<details><summary>{len(passing)} tests passed for every student graded on them</summary><p>")
        out.append(", ".join(f"<code>{html.escape(r.exercise)}: {html.escape(r.test)}</code>" for r in passing))
        out.append("</p></details>")
    return out


def _similarity_section(pairs, compared: int, threshold: float, csv_path: Path | None, note: str,
                        ids: dict[str, str], rows: int = 100) -> list[str]:
    from .similarity import MIN_SHARED, NOISE, SHOWN

    limit = SHOWN

    out = ['<h2 id="similarity">Submissions that share code</h2>',
           '<p class="notice"><b>A prompt to look, never a verdict.</b> Similar code can be written independently '
           "(short functions, the docstrings' own hints, a common tutorial), and copied code can be rewritten "
           "past any detector. Read the code side by side, and talk to the students, before concluding anything."
           "</p>",
           f'<p class="muted">Each exercise module compared with the same module of every other student by '
           f"copydetect (MOSS-style winnowing over normalised code: names, strings and comments do not count; "
           f"runs of at least {NOISE} characters), the starter code in exercises/ ignored. Listed: the pairs whose "
           f"shared code is at least {_pct(threshold)} of either file and at least {MIN_SHARED} characters.</p>"]
    if note:
        out.append(f"<p>{html.escape(note)}</p>")
        return out
    out.append(f"<p>{compared} submissions compared; {len(pairs)} pair{'s' if len(pairs) != 1 else ''} of files "
               f"at or above the threshold" + (f" (also in <code>{html.escape(str(csv_path))}</code>)." if csv_path
                                                else "."))
    if pairs:
        out.append('<table><tr><th>File</th><th>Students</th><th class="num">Share of the first</th>'
                   '<th class="num">Share of the second</th><th class="num">Characters shared</th></tr>')
        for i, p in enumerate(pairs[:rows]):
            out.append(f"<tr><td><code>{html.escape(p.file)}</code></td><td>"
                       f"{_student_link(p.a, ids)} and {_student_link(p.b, ids)}"
                       f"{f' (<a href=#pair-{i}>side by side</a>)' if i < limit else ''}</td>"
                       f'<td class="num">{_pct(p.share_a)}</td><td class="num">{_pct(p.share_b)}</td>'
                       f'<td class="num">{p.shared}</td></tr>')
        out.append("</table>")
        if len(pairs) > rows:
            out.append(f'<p class="muted">{len(pairs) - rows} less similar pairs: in the CSV.</p>')
    for i, p in enumerate(pairs[:limit]):
        out.append(f'<details class="pair" id="pair-{i}"{" open" if i == 0 else ""}><summary>{html.escape(p.file)}: '
                   f"{html.escape(p.a)} and {html.escape(p.b)} ({_pct(p.score)})</summary><div class=\"side\">"
                   f"<div><b>{html.escape(p.a)}</b><pre>{p.code_a}</pre></div>"
                   f"<div><b>{html.escape(p.b)}</b><pre>{p.code_b}</pre></div></div></details>")
    if len(pairs) > limit:
        out.append(f'<p class="muted">The code of the other {len(pairs) - limit} pairs: open the files the CSV '
                   f"names.</p>")
    return out


def _student_section(s: Student, ids: dict[str, str]) -> list[str]:
    out = [f'<div class="student" id="{ids[s.name]}"><h3>{html.escape(s.name)}</h3>']
    if s.problem:
        out.append(f'<p class="none">{html.escape(s.problem)}</p>')
    if s.result is None:
        points = ", ".join(f"{e}: {s.row[e]}" for e in EXERCISES if s.row.get(e))
        out.append(f"<p>Total {html.escape(s.row.get('total', ''))} ({html.escape(points)})</p></div>")
        return out
    # The table `make grade` prints (grader/report.py), then what to fix, grouped by message.
    result = s.result
    out.append('<table><tr><th>Exercise</th><th class="num">Points</th><th class="num">Tests passed</th></tr>')
    for ex in result.exercises:
        number = task_number(ex.name)
        css = "full" if ex.earned >= ex.share - FULL else ("none" if ex.earned == 0 else "part")
        out.append(f"<tr><td>{number}. {html.escape(ex.name)}</td><td class=\"num {css}\">{_fmt(ex.earned)} / "
                   f"{_fmt(ex.share)}</td><td class=\"num\">{ex.passed} / {len(ex.tests)}</td></tr>")
    out.append(f"<tr><td><b>Total</b></td><td class=\"num\"><b>{_fmt(result.total)} / {_fmt(result.possible)}</b>"
               f"</td><td></td></tr></table>")
    if s.graded:
        out.append(f'<p class="muted">Graded in {result.seconds:.1f} s (its test processes\' time).</p>')
    for ex in result.exercises:
        if ex.note:
            out.append(f'<p><span class="none">{html.escape(ex.name)}</span>: {html.escape(ex.note)}</p>')
        groups = ex.to_fix()
        if groups:
            out.append(f"<div><b>{html.escape(ex.name)}</b> - what to fix:</div>")
        for message, tests in groups.items():
            more = f" (+{len(tests) - 1} more)" if len(tests) > 1 else ""
            out.append(f'<div class="fix"><span class="none">x</span> <code>{html.escape(tests[0].name)}</code>{more}: '
                       f"{html.escape(message)}</div>")
        hidden = [t for t in ex.tests if t.hidden]
        if hidden:
            passed = sum(t.outcome == "passed" for t in hidden)
            out.append(f'<div class="fix">{html.escape(ex.name)}: {passed} of {len(hidden)} hidden tests passed</div>')
    if result.total >= result.possible - FULL and all(t.outcome == "passed" for ex in result.exercises for t in ex.tests):
        out.append('<p class="full">Everything passes.</p>')
    out.append("</div>")
    return out


def _timings(students: list[Student], ids: dict[str, str]) -> list[str]:
    """How long the students' gradings took (their test processes' time, results.json's execution_time): the
    sum, the median and the longest, which points at a submission that hangs."""
    timed = sorted((s.result.seconds, s.name) for s in students if s.graded and s.result.seconds > 0)
    if not timed:
        return []
    seconds = [t for t, _ in timed]
    longest, name = timed[-1]
    return [f'<p class="meta">Grading time: {sum(seconds):.0f} s of test processes in all; per student median '
            f'{statistics.median(seconds):.1f} s, longest {longest:.1f} s ({_student_link(name, ids)}).</p>']


def render(students: list[Student], *, title: str, pairs=(), compared: int = 0, threshold: float = 0.5,
           similarity_csv: Path | None = None, similarity_note: str = "", entries: list[str] = (),
           unread: list[str] = ()) -> str:
    """The whole page, as one string of HTML."""
    ids = anchors(students)
    results = [s.result for s in students if s.result is not None]
    models = sorted({r.model for r in results if r.model}) or ["?"]
    devices = sorted({r.device for r in results if r.device}) or ["?"]
    graded = sum(s.graded for s in students)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>Class report</h1><p class=\"meta\">{html.escape(title)}: {len(students)} students, {graded} graded, "
            f"exercises {html.escape(', '.join(graded_exercises(students)) or 'none')}; model "
            f"{html.escape(', '.join(models))} on {html.escape(', '.join(devices))}; written {when}.</p>",
            *_timings(students, ids),
            '<nav><a href="#exercises">Per exercise</a><a href="#mistakes">Common mistakes</a>'
            '<a href="#tests">Tests by failure rate</a><a href="#similarity">Shared code</a>'
            '<a href="#students">Students</a></nav>']
    body += _summary_section(students)
    body += _not_graded_section(students, list(entries), ids)
    body += _mistakes_section(students, ids)
    body += _rates_section(students)
    body += _similarity_section(list(pairs), compared, threshold, similarity_csv, similarity_note, ids)
    body += [f'<p class="muted">{html.escape(line)}</p>' for line in unread]
    body.append('<h2 id="students">Students</h2>')
    body.append("<p>" + " &middot; ".join(_student_link(s.name, ids) for s in students) + "</p>")
    for s in students:
        body += _student_section(s, ids)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Class report</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


# ----------------------------------------------------------------------------------------------
# Writing it.

@dataclass
class Written:
    report: Path
    similarity_csv: Path | None  # None: the code could not be compared (see the page)
    pairs: int
    seconds: float


def submission_folders(students: list[Student], submissions: Path | None) -> tuple[dict[str, Path], list[str], str]:
    """Each graded student's code folder: from the class folder `submissions` when given (as batch
    found them), else as their JSON names it. Also the entries of the class folder that batch did
    not grade, and a note when no code can be compared."""
    graded = {s.name for s in students if s.graded}
    entries: list[str] = []
    if submissions is not None:
        from .batch import find_submissions

        everyone, entries = find_submissions(Path(submissions))
        folders = {s.name: s.folder for s in everyone if s.folder is not None and s.name in graded}
        entries = [line for line in entries if not line.endswith("gets 0 points")]  # those are listed by name
    else:
        folders = {s.name: Path(s.result.submission) for s in students
                   if s.name in graded and s.result.submission and Path(s.result.submission).is_dir()}
    note = ""
    if graded and not folders:
        note = ("The code was not compared: the submissions' folders named in the JSONs are not here; "
                "pass the class's folder with --submissions DIR.")
    elif len(folders) < 2:
        note = "The code was not compared: fewer than two graded submissions."
    return folders, entries, note


def write_report(grades_csv: Path, out: Path, *, results: list[Path] | None = None, submissions: Path | None = None,
                 threshold: float | None = None) -> Written:
    """The class report of a batch (its CSV and the JSONs beside it, or in `results`) to `out`, and
    the similar pairs to OUT-similarity.csv beside it."""
    from .similarity import DEFAULT_THRESHOLD, similar_pairs
    from .similarity import write_csv as write_pairs

    start = time.monotonic()
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    check_threshold(threshold)
    grades_csv, out = Path(grades_csv), Path(out)
    students = load_class(grades_csv, results)
    folders, entries, note = submission_folders(students, submissions)
    pairs, problems, csv_path = [], [], None
    if not note:
        pairs, problems = similar_pairs(folders, threshold, modules=graded_exercises(students))
        csv_path = out.with_name(f"{out.stem}-similarity.csv")
        write_pairs(pairs, csv_path)
    page = render(students, title=str(grades_csv), pairs=pairs, compared=len(folders), threshold=threshold,
                  similarity_csv=csv_path, similarity_note=note, entries=entries, unread=problems)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return Written(out, csv_path, len(pairs), time.monotonic() - start)


def check_threshold(threshold: float) -> None:
    if not 0 < threshold <= 1:
        raise KitError(f"--similarity-threshold takes a share of the code between 0 and 1 (e.g. 0.5), "
                       f"got {threshold:g}")
