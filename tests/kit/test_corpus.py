"""The grader is proven, not assumed: known-wrong implementations lose points in their own
exercise, correct variants keep full marks (see tests/wrong/README.md)."""
import shutil
from pathlib import Path

import pytest

from grader.run import grade
from grader.submission import SOLUTIONS_DIR

pytestmark = pytest.mark.kit

HERE = Path(__file__).resolve().parent.parent
WRONG = sorted((HERE / "wrong").glob("*/*.py"))
VARIANTS = sorted((HERE / "variants").glob("*/*.py"))


def submission_with(tmp_path: Path, replacement: Path) -> Path:
    """A copy of the reference solutions with one module replaced by `replacement`. The replaced
    module's reference stays beside it as `_reference.py`, so that a corpus file can borrow the
    functions it does not get wrong (`from ._reference import encode`)."""
    folder = tmp_path / "submission"
    shutil.copytree(SOLUTIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    exercise = replacement.parent.name
    shutil.copy(folder / f"{exercise}.py", folder / "_reference.py")
    shutil.copy(replacement, folder / f"{exercise}.py")
    return folder


@pytest.mark.parametrize("path", WRONG, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_wrong_implementation_loses_points(path, tmp_path):
    exercise = path.parent.name
    result = grade(submission_with(tmp_path, path), model="tiny", device="cpu", exercises=[exercise])
    ex = result.exercise(exercise)
    failed = [t for t in ex.tests if t.outcome != "passed"]
    assert ex.earned < ex.share, f"{path.name} kept full marks in {exercise}"
    assert failed and all(t.message for t in failed), "every failure must carry a message for the student"
    assert not any(t.message.startswith("not implemented") for t in failed)


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_correct_variant_keeps_full_marks(path, tmp_path):
    exercise = path.parent.name
    result = grade(submission_with(tmp_path, path), model="tiny", device="cpu", exercises=[exercise])
    ex = result.exercise(exercise)
    assert ex.earned == pytest.approx(ex.share), [t.message for t in ex.tests if t.outcome != "passed"]


def test_importing_the_reference_scores_zero_with_a_message(tmp_path):
    path = HERE / "wrong" / "tokenization" / "imports_solutions.py"
    ex = grade(submission_with(tmp_path, path), model="tiny", device="cpu",
               exercises=["tokenization"]).exercise("tokenization")
    assert ex.earned == 0
    assert {t.message for t in ex.tests} == {
        "tokenization.py imports the reference solutions: write your own code (importing solutions scores zero)"}
