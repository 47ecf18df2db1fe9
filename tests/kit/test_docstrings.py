"""What students read matches the tests: every "Checked by" list in exercises/ names graded tests
that exist, and every graded test is named in the list of the function it checks."""
from __future__ import annotations

import ast
import re

import pytest

from grader.submission import EXERCISES_DIR, REPO

pytestmark = pytest.mark.kit


def graded_tests(module: str) -> set[str]:
    """The graded test functions (`@pytest.mark.points`) of tests/test_<module>.py."""
    path = REPO / "tests" / f"test_{module}.py"
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            if any("points" in ast.unparse(d) for d in node.decorator_list):
                found.add(node.name)
    return found


def checked_by() -> dict[str, dict[str, set[str]]]:
    """module -> function -> the test names its docstring's "Checked by" list gives."""
    lists = {}
    for path in sorted(EXERCISES_DIR.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                doc = ast.get_docstring(node) or ""
                part = doc.split("Checked by:", 1)[1] if "Checked by:" in doc else ""
                names = set(re.findall(rf"tests/test_{path.stem}\.py::(test_\w+)", part))
                lists.setdefault(path.stem, {})[node.name] = names
    return lists


@pytest.mark.parametrize("module", sorted(p.stem for p in EXERCISES_DIR.glob("*.py") if not p.stem.startswith("_")))
def test_checked_by_lists_match_the_graded_tests(module):
    lists = checked_by()[module]
    assert all(lists.values()), f"exercises/{module}.py: a function without a 'Checked by' list: " \
                                f"{[f for f, names in lists.items() if not names]}"
    named = set().union(*lists.values())
    graded = graded_tests(module)
    assert named <= graded, f"exercises/{module}.py names tests that do not exist: {sorted(named - graded)}"
    assert graded <= named, f"exercises/{module}.py does not name these graded tests: {sorted(graded - named)}"
