"""The walk-through notebook runs top to bottom (nbclient) with the reference and the tiny model,
so it cannot rot; `check()` prints the grader's points and hints."""
import nbformat
import pytest
from nbclient import NotebookClient

from grader.notebook import check
from grader.points import EXERCISES
from grader.submission import EXERCISES_DIR, REPO, SOLUTIONS_DIR

pytestmark = pytest.mark.kit

NOTEBOOK = REPO / "notebooks" / "walkthrough.ipynb"
# The check cells that really grade here; the others grade the same way and only cost time (the
# reference's full marks on every exercise are proven by tests/kit/test_grader.py).
EXECUTED_CHECKS = ("tokenization", "sampling")


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.fixture(scope="module")
def executed():
    """The notebook after running every cell, as the test suite's Jupyter kernel runs it."""
    with pytest.MonkeyPatch.context() as mp:  # the kernel inherits these
        mp.setenv("TEXTGEN_SUBMISSION", str(SOLUTIONS_DIR))
        mp.setenv("TEXTGEN_MODEL", "tiny")
        mp.setenv("HF_HUB_OFFLINE", "1")
        nb = nbformat.read(NOTEBOOK, as_version=4)
        for cell in nb.cells:
            if cell.source.startswith("check(") and not cell.source.startswith(
                    tuple(f'check("{name}"' for name in EXECUTED_CHECKS)):
                cell.source = f"print({cell.source!r}, 'not run in the kit tests')"
        # raises CellExecutionError, with the cell and its traceback, if any cell fails
        NotebookClient(nb, kernel_name="python3", timeout=600, startup_timeout=300,
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return nb


def test_notebook_is_valid_and_saved_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


def test_notebook_has_a_check_cell_per_exercise():
    sources = [cell.source for cell in nbformat.read(NOTEBOOK, as_version=4).cells]
    for exercise in EXERCISES:
        assert any(s.startswith(f'check("{exercise}"') for s in sources), exercise


def test_notebook_runs_with_the_reference_and_the_checks_give_full_marks(executed):
    checks = {cell.source: outputs_text(cell) for cell in executed.cells if cell.source.startswith("check(")}
    assert len(checks) == len(EXECUTED_CHECKS)
    for source, text in checks.items():
        assert "error:" not in text, f"{source}: {text}"
        assert "Everything passes." in text, f"{source}: {text}"
    setup = outputs_text(executed.cells[2])
    assert "solutions" in setup and "tiny" in setup  # the environment chose the implementation
    images = [out for out in executed.cells[-1].outputs if "image/png" in out.get("data", {})]
    assert len(images) == 2  # the demo's two plots, shown inline


def test_check_prints_points_and_hints(capsys):
    check("tokenization", EXERCISES_DIR, model="tiny", device="cpu")
    out = capsys.readouterr().out
    assert "0 / 10" in out and "what to fix" in out and "not implemented yet" in out
    # what to do next, in a notebook (no shell to activate an environment in)
    assert "run check('tokenization') again" in out and "source .venv" not in out


def test_check_bad_exercise_is_one_line(capsys):
    check("sampler", EXERCISES_DIR, model="tiny")
    out = capsys.readouterr().out
    assert out.startswith("error: unknown exercise 'sampler'") and out.count("\n") == 1
