"""Grade a whole class: `python -m grader batch DIR` and `python -m grader merge`.

Every folder directly under DIR is one student's submission: the folder itself laid out like
exercises/, or a copy of the whole kit with its own exercises/ folder (a GitHub Classroom clone),
in which case only that exercises/ folder is graded. All (student, exercise) pairs share one
grading worker and at most --jobs test processes at a time (grader/run.py).

The CSV has one row per student: ``submission``, ``total``, then the points of each exercise
module (grader.points.EXERCISES; empty when --exercise left it out). Beside it, one
``<student>.json`` per student in Gradescope's results.json format holds every test's outcome.

``--shard K/N`` grades every N-th student starting with the K-th (in name order), so a class too
big for one machine spreads over N CI jobs; ``merge`` joins their CSVs into one.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from . import KitError, run_command
from .points import EXERCISES, SHARES


def find_submissions(root: Path) -> list[tuple[str, Path]]:
    """(student name, folder to grade) for every folder directly under `root`, in name order."""
    if not root.is_dir():
        raise KitError(f"batch folder '{root}' does not exist; pass a folder with one subfolder per student")
    found = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        found.append((child.name, child / "exercises" if (child / "exercises").is_dir() else child))
    if not found:
        raise KitError(f"batch folder '{root}' has no subfolders: put one folder per student in it")
    return found


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


def run_batch(root: Path, out: Path, jobs: int = 1, shard: str | None = None, model: str = "default",
              device: str = "auto", exercises=None, timeout: int | None = None, extra_tests=None,
              memory_gb: float | None = None, hidden_visibility: str | None = None, progress: bool = True) -> list[dict]:
    """Grade the submissions under `root`, write the CSV to `out` and the JSONs beside it; return the rows."""
    from . import run
    from .results import HIDDEN_VISIBILITY, write_gradescope
    from .submission import resolve_folder

    k, n = parse_shard(shard)
    students = select_shard(find_submissions(root), k, n)
    chosen = list(exercises or EXERCISES)
    graded, invalid = [], {}
    for name, folder in students:
        try:
            resolve_folder(folder)
            graded.append((name, folder))
        except KitError as err:  # one student's empty folder must not stop the class
            invalid[name] = str(err)
    options = dict(model=model, device=device, exercises=chosen, timeout=timeout or run.DEFAULT_TIMEOUT,
                   jobs=jobs, extra_tests=extra_tests,
                   memory_gb=run.DEFAULT_MEMORY_GB if memory_gb is None else memory_gb)
    results = _grade_with_progress(graded, chosen, options, progress) if graded else []
    by_name = dict(zip([name for name, _ in graded], results))

    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, folder in students:
        result = by_name.get(name)
        if result is None:  # nothing gradable in the folder: zero, and the reason in its JSON
            result = run.GradeResult(submission=str(folder), model=model, device=device, exercises=[
                run.ExerciseResult(name=e, share=SHARES[e], note=invalid[name]) for e in chosen])
        write_gradescope(result, out.parent / f"{name}.json", hidden_visibility or HIDDEN_VISIBILITY)
        points = {ex.name: ex.earned for ex in result.exercises}
        rows.append({"submission": name, "total": _cell(result.total),
                     **{e: _cell(points.get(e)) for e in EXERCISES}})
    _write_csv(out, rows)
    return rows


def _grade_with_progress(graded: list, chosen: list, options: dict, progress: bool) -> list:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .run import grade_many

    total = len(graded) * len(chosen)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), disable=not progress) as bar:
        task = bar.add_task(f"Grading {len(graded)} submissions x {len(chosen)} exercises", total=total)
        return grade_many([folder for _, folder in graded], on_result=lambda *_: bar.advance(task), **options)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["submission", "total", *EXERCISES])
        writer.writeheader()
        writer.writerows(rows)


def merge(out: Path, inputs: list[Path]) -> list[dict]:
    """Join the CSVs of several shards into one, sorted by submission; each student once."""
    rows: dict[str, dict] = {}
    header = ["submission", "total", *EXERCISES]
    for path in inputs:
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
    return merged


def main(argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    parser = argparse.ArgumentParser(prog=f"python -m grader {command}")
    if command == "batch":
        from .__main__ import add_grading_options  # imports torch: `merge` needs only the CSVs

        parser.description = "Grade every submission folder under DIR (one per student)."
        parser.add_argument("dir", metavar="DIR", help="folder with one subfolder per student")
        parser.add_argument("--out", default="grades.csv", metavar="FILE.csv",
                            help="the CSV to write; the per-student JSONs go beside it (default: grades.csv)")
        parser.add_argument("--shard", default=None, metavar="K/N", help="grade only the K-th of N slices of the class")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        add_grading_options(parser)
    else:
        parser.description = "Join the CSVs of several batch shards into one."
        parser.add_argument("inputs", nargs="+", metavar="SHARD.csv")
        parser.add_argument("--out", required=True, metavar="FILE.csv")
    args = parser.parse_args(rest)

    def body() -> int:
        if command == "merge":
            rows = merge(Path(args.out), [Path(p) for p in args.inputs])
            print(f"Merged {len(rows)} submissions into {args.out}.")
            return 0
        rows = run_batch(Path(args.dir), Path(args.out), jobs=args.jobs, shard=args.shard, model=args.model,
                         device=args.device, exercises=args.exercise, timeout=args.timeout,
                         extra_tests=args.extra_tests, memory_gb=args.memory_limit,
                         hidden_visibility=args.hidden_visibility, progress=not args.quiet)
        print(f"Graded {len(rows)} submissions: {args.out} (and one JSON per submission beside it).")
        return 0

    return run_command(body)
