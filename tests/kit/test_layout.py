"""The grader's layout (README "The grader, file by file", docs/grader.md): every file is listed
with its job, no module imports another in a circle, and the modules that only read results or
files start without torch."""
from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest

from grader.submission import REPO

pytestmark = pytest.mark.kit

GRADER = REPO / "grader"
# Reading and writing results, the class's CSVs, hints and the release: no model, so no torch.
# The caller of a grading (run) imports no torch: the worker does, once (docs/grader.md).
WITHOUT_TORCH = ("cli", "run", "devices", "models", "result", "results", "report", "batch", "classreport", "similarity",
                 "channel", "messages", "hints", "record", "release")


def imports(path) -> set[str]:
    """The grader modules `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("grader."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("grader.")}
    return {name for name in found if (GRADER / f"{name}.py").is_file()} - {path.stem}


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle in `graph` (module -> the modules it imports), or []."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return []


def test_the_readme_lists_every_grader_file_once():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `grader/([\w_]+\.py)` \| \S", readme, flags=re.M)
    assert sorted(listed) == sorted(p.name for p in GRADER.glob("*.py")), "README's grader table is out of date"


def test_no_grader_module_imports_another_in_a_circle():
    graph = {path.stem: imports(path) for path in GRADER.glob("*.py")}
    assert graph["batch"] and graph["cli"], "the import graph was not read"
    assert cycle(graph) == []


def test_the_cycle_check_finds_a_cycle():
    graph = {"batch": {"cli"}, "cli": {"run", "batch"}, "run": set()}
    assert cycle(graph) == ["batch", "cli", "batch"]
    assert cycle({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("module", WITHOUT_TORCH)
def test_module_starts_without_torch(module):
    code = f"import sys, grader.{module}; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False", f"importing grader.{module} imports torch"


def test_merge_and_hint_run_without_torch(tmp_path):
    """The commands that need no model never import torch (python -X importtime lists every import)."""
    for args in (["merge", "--help"], ["hint", "sampling.top_p_filter"]):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "grader", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert not re.search(r"\|\s+torch$", proc.stderr, flags=re.M), f"python -m grader {args[0]} imported torch"
        assert re.search(r"\|\s+grader\.cli$", proc.stderr, flags=re.M), "the import list was not read"


def test_anchor_tests_are_named_and_marked_alike():
    """An anchor (the reference against transformers itself, never graded) is marked `anchor` and
    named test_anchor_*, in every test file: the name says what the marker does."""
    seen = 0
    for path in sorted((REPO / "tests").glob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                marked = any("mark.anchor" in ast.unparse(d) for d in node.decorator_list)
                assert marked == node.name.startswith("test_anchor_"), f"{path.name}::{node.name}"
                seen += marked
    assert seen >= 5, "no anchor tests found"


def test_snapshot_comparison_tells_a_moved_grade_from_a_reworded_message():
    """tests/kit/snapshot.py --compare, which shows that a change to the grader moved no grade."""
    import snapshot

    def entry(outcome: str, points: float, message: str) -> dict:
        return {"tokenization": {"earned": points, "note": "", "tests": [["t::a", outcome, points, message]]}}

    before = {"same": entry("passed", 1.0, ""), "moved": entry("passed", 1.0, ""),
              "reworded": entry("failed", 0.0, "x")}
    after = {"same": entry("passed", 1.0, ""), "moved": entry("failed", 0.0, "x"),
             "reworded": entry("failed", 0.0, "y"), "new": entry("passed", 1.0, "")}
    assert snapshot.compare(before, after) == (["moved", "new"], ["reworded"])


def test_the_readme_s_captured_tables_count_the_tests_there_are():
    """The README's captured `make grade` tables (default model) give each exercise's number of graded tests:
    they must be the numbers a grading counts today, or a student compares with a table that is not theirs."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "points", "--model", "default",
                           "--submission", "exercises", "-p", "no:randomly", "tests"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    counts: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        found = re.match(r"tests/test_(\w+)\.py::", line)
        if found:
            counts[found.group(1)] = counts.get(found.group(1), 0) + 1
    assert counts, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = re.findall(r"│ \d\. (\w+)\s+│[^│]+│\s+\d+ / (\d+) │", (REPO / "README.md").read_text(encoding="utf-8"))
    assert rows, "the README has no captured table"
    wrong = [(name, int(shown), counts.get(name)) for name, shown in rows if int(shown) != counts.get(name)]
    assert not wrong, f"(exercise, tests in the README, tests now): {wrong}"


def test_every_exercise_has_a_typical_duration():
    """The order in which a grading starts its tasks (grader/run.py) knows every exercise."""
    from grader.points import EXERCISES
    from grader.run import TYPICAL_SECONDS

    assert set(TYPICAL_SECONDS) == set(EXERCISES)
