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
    """The reference solutions with one module replaced by `replacement`."""
    folder = tmp_path / "submission"
    shutil.copytree(SOLUTIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(replacement, folder / f"{replacement.parent.name}.py")
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
