"""The one way the kit's own tests build a submission: a copy of the reference solutions with some
modules in place of its own (a corpus file, an adversarial case, a module with one function broken).

Beside the modules, every built submission holds the corpus's support files, which a case imports
relatively, as a student's module imports another:
- `_reference.py` (with `borrow=`): the reference's version of the module a case replaces, so that
  a case borrows the functions it does not get wrong (`from ._reference import encode`);
- `_forward.py`: one forward pass with the KV cache (tests/kit/corpus_forward.py), so that the
  corpus never spells the cache keyword of one transformers release;
- `_stubs.py`: the kit's untouched tokenization stubs, for adversarial cases whose functions are
  not the point (`from ._stubs import batch_encode, decode, encode, tokens`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from grader.submission import EXERCISES_DIR, SOLUTIONS_DIR

SUPPORT = {"_forward.py": Path(__file__).with_name("corpus_forward.py"),
           "_stubs.py": EXERCISES_DIR / "tokenization.py"}


def submission_with(dest: Path, files: dict[str, Path | str] | None = None, *, borrow: str | None = None) -> Path:
    """The reference solutions copied to `dest`, with `files` in place of their own: each name maps
    to a file to copy, or to the source text to write. `borrow`: an exercise whose reference module
    goes in as `_reference.py`. Returns `dest`."""
    shutil.copytree(SOLUTIONS_DIR, dest, ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in SUPPORT.items():
        shutil.copy(source, dest / name)
    if borrow:
        shutil.copy(SOLUTIONS_DIR / f"{borrow}.py", dest / "_reference.py")
    for name, source in (files or {}).items():
        if isinstance(source, Path):
            shutil.copy(source, dest / name)
        else:
            (dest / name).write_text(source, encoding="utf-8")
    return dest


def case_files(case: Path) -> dict[str, Path]:
    """The files of an adversarial case folder, by the name each takes in the submission: a name
    that starts with `_` loses it (`_conftest.py` becomes `conftest.py`), so that pytest never
    collects a case's own conftest.py or tests from the kit's folders."""
    return {path.name.removeprefix("_"): path for path in sorted(case.iterdir()) if path.is_file()}
