"""Mutation testing of the reference solutions/ with mutmut 3, one exercise at a time.

    .venv/bin/python benchmarks/mutation/run_mutmut.py                  # all six exercises
    .venv/bin/python benchmarks/mutation/run_mutmut.py -e tokenization  # one (repeatable)
    .venv/bin/python benchmarks/mutation/run_mutmut.py --count          # only count the mutants
    .venv/bin/python benchmarks/mutation/run_mutmut.py -e tokenization --show  # diffs of the survivors

Why a wrapper, and not a [tool.mutmut] section in pyproject.toml:

* mutmut 3 reads its configuration only from ./pyproject.toml (or ./setup.cfg), and the test
  selection there is one list for the whole run; per mutant it then runs every test that called
  the mutated function during its stats run. The reference solutions call each other (decoding uses
  sampling, ...), so one run over all graded tests would let, say, the decoding tests kill a
  sampling mutant. Here each exercise gets its own mutmut project (results/mutation/<exercise>/,
  git-ignored through results/): only solutions/<exercise>.py is mutated, and only
  `tests/test_<exercise>.py -m <exercise>` is run, on the tiny model, against `--submission solutions`.
* mutmut 3 copies the project into mutants/, puts mutants/ first on sys.path and runs pytest in
  process from there; its trampolines pick the active mutant by the function's __module__, which
  must be `solutions.<exercise>`. The kit's plugin imports the submission as package `solutions`
  only when the folder is grader.submission.SOLUTIONS_DIR (REPO/solutions, REPO being the folder
  above grader/). So grader/ and conftest.py are copied into mutants/ as well (also_copy): the
  plugin is then imported from mutants/grader (mutants/ precedes the editable install's finder,
  which setuptools appends to sys.meta_path), REPO is mutants/, and `--submission solutions`
  (relative to mutants/) is SOLUTIONS_DIR: the mutated file is imported as solutions.<exercise>,
  the plugin treats it as the reference (expectations mode "check": the recordings in
  tests/expectations are the oracle, since the `ref` fixture is the same mutated module).

mutmut 3 never mutates a decorated function (its trampoline would have to copy the decorator), and
the core functions of the solutions are decorated with @torch.no_grad(). In the staged copy (only
there; solutions/ is never written), `undecorate` turns each top-level `@deco def f` into a plain
`def f` plus `f = deco(f)` at the end of the file: the same module for the tests (the decorator
still wraps the function every caller gets), the same line numbers, and mutmut now mutates `f`.

mutmut keeps its results in results/mutation/<exercise>/mutants/ and reruns only mutants of
functions whose source changed; delete that folder (or pass --fresh) to start over.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXERCISES = ["tokenization", "next_token", "sampling", "decoding", "logprobs", "beam_search"]
WORK = REPO / "results" / "mutation"
MUTMUT = [sys.executable, "-m", "mutmut"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def mutmut_section(exercise: str) -> str:
    return f"""
