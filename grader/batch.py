"""Grade a whole class: `python -m grader batch DIR` and `python -m grader merge`.

Every folder directly under DIR is one student's submission: the folder itself laid out like
exercises/, or a copy of the whole kit with its own exercises/ folder (a GitHub Classroom clone),
in which case only that exercises/ folder is graded. All (student, exercise) pairs share one
grading worker and at most --jobs test processes at a time (grader/run.py).

Nothing under DIR is skipped silently: each entry that is not graded is named on stderr, and a file
directly under DIR (``henry.zip``, ``erin.py``) stands for a student who has no folder: that student
gets a row with 0 points and the reason in their JSON.

The CSV has one row per student: ``submission``, ``total``, then the points of each exercise
module (grader.points.EXERCISES; empty when --exercise left it out). Beside it, one
``<student>.json`` per student in Gradescope's results.json format holds every test's outcome.

``--shard K/N`` grades every N-th student starting with the K-th (in name order), so a class too
big for one machine spreads over N CI jobs; ``merge`` joins their CSVs into one, and with
``--expect-shards N`` names the shards whose CSV is missing (each CSV in a folder ``shard-K``).
"""
from __future__ import annotations

import csv
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from . import KitError
from .points import EXERCISES


@dataclass
class Student:
    name: str
    folder: Path | None  # None: the student uploaded files, not a folder
    problem: str = ""  # why there is nothing to grade (set for folder None)


def _kind(path: Path) -> str:
    if path.is_dir():
        return "a folder"
    if zipfile.is_zipfile(path):
        return "a zip archive"
    if path.suffix == ".py":
        return "a Python file"
    return "a file"


def _what_to_do(path: Path, name: str) -> str:
    folder = path.parent / name
    if zipfile.is_zipfile(path):
        return f"unzip it into {folder}/ and grade again"
    return f"put the student's files in a folder {folder}/ and grade again"


def find_submissions(root: Path) -> tuple[list[Student], list[str]]:
    """Every student under `root`, in name order: one per folder, and one per other name that only
    loose files directly under `root` carry (``henry.zip``: henry, with nothing to grade). Also one
    line per entry that is not graded, saying why."""
    if not root.exists():
        raise KitError(f"batch folder '{root}' does not exist; pass a folder with one subfolder per student")
    if not root.is_dir():
        what = "unzip it and pass the folder" if zipfile.is_zipfile(root) else "pass the folder"
        raise KitError(f"batch folder '{root}' is {_kind(root)}, not a folder: {what} that holds one subfolder "
                       f"per student")
    entries = sorted(root.iterdir())
    ignored = [p for p in entries if p.name.startswith((".", "_"))]
    folders = [p for p in entries if p.is_dir() and p not in ignored]
    loose = [p for p in entries if not p.is_dir() and p not in ignored]
    if not folders:
        exercise_files = sorted(p.name for p in loose if p.suffix == ".py" and p.stem in EXERCISES)
        if exercise_files:
            raise KitError(f"batch folder '{root}' holds exercise files ({', '.join(exercise_files)}), not one folder "
                           f"per student: grade one submission with `python -m grader --submission {root}`")
        if not loose:
            raise KitError(f"batch folder '{root}' has no subfolders: put one folder per student in it")
    skipped = [f"not graded: {p} ({'a folder' if p.is_dir() else 'a file'} whose name starts with '{p.name[0]}', "
               f"which batch grading skips)"
               for p in ignored]
    students = {p.name: Student(p.name, p / "exercises" if (p / "exercises").is_dir() else p) for p in folders}
    uploads: dict[str, list[Path]] = {}
    for path in loose:
        name = path.name.split(".")[0] or path.name
        if name in students:
            skipped.append(f"not graded: {path} ({_kind(path)} beside the folder {root / name}/, which is graded)")
        else:
            uploads.setdefault(name, []).append(path)
    for name, paths in uploads.items():
        files = ", ".join(f"{p.name} ({_kind(p)})" for p in paths)
        students[name] = Student(name, None, f"uploaded a file, not a folder: {files}; {_what_to_do(paths[0], name)}")
        skipped += [f"not graded: {p} ({_kind(p)}, not a folder): {name} gets 0 points" for p in paths]
    return [students[name] for name in sorted(students)], sorted(skipped)


def parse_shard(spec: str | None) -> tuple[int, int]:
    if not spec:
        return 1, 1
    try:
        k, n = (int(part) for part in spec.split("/"))
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        raise KitError(f"--shard takes K/N with 1 <= K <= N (e.g. 2/4), got {spec!r}")
    return k, n


def select_shard(items: list, k: int, n: int) -> list:
    """The K-th of N interleaved slices: items K-1, K-1+N, K-1+2N, ..."""
    return items[k - 1::n]


def _cell(value: float | None) -> str:
    return "" if value is None else f"{round(value, 4):g}"


