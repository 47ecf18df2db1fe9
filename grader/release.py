"""`python -m grader release DIR` (`make student-release OUT=DIR`): the folder a course hands out.

The student release holds what students need to work and to grade themselves offline: the stubs,
the graded tests with their recordings (tests/expectations/), the grader, the demo, the notebook,
the benchmarks, the Makefile and a README written for students; it becomes the GitHub Classroom
template. It holds no solution: no solutions/, no corpus of wrong or variant implementations, no
kit tests, and what the kit's files keep for its maintainers and instructors is left out:

- a Makefile block between ``# kit-only`` and ``# end kit-only`` lines;
- a README block between ``<!-- kit-only -->`` and ``<!-- end kit-only -->``; a block between
  ``<!-- release-only`` and ``end release-only -->`` is kept (it is a comment in the kit);
- pyproject.toml lists no ``solutions`` package;
- grader/hints.json holds the hint levels the course chose (levels 1 and 2 by default).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from . import KitError
from .hints import LEVELS, truncated
from .submission import REPO

DEFAULT_HINT_LEVELS = 2  # level 3 is nearly the answer: a course opts in to ship it

# Whole files and folders (globs from the kit's root), copied as they are.
FILES = [
    "exercises/*.py",
    "grader/*.py",  # grader/hints.json is written apart, with the course's hint levels
    "tests/*.py", "tests/expectations/**/*.json",  # the graded tests and their helpers
    "benchmarks/bench.py", "benchmarks/baselines.py", "benchmarks/conftest.py", "benchmarks/summary.py",
    "benchmarks/test_bench_*.py",
    "notebooks/walkthrough.ipynb",
    "docs/benchmarks.md",
    "conftest.py", ".gitignore",
]
# Never in a release, whatever the globs above say: the answers, and the tools that need them.
NEVER = ("solutions/", "tests/wrong/", "tests/variants/", "tests/adversarial/", "tests/kit/",
         "benchmarks/step_cost.py")
# What GitHub Classroom runs in each student's repository (docs/instructors.md).
CLASSROOM = {"examples/github-classroom/classroom.yml": ".github/workflows/classroom.yml",
             "examples/github-classroom/classroom_result.py": ".github/classroom_result.py"}


def _strip(text: str, start: str, end: str) -> str:
    """`text` without the blocks from a line holding `start` to a line holding `end`."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if not skipping and start in line:
            skipping = True
        elif skipping and end in line:
            skipping = False
        elif not skipping:
            out.append(line)
    if skipping:
        raise KitError(f"a '{start}' block has no '{end}' line")
    return "".join(out)


def student_readme(text: str) -> str:
    text = _strip(text, "<!-- kit-only -->", "<!-- end kit-only -->")
    # release-only blocks are HTML comments in the kit: uncomment them
    text = re.sub(r"<!-- release-only\n(.*?)end release-only -->\n", r"\1", text, flags=re.S)
    return re.sub(r"\n{3,}", "\n\n", text)


def student_makefile(text: str) -> str:
    return _strip(text, "# kit-only", "# end kit-only")


def student_pyproject(text: str) -> str:
    changed = text.replace('packages = ["grader", "exercises", "solutions"]', 'packages = ["grader", "exercises"]')
    if changed == text:
        raise KitError("pyproject.toml: the packages line changed; update grader/release.py")
    return changed


def members() -> list[tuple[Path, str]]:
    """(file in the kit, path in the release) for every file copied as it is."""
    found: dict[str, Path] = {}
    for pattern in FILES:
        for path in sorted(REPO.glob(pattern)):
            name = path.relative_to(REPO).as_posix()
            if path.is_file() and "__pycache__" not in path.parts and not name.startswith(NEVER):
                found[name] = path
    found.update({target: REPO / source for source, target in CLASSROOM.items()})
    return [(path, name) for name, path in sorted(found.items())]


def check_stubs(folder: Path) -> None:
    """Refuse to release an exercises/ folder in which a public function is no longer a stub (its
    body does not end by raising NotImplementedError), e.g. after the instructor tried the
    exercises in the kit's own copy: the release would hand out the answer."""
    import ast

    for path in sorted(Path(folder).glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            last = node.body[-1]
            call = getattr(last, "exc", None)
            name = getattr(getattr(call, "func", call), "id", None)
            if not (isinstance(last, ast.Raise) and name == "NotImplementedError"):
                raise KitError(f"{path.name}: {node.name}() is not a stub (it does not end by raising "
                               f"NotImplementedError), so the release would hand out an answer; restore the "
                               f"stubs first (git checkout exercises/)")


def release(out: Path, hint_levels: int = DEFAULT_HINT_LEVELS) -> list[str]:
    """Write the student release to `out` (which must not exist or be empty); the files written.
    `hint_levels`: the levels of hints it holds (grader/hints.py: level 3 is nearly the answer)."""
    if not 1 <= hint_levels <= LEVELS:
        raise KitError(f"--hint-levels goes from 1 to {LEVELS}, got {hint_levels}")
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise KitError(f"'{out}' already exists and is not an empty folder; give a new folder")
    if REPO in (out, *out.parents):
        raise KitError(f"'{out}' is inside the kit; write the release outside it (e.g. ../textgen-release)")
    check_stubs(REPO / "exercises")
    written = []
    for path, name in members():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        written.append(name)
    for name, transform in (("README.md", student_readme), ("Makefile", student_makefile),
                            ("pyproject.toml", student_pyproject)):
        (out / name).write_text(transform((REPO / name).read_text(encoding="utf-8")), encoding="utf-8")
        written.append(name)
    (out / "grader" / "hints.json").write_text(truncated(hint_levels), encoding="utf-8")
    written.append("grader/hints.json")
    return sorted(written)