[tool.mutmut]
source_paths = ["solutions/"]
only_mutate = ["solutions/{exercise}.py"]
also_copy = ["grader/", "conftest.py"]
pytest_add_cli_args = {toml_list(["--submission=solutions", "--model=tiny", "-p", "no:randomly", "-q", "-x"])}
pytest_add_cli_args_test_selection = {toml_list(["-m", exercise, f"tests/test_{exercise}.py"])}
use_git_change_detection = false
"""


def undecorate(source: str) -> str:
    """`@deco` over a top-level `def f` becomes `f = deco(f)` at the end of the module (see above);
    each decorator line becomes a comment, so every line keeps its number."""
    lines = source.splitlines()
    moved = []
    for node in ast.parse(source).body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.decorator_list:
            continue
        wrapped = node.name
        for deco in reversed(node.decorator_list):  # the decorator nearest the def applies first
            wrapped = f"({ast.get_source_segment(source, deco)})({wrapped})"
        for deco in node.decorator_list:
            for i in range(deco.lineno - 1, deco.end_lineno):
                lines[i] = f"# {lines[i].strip()}  (applied at the end of the file, for mutmut)"
        moved.append(f"{node.name} = {wrapped}")
    if not moved:
        return source
    return "\n".join(lines + ["", "", "# decorators moved here by benchmarks/mutation/run_mutmut.py", *moved]) + "\n"


def stage(exercise: str, fresh: bool) -> Path:
    """results/mutation/<exercise>/: a copy of what mutmut needs, with the files' times kept (mutmut
    compares them to skip mutants it already ran)."""
    work = WORK / exercise
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for folder in ("solutions", "grader", "tests"):
        if (work / folder).exists():
            shutil.rmtree(work / folder)
        shutil.copytree(REPO / folder, work / folder, ignore=IGNORE)
    # the exercise's own file, undecorated (the copy keeps the original's time, for mutmut's cache)
    target = work / "solutions" / f"{exercise}.py"
    original = REPO / "solutions" / f"{exercise}.py"
    target.write_text(undecorate(original.read_text(encoding="utf-8")), encoding="utf-8")
    shutil.copystat(original, target)
    shutil.copy2(REPO / "conftest.py", work / "conftest.py")
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    if "[tool.mutmut]" in pyproject:
        raise SystemExit("pyproject.toml has a [tool.mutmut] section: remove it, this script writes one per exercise")
    pyproject += mutmut_section(exercise)
    (work / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    return work


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def count(work: Path, exercise: str) -> int:
    """The number of mutants mutmut generates for solutions/<exercise>.py (its own generator)."""
    code = ("import sys; from mutmut.mutation.file_mutation import mutate_file_contents as m; "
            "p = sys.argv[1]; print(len(m(p, open(p, encoding='utf-8').read()).mutant_names))")
    out = subprocess.run([sys.executable, "-c", code, f"solutions/{exercise}.py"], cwd=work, env=env(),
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def results(work: Path) -> dict[str, str]:
    out = subprocess.run(MUTMUT + ["results", "--all", "true"], cwd=work, env=env(),
                         capture_output=True, text=True, check=True)
    return dict(re.findall(r"^\s+(\S+): (.+)$", out.stdout, re.M))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-e", "--exercise", action="append", choices=EXERCISES,
                        help="exercise to mutate (repeatable; default: all six)")
    parser.add_argument("--max-children", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="mutants tested in parallel (default: half the CPUs)")
    parser.add_argument("--count", action="store_true", help="only count the mutants, run no test")
    parser.add_argument("--show", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    args = parser.parse_args(argv)
    summary, status = {}, 0
    for exercise in args.exercise or EXERCISES:
        work = stage(exercise, args.fresh)
        n = count(work, exercise)
        if args.count:
            print(f"{exercise}: {n} mutants")
            summary[exercise] = {"mutants": n}
            continue
        print(f"== {exercise}: {n} mutants, tests/test_{exercise}.py -m {exercise} --model tiny", flush=True)
        start = time.monotonic()
        run = subprocess.run(MUTMUT + ["run", "--max-children", str(args.max_children)], cwd=work, env=env())
        wall = time.monotonic() - start
        by_name = results(work)
        counts: dict[str, int] = {}
        for s in by_name.values():
            counts[s] = counts.get(s, 0) + 1
        survivors = sorted(name for name, s in by_name.items() if s in ("survived", "no tests", "suspicious"))
        summary[exercise] = {"mutants": len(by_name), "wall_s": round(wall, 1), "mutmut_rc": run.returncode,
                             **counts, "survivors": survivors}
        print(f"== {exercise}: {counts} in {wall:.0f} s (mutmut exit status {run.returncode})")
        for name in survivors:
            print(f"   {by_name[name]}: {name}")
            if args.show:
                show = subprocess.run(MUTMUT + ["show", name], cwd=work, env=env(), capture_output=True, text=True)
                print(show.stdout)
        status = status or run.returncode
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "summary.json"  # the latest figures of every exercise run so far
    merged = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    merged.update(summary)
    path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())