def run_batch(root: Path, out: Path, options=None, *, shard: str | None = None, hidden_visibility: str | None = None,
              progress: bool = True, junit_dir: Path | None = None, **fields) -> tuple[list[dict], list[str], list[str]]:
    """Grade the submissions under `root` with `options` (a grader.run.Options, or its fields as
    keywords), write the CSV to `out` and the JSONs beside it (and one JUnit XML file per student
    in `junit_dir`); return the rows, the students whose grading the deadline cut short, and those
    with nothing to grade (a row of zeros each)."""
    from . import run
    from .results import HIDDEN_VISIBILITY, write_gradescope, write_junit
    from .submission import resolve_folder

    k, n = parse_shard(shard)
    everyone, skipped = find_submissions(root)
    for line in skipped:
        print(line, file=sys.stderr)
    students = select_shard(everyone, k, n)
    if not students:
        print(f"note: shard {k}/{n} has no students (the class under {root} has {len(everyone)}, fewer than "
              f"{n} shards): {out} holds the CSV header only", file=sys.stderr)
    options = run.Options.of(options, **fields)
    chosen = list(options.exercises or EXERCISES)
    options.exercises = chosen
    graded, invalid = [], {}
    for student in students:
        if student.folder is None:
            invalid[student.name] = student.problem
            continue
        try:
            resolve_folder(student.folder)
            graded.append((student.name, student.folder))
        except KitError as err:  # one student's empty folder must not stop the class
            invalid[student.name] = str(err)
    results = _grade_with_progress(graded, chosen, options, progress) if graded else []
    by_name = dict(zip([name for name, _ in graded], results))

    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for student in students:
        name = student.name
        folder = student.folder or root / name
        result = by_name.get(name)
        if result is None:  # nothing gradable: zero, and the reason (once) in its JSON
            # on the device the class was graded on, or the one asked for when none was graded
            device = results[0].device if results else options.device
            result = run.not_graded(str(folder), options.model, device, chosen, invalid[name])
        write_gradescope(result, out.parent / f"{name}.json", hidden_visibility or HIDDEN_VISIBILITY)
        if junit_dir is not None:
            write_junit(result, Path(junit_dir) / f"{name}.xml")
        rows.append(csv_row(name, result))
    _write_csv(out, rows)
    cut = [name for name, result in by_name.items() if _cut_by_deadline(result)]
    if cut:  # the deadline is one budget for the whole class: say whom it cost, in the exit status too
        print(f"warning: the --deadline of {options.deadline:g} s (for the whole batch) ran out: {len(cut)} of "
              f"{len(graded)} submissions were not fully graded ({', '.join(cut[:5])}{', ...' if len(cut) > 5 else ''}): "
              f"their rows count the tests not run as failed; grade them again with a longer --deadline",
              file=sys.stderr)
    return rows, cut, sorted(invalid)


def _cut_by_deadline(result) -> bool:
    from .messages import CUT_BY_DEADLINE, OUT_OF_TIME

    return any(t.message in (OUT_OF_TIME, CUT_BY_DEADLINE) for ex in result.exercises for t in ex.tests)


def csv_row(name: str, result) -> dict:
    """A student's row of the batch CSV: the name, the total and the points of each exercise."""
    points = {ex.name: ex.earned for ex in result.exercises}
    return {"submission": name, "total": _cell(result.total), **{e: _cell(points.get(e)) for e in EXERCISES}}


def _grade_with_progress(graded: list, chosen: list, options, progress: bool) -> list:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from .run import grade_many

    total = len(graded) * len(chosen)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), disable=not progress) as bar:
        task = bar.add_task(f"Grading {len(graded)} submissions x {len(chosen)} exercises", total=total)
        return grade_many([folder for _, folder in graded], options, on_result=lambda *_: bar.advance(task))


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["submission", "total", *EXERCISES])
        writer.writeheader()
        writer.writerows(rows)


SHARD_FOLDER = re.compile(r"shard-(\d+)")


def _shard_of(path: Path) -> int | None:
    """K for a CSV in a folder named shard-K (as examples/batch-grading/batch-grading.yml writes them)."""
    for part in reversed(path.parts[:-1]):
        match = SHARD_FOLDER.fullmatch(part)
        if match:
            return int(match.group(1))
    return None


def merge(out: Path, inputs: list[Path], expect_shards: int | None = None) -> tuple[list[dict], list[str]]:
    """Join the CSVs of several shards into one, sorted by submission; each student once. With
    `expect_shards` N, each CSV lies in a folder shard-K, an input that does not exist is a shard
    that did not finish, and the CSV is written from the shards that exist; the second value then
    names each missing shard (one line each)."""
    rows: dict[str, dict] = {}
    header = ["submission", "total", *EXERCISES]
    found: dict[int, Path] = {}
    if expect_shards is not None and expect_shards < 1:
        raise KitError(f"--expect-shards takes the number of shards (1 or more), got {expect_shards}")
    for path in inputs:
        if expect_shards is not None:
            if not path.is_file():
                continue  # a shard that did not finish (or a pattern that matched nothing)
            k = _shard_of(path)
            if k is None:
                raise KitError(f"cannot tell which shard {path} holds: with --expect-shards, put each shard's CSV "
                               f"in a folder named shard-K (K = 1..N)")
            if not 1 <= k <= expect_shards:
                raise KitError(f"{path} is shard {k}, but --expect-shards is {expect_shards}")
            if k in found:
                raise KitError(f"shard {k} is given twice: {found[k]} and {path}")
            found[k] = path
        try:
            with path.open(newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames != header:
                    raise KitError(f"{path} does not have the columns of a batch CSV ({','.join(header)})")
                for row in reader:
                    if row["submission"] in rows:
                        raise KitError(f"submission '{row['submission']}' is in two shards (again in {path})")
                    rows[row["submission"]] = row
        except OSError as err:
            raise KitError(f"cannot read {path}: {err.strerror}") from None
    merged = [rows[name] for name in sorted(rows)]
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(out, merged)
    missing = [f"missing: shard {k} of {expect_shards} (no shard-{k}/ CSV among the inputs): its students "
               f"are not in {out}" for k in range(1, (expect_shards or 0) + 1) if k not in found]
    return merged, missing
