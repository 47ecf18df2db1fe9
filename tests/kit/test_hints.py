"""Hints in levels (grader/hints.py, grader/hints.json): one home per exercise function, shown one
level at a time, the recipes out of the docstrings, and a student release that holds the levels
its course chose."""
from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from grader.hints import HINTS, LEVELS
from grader.submission import EXERCISES_DIR, REPO

pytestmark = pytest.mark.kit


def exercise_functions() -> set[str]:
    found = set()
    for path in EXERCISES_DIR.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                found.add(f"{path.stem}.{node.name}")
    return found


def hint_cli(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "hint", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_every_exercise_function_has_its_levels_and_nothing_else_has():
    assert set(HINTS) == exercise_functions()
    assert all(len(levels) == LEVELS and all(len(text) > 20 for text in levels) for levels in HINTS.values())


def test_one_level_at_a_time():
    one = hint_cli("sampling.top_p_filter")
    assert one.returncode == 0
    assert one.stdout.count(", hint ") == 1 and "--level 2" in one.stdout
    two = hint_cli("sampling.top_p_filter", "--level", "2")
    assert two.stdout.count(", hint ") == 2 and HINTS["sampling.top_p_filter"][1] in two.stdout
    bad = hint_cli("top_p_filter")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    assert "sampling.top_p_filter" in bad.stderr


@pytest.mark.parametrize("module, recipe", [
    ("sampling", "sort the logits in ASCENDING order"),  # the TopPLogitsWarper recipe
    ("sampling", "torch.multinomial(probs, 1, generator=generator)"),
    ("decoding", "torch.manual_seed(s); model.generate("),  # the exact call to match
    ("decoding", "cache = out.cache"),  # the loop's code
])
def test_the_recipes_left_the_docstrings(module, recipe):
    assert recipe not in (EXERCISES_DIR / f"{module}.py").read_text()


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_a_release_holds_the_levels_its_course_chose(tmp_path, levels):
    out = tmp_path / "release"
    proc = subprocess.run([sys.executable, "-m", "grader", "release", str(out), "--hint-levels", str(levels)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    held = json.loads((out / "grader" / "hints.json").read_text())
    assert {len(v) for v in held.values()} == {levels}
    assert hint_cli("sampling.top_p_filter", "--level", str(levels), cwd=out).returncode == 0
    if levels < LEVELS:
        # a refusal the student asked for is an answer: the levels the course gives, one line, exit 0
        refused = hint_cli("sampling.top_p_filter", "--level", str(levels + 1), cwd=out)
        assert refused.returncode == 0 and refused.stdout.count(", hint ") == levels, refused.stdout + refused.stderr
        assert refused.stdout.splitlines()[-1] == (f"No hint {levels + 1}: your course gives hints up to level "
                                                   f"{levels}; ask your instructor for more.")
        assert HINTS["sampling.top_p_filter"][levels] not in (out / "grader" / "hints.json").read_text()
