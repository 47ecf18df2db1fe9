"""Build the Gradescope autograder zip (`make gradescope`): setup.sh and run_autograder at the root
of the archive, as Gradescope requires, and the kit beside them (grader, graded tests and their
recorded expectations, stubs, pyproject.toml). Never the reference solutions: grading compares with
the recordings in tests/expectations/. With --hidden DIR, everything in DIR (its test files and its
own expectations/ folder) goes in as hidden_tests/, which run_autograder grades as the instructor's
hidden tests. Standard library only."""
from __future__ import annotations

import argparse
import re
import shlex
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
FILES = ["README.md", "conftest.py"]  # README.md: pyproject.toml names it as the project's readme
PACKAGES = ["grader", "exercises"]  # whole folders of .py files; never solutions/
EXPECTATIONS = "tests/expectations"  # the recorded expectations: every file, whatever its kind
RUN_AUTOGRADER_SETS = {"--submission", "--json", "--deadline", "--extra-tests"}  # run_autograder's own


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def members(hidden: Path | None) -> list[tuple[Path, str]]:
    """(file on disk, name in the archive) for everything the autograder needs, but pyproject.toml."""
    found = [(HERE / "setup.sh", "setup.sh"), (HERE / "run_autograder", "run_autograder")]
    found += [(REPO / name, name) for name in FILES if (REPO / name).is_file()]
    for package in PACKAGES:
        found += [(p, p.relative_to(REPO).as_posix()) for p in sorted((REPO / package).rglob("*.py"))
                  if "__pycache__" not in p.parts]
    # The graded tests and their helpers; not the kit's own tests nor its corpora (tests/kit,
    # tests/wrong, tests/variants, tests/adversarial).
    found += [(p, f"tests/{p.name}") for p in sorted((REPO / "tests").glob("*.py"))]
    if (REPO / EXPECTATIONS).is_dir():
        found += [(p, p.relative_to(REPO).as_posix()) for p in _files(REPO / EXPECTATIONS)]
    if hidden is not None:
        found += [(p, f"hidden_tests/{p.relative_to(hidden).as_posix()}") for p in _files(hidden)]
    return found


def pyproject(names: set[str]) -> str:
    """The kit's pyproject.toml, its explicit list of packages cut down to those in the archive (a
    listed package without its folder would make `pip install -e` fail)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")

    def keep(match: re.Match) -> str:
        listed = re.findall(r'"([^"]+)"', match.group(2))
        kept = [p for p in listed if any(n.startswith(p.replace(".", "/") + "/") for n in names)]
        return match.group(1) + "[" + ", ".join(f'"{p}"' for p in kept) + "]"

    return re.sub(r'(?m)^(packages\s*=\s*)\[([^\]\n]*)\]', keep, text, count=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "build" / "gradescope-autograder.zip"), metavar="FILE.zip")
    parser.add_argument("--hidden", default=None, metavar="DIR",
                        help="a folder of hidden test files (test_*.py), with their expectations/ if recorded")
    parser.add_argument("--grader-args", default="", metavar="OPTIONS",
                        help="options of `python -m grader` for every grading, e.g. "
                             "\"--hidden-visibility after_due_date --timeout 120\"")
    args = parser.parse_args(argv)
    try:
        built = shlex.split(args.grader_args)
    except ValueError as err:
        print(f"error: --grader-args {args.grader_args!r}: {err}", file=sys.stderr)
        return 2
    taken = sorted({a.split("=")[0] for a in built} & RUN_AUTOGRADER_SETS)
    if taken:
        print(f"error: --grader-args: run_autograder sets {', '.join(taken)} itself (GRADING_DEADLINE sets "
              f"--deadline)", file=sys.stderr)
        return 2
    hidden = Path(args.hidden).resolve() if args.hidden else None
    if hidden is not None and not any(hidden.rglob("test_*.py")):
        print(f"error: --hidden '{args.hidden}' is not a folder with test_*.py files", file=sys.stderr)
        return 2
    if hidden is not None and not (hidden / "expectations").is_dir():
        print(f"warning: {args.hidden} has no expectations/ folder: its tests that compare with the reference "
              f"will be skipped, and their points left out, unless you record them first "
              f"(make expectations HIDDEN={args.hidden})", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    found = members(hidden)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in found:
            info = zipfile.ZipInfo.from_file(path, name)
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            if name in ("setup.sh", "run_autograder"):
                info.external_attr = (0o100755 << 16)  # executable once unzipped
            if name == "run_autograder" and built:
                line = 'BUILT_ARGS=""  # written by gradescope/build_zip.py --grader-args'
                assert line in data.decode(), "run_autograder lost its BUILT_ARGS line"
                data = data.decode().replace(line, f"BUILT_ARGS={shlex.quote(shlex.join(built))}").encode()
            archive.writestr(info, data)
        archive.writestr(zipfile.ZipInfo.from_file(REPO / "pyproject.toml", "pyproject.toml"),
                         pyproject({name for _, name in found}), zipfile.ZIP_DEFLATED)
    print(f"Wrote {out} ({len(found) + 1} files): upload it as the autograder of a Gradescope assignment.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
