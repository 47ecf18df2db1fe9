"""The grader is proven, not assumed: known-wrong implementations lose points in their own
exercise, correct variants keep full marks (see tests/wrong/README.md)."""
import shutil
from pathlib import Path

import pytest

from grader.run import DEFAULT_JOBS, grade, grade_many
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


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory) -> dict:
    """The selected corpus entries, each graded in its own exercise: one grading worker per
    exercise for all its entries (a forked test process each), instead of one worker per entry."""
    chosen = {item.callspec.params["path"] for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec")}
    by_exercise: dict[str, list[Path]] = {}
    for path in sorted(chosen):
        by_exercise.setdefault(path.parent.name, []).append(path)
    results = {}
    for exercise, paths in by_exercise.items():
        folders = [submission_with(tmp_path_factory.mktemp(path.stem), path) for path in paths]
        graded_all = grade_many(folders, model="tiny", device="cpu", exercises=[exercise], jobs=DEFAULT_JOBS)
        results.update((path, result.exercise(exercise)) for path, result in zip(paths, graded_all))
    return results


@pytest.mark.parametrize("path", WRONG, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_wrong_implementation_loses_points(path, graded):
    ex = graded[path]
    failed = [t for t in ex.tests if t.outcome != "passed"]
    assert ex.earned < ex.share, f"{path.name} kept full marks in {ex.name}"
    assert failed and all(t.message for t in failed), "every failure must carry a message for the student"
    assert not any(t.message.startswith("not implemented") for t in failed)
    # every mistake the tests know about comes with advice: a hint, or what a refusal tells to do
    advice = (" - hint: ", "write your own code", "write the decoding loop yourself")
    assert any(a in t.message for t in failed for a in advice), f"no hint for {path.name}: {failed[0].message}"


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_correct_variant_keeps_full_marks(path, graded):
    ex = graded[path]
    assert ex.earned == pytest.approx(ex.share), [t.message for t in ex.tests if t.outcome != "passed"]


def test_importing_the_reference_scores_zero_with_a_message(tmp_path):
    path = HERE / "wrong" / "tokenization" / "imports_solutions.py"
    ex = grade(submission_with(tmp_path, path), model="tiny", device="cpu",
               exercises=["tokenization"]).exercise("tokenization")
    assert ex.earned == 0
    assert {t.message for t in ex.tests} == {
        "tokenization.py imports the reference solutions: write your own code (importing solutions scores zero)"}
