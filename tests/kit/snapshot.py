"""Every graded test's outcome, points and message for the reference, the untouched stubs and every
corpus entry (tests/wrong, tests/variants with the import-form variants, tests/adversarial), as
one JSON file: take one before and one after a change to the grader, and compare them, to show
that the change moved no grade.

    .venv/bin/python tests/kit/snapshot.py before.json      # on the old commit
    .venv/bin/python tests/kit/snapshot.py after.json       # on the new one
    .venv/bin/python tests/kit/snapshot.py --compare before.json after.json

The corpora are built and graded as tests/kit/test_corpus.py and test_isolation.py grade them
(tiny model, CPU); the reference and the stubs with both kit models. About 4 minutes on 2 CPUs.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the kit tests' helpers, as pytest finds them

import test_corpus as corpus  # noqa: E402
import test_isolation as isolation  # noqa: E402

from grader.models import BUILT_IN  # noqa: E402
from grader.run import DEFAULT_JOBS, grade_many  # noqa: E402
from grader.submission import EXERCISES_DIR, SOLUTIONS_DIR  # noqa: E402


def outcomes(result, exercise: str | None = None) -> dict:
    return {ex.name: {"earned": round(ex.earned, 6), "note": ex.note,
                      "tests": [[t.nodeid, t.outcome, round(t.score, 6), t.message] for t in ex.tests]}
            for ex in result.exercises if exercise in (None, ex.name)}


def snapshot() -> dict:
    found = {}
    for model in BUILT_IN:
        reference, stubs = grade_many([SOLUTIONS_DIR, EXERCISES_DIR], model=model, device="cpu", jobs=DEFAULT_JOBS)
        found[f"reference/{model}"], found[f"stubs/{model}"] = outcomes(reference), outcomes(stubs)
    root = Path(tempfile.mkdtemp(prefix="snapshot-"))
    by_exercise: dict[str, list[Path]] = {}
    for path in corpus.WRONG + corpus.VARIANTS + corpus.IMPORT_VARIANTS:
        by_exercise.setdefault(path.parent.name, []).append(path)
    for exercise, paths in by_exercise.items():
        folders = [corpus.corpus_submission(root / f"{p.parent.parent.name}-{exercise}-{p.stem}", p) for p in paths]
        results = grade_many(folders, model="tiny", device="cpu", exercises=[exercise], jobs=DEFAULT_JOBS)
        for path, result in zip(paths, results):
            kind = path.parent.parent.name if path.is_absolute() else "variants"
            found[f"corpus/{exercise}/{kind}/{path.stem}"] = outcomes(result, exercise)
    names = sorted(isolation.CASES)
    folders = [isolation.build(isolation.ADVERSARIAL / name, root / "adversarial" / name) for name in names]
    results = grade_many(folders, model="tiny", device="cpu", exercises=[isolation.EXERCISE],
                         timeout=isolation.TIMEOUT, memory_gb=isolation.MEMORY_GB, jobs=2)
    for name, result in zip(names, results):
        found[f"adversarial/{name}"] = outcomes(result, isolation.EXERCISE)
    return found


def compare(before: dict, after: dict) -> tuple[list[str], list[str]]:
    """(entries whose points or outcomes differ, entries whose messages alone differ)."""
    moved, reworded = [], []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        points = (lambda found: None if found is None else
                  {ex: (v["earned"], [t[:3] for t in v["tests"]]) for ex, v in found.items()})
        if points(old) != points(new):
            moved.append(key)
        elif old != new:
            reworded.append(key)
    return moved, reworded


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        moved, reworded = compare(*(json.loads(Path(p).read_text()) for p in sys.argv[2:4]))
        print(f"points or outcomes differ: {moved or 'none'}\nmessages alone differ: {reworded or 'none'}")
        sys.exit(1 if moved else 0)
    Path(sys.argv[1]).write_text(json.dumps(snapshot(), indent=1, sort_keys=True))
    print(f"wrote {sys.argv[1]}")
