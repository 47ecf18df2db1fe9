"""The student release (`python -m grader release DIR`, grader/release.py) holds no solution, and
works on its own: its grader, run from its folder with its recordings and without solutions/,
gives the untouched stubs 0 and the reference's files, copied into its exercises/, 100."""
from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.points import TOTAL
from grader.submission import REPO, SOLUTIONS_DIR

pytestmark = pytest.mark.kit


def run_in(folder: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=folder, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "textgen-release"
    proc = run_in(REPO, "-m", "grader", "release", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def normalised(source: str) -> str:
    """Code without comments, docstrings' surroundings and whitespace, for a textual search."""
    lines = [line.split("#", 1)[0].strip() for line in source.splitlines()]
    return re.sub(r"\s+", "", "".join(lines))


def solution_bodies() -> dict[str, str]:
    """Every function body of solutions/ (docstring left out), normalised, by qualified name."""
    found = {}
    for path in sorted(SOLUTIONS_DIR.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) is not None else node.body
                text = "\n".join(ast.get_source_segment(source, statement) for statement in body)
                if len(normalised(text)) >= 40:  # one-liners like `return float(x)` prove nothing
                    found[f"{path.stem}.{node.name}"] = normalised(text)
    return found


def test_release_has_what_students_need_and_nothing_of_the_answers(release):
    files = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()}
    for needed in ("Makefile", "README.md", "pyproject.toml", "exercises/sampling.py", "tests/test_sampling.py",
                   "tests/checks.py", "tests/expectations/default/test_decoding.json", "grader/run.py",
                   "notebooks/walkthrough.ipynb", ".github/workflows/classroom.yml", "benchmarks/test_bench_decoding.py"):
        assert needed in files, needed
    assert not [f for f in files if f.startswith(("solutions/", "tests/wrong/", "tests/variants/",
                                                  "tests/adversarial/", "tests/kit/"))]
    readme = (release / "README.md").read_text()
    assert "solutions/" not in readme and "kit-only" not in readme and "release-only" not in readme
    makefile = (release / "Makefile").read_text()
    assert "\ngrade:" in makefile and "\ntest:" not in makefile and "student-release" not in makefile


def test_no_function_body_of_the_reference_is_in_the_release(release):
    bodies = solution_bodies()
    assert len(bodies) >= 12, "the check must see the reference's functions"
    texts = {p.relative_to(release).as_posix(): normalised(p.read_text(encoding="utf-8", errors="replace"))
             for p in release.rglob("*") if p.is_file() and p.suffix in (".py", ".md", ".ipynb", ".yml", ".toml")}
    found = [(name, file) for name, body in bodies.items() for file, text in texts.items() if body in text]
    assert not found, f"reference code in the release: {found}"


def test_the_check_finds_a_body_that_leaked(tmp_path):
    """The search above can fail: a stub that holds the reference's body is found."""
    name, body = next(iter(solution_bodies().items()))
    source = (SOLUTIONS_DIR / f"{name.split('.')[0]}.py").read_text()
    assert body in normalised(source)


def grade_release(release: Path, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    proc = run_in(release, "-m", "grader", "--model", "tiny", "--device", "cpu", "--jobs", "2", "--json", str(out))
    return proc, (json.loads(out.read_text()) if out.exists() else {})


def test_release_grades_its_stubs_zero_and_the_reference_full_marks(release, tmp_path):
    proc, results = grade_release(release, tmp_path / "stubs.json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results["score"] == 0 and "Traceback" not in proc.stdout + proc.stderr
    assert Path(results["extra_data"]["submission"]) == release / "exercises", "graded with the release's own grader"
    assert all("not implemented yet" in t["output"] for t in results["tests"])

    done = tmp_path / "done"
    shutil.copytree(release, done)
    for path in SOLUTIONS_DIR.glob("*.py"):
        shutil.copy(path, done / "exercises" / path.name)
    proc, results = grade_release(done, tmp_path / "reference.json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    failed = [(t["name"], t["output"][:200]) for t in results["tests"] if t["status"] != "passed"]
    assert results["score"] == pytest.approx(TOTAL), failed
    # plain pytest in the release, as a student runs one exercise: the anchors need the
    # reference, which is not there, so they are left out (an empty solutions/ folder is no reference)
    (done / "solutions").mkdir()
    proc = run_in(done, "-m", "pytest", "-m", "sampling", "--model", "tiny", "--device", "cpu", "-q", "-rs")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert " deselected" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-1000:]


def test_release_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "something.txt").write_text("mine")
    proc = run_in(REPO, "-m", "grader", "release", str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "not an empty folder" in proc.stderr


def test_release_refuses_exercises_that_are_no_longer_stubs(tmp_path):
    """An instructor who tried the exercises in the kit's own exercises/ must not hand the answers
    out: the release checks that every public function there still raises NotImplementedError."""
    from grader import KitError
    from grader.release import check_stubs
    from grader.submission import EXERCISES_DIR, SOLUTIONS_DIR

    check_stubs(EXERCISES_DIR)
    shutil.copytree(EXERCISES_DIR, tmp_path / "exercises")
    shutil.copy(SOLUTIONS_DIR / "tokenization.py", tmp_path / "exercises" / "tokenization.py")
    with pytest.raises(KitError, match=r"tokenization.py: encode\(\) is not a stub"):
        check_stubs(tmp_path / "exercises")
