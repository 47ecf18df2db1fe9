"""Build the Gradescope autograder zip (`make gradescope`): setup.sh and run_autograder at the root
of the archive, as Gradescope requires, and the kit beside them (grader, reference solutions,
graded tests, stubs, pyproject.toml). With --hidden DIR, DIR's test files go in as hidden_tests/,
which run_autograder grades as the instructor's hidden tests. Standard library only."""
from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
FILES = ["pyproject.toml", "README.md", "conftest.py"]
PACKAGES = ["grader", "solutions", "exercises"]  # whole folders (pip install -e needs all three)


def members(hidden: Path | None) -> list[tuple[Path, str]]:
    """(file on disk, name in the archive) for everything the autograder needs."""
    found = [(HERE / "setup.sh", "setup.sh"), (HERE / "run_autograder", "run_autograder")]
    found += [(REPO / name, name) for name in FILES if (REPO / name).is_file()]
    for package in PACKAGES:
        found += [(p, p.relative_to(REPO).as_posix()) for p in sorted((REPO / package).rglob("*.py"))]
    # The graded tests and their helpers; not the kit's own tests nor its corpora.
    found += [(p, f"tests/{p.name}") for p in sorted((REPO / "tests").glob("*.py"))]
    if hidden is not None:
        found += [(p, f"hidden_tests/{p.relative_to(hidden).as_posix()}") for p in sorted(hidden.rglob("*.py"))
                  if "__pycache__" not in p.parts]
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "build" / "gradescope-autograder.zip"), metavar="FILE.zip")
    parser.add_argument("--hidden", default=None, metavar="DIR", help="a folder of hidden test files (test_*.py)")
    args = parser.parse_args(argv)
    hidden = Path(args.hidden).resolve() if args.hidden else None
    if hidden is not None and not any(hidden.rglob("test_*.py")):
        print(f"error: --hidden '{args.hidden}' is not a folder with test_*.py files", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in members(hidden):
            info = zipfile.ZipInfo.from_file(path, name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in ("setup.sh", "run_autograder"):
                info.external_attr = (0o100755 << 16)  # executable once unzipped
            archive.writestr(info, path.read_bytes())
    print(f"Wrote {out} ({len(members(hidden))} files): upload it as the autograder of a Gradescope assignment.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
