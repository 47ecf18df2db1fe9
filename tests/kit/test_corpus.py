"""The grader is proven, not assumed: known-wrong implementations lose points in their own
exercise, correct variants keep full marks (see tests/wrong/README.md)."""
import ast
from pathlib import Path

import pytest
from make_submission import submission_with

from grader.run import DEFAULT_JOBS, grade, grade_many
from grader.submission import SOLUTIONS_DIR

pytestmark = pytest.mark.kit

HERE = Path(__file__).resolve().parent.parent
WRONG = sorted((HERE / "wrong").glob("*/*.py"))
VARIANTS = sorted((HERE / "variants").glob("*/*.py"))

# Every form a student may use in decoding.py to import their own sampling.py. Graded from another
# folder (batch, Gradescope), each must reach the submission's own module, never the kit's stubs:
# these variants are the reference's decoding.py with its `from .sampling import ...` rewritten.
IMPORT_FORMS = {
    "relative_module": ("from . import sampling", "{name} = sampling.{attr}"),
    "absolute_module": ("from exercises import sampling", "{name} = sampling.{attr}"),
    "absolute_import": ("import exercises.sampling", "{name} = exercises.sampling.{attr}"),
    "absolute_names": ("", "from exercises.sampling import {attr} as {name}"),
}
IMPORT_VARIANTS = [Path("decoding") / f"imports_sampling_{form}.py" for form in IMPORT_FORMS]


def rewrite_sampling_imports(source: str, form: str) -> str:
    """`source` with every `from .sampling import a, b as c` in the import form `form`."""
    head, bind = IMPORT_FORMS[form]
    lines = source.splitlines()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module == "sampling":
            names = [bind.format(name=alias.asname or alias.name, attr=alias.name) for alias in node.names]
            lines[node.lineno - 1] = "\n".join(([head] if head else []) + names)
    return "\n".join(lines) + "\n"


def corpus_submission(tmp_path: Path, replacement: Path) -> Path:
    """The reference solutions with the module of `replacement`'s exercise replaced by it (and the
    reference's beside it as `_reference.py`: tests/kit/make_submission.py). An IMPORT_VARIANTS
    entry is the reference's own module with its imports rewritten."""
    exercise = replacement.parent.name
    source: Path | str = replacement
    if replacement in IMPORT_VARIANTS:
        form = replacement.stem.removeprefix("imports_sampling_")
        source = rewrite_sampling_imports((SOLUTIONS_DIR / f"{exercise}.py").read_text(), form)
        assert source != (SOLUTIONS_DIR / f"{exercise}.py").read_text(), "no `from .sampling import` to rewrite"
    return submission_with(tmp_path / "submission", {f"{exercise}.py": source}, borrow=exercise)


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
        folders = [corpus_submission(tmp_path_factory.mktemp(path.stem), path) for path in paths]
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


@pytest.mark.parametrize("path", VARIANTS + IMPORT_VARIANTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_correct_variant_keeps_full_marks(path, graded):
    ex = graded[path]
    assert ex.earned == pytest.approx(ex.share), [t.message for t in ex.tests if t.outcome != "passed"]


def test_importing_the_reference_scores_zero_with_a_message(tmp_path):
    path = HERE / "wrong" / "tokenization" / "imports_solutions.py"
    ex = grade(corpus_submission(tmp_path, path), model="tiny", device="cpu",
               exercises=["tokenization"]).exercise("tokenization")
    assert ex.earned == 0
    assert {t.message for t in ex.tests} == {
        "tokenization.py imports the reference solutions: write your own code (importing solutions scores zero)"}


def test_perplexity_through_a_transposed_cross_entropy_keeps_full_marks_on_the_default_model(tmp_path):
    """The variant's log-softmax over a transposed tensor sums in another order: on the default
    model its perplexities differ from the reference's by up to 1.7e-4 relative, which the
    perplexity tolerance (grader/devices.py, measured) must absorb."""
    path = HERE / "variants" / "logprobs" / "cross_entropy.py"
    ex = grade(corpus_submission(tmp_path, path), model="default", device="cpu",
               exercises=["logprobs"]).exercise("logprobs")
    assert ex.earned == pytest.approx(ex.share), [t.message for t in ex.tests if t.outcome != "passed"]


def test_a_mistake_in_sampling_costs_points_in_sampling_only(tmp_path):
    """Decoding is graded with correct sampling functions standing in for the submission's own
    (tests/oracles.py): a sampler that always takes the argmax loses points in sampling, none in
    decoding."""
    argmax = ("\n\ndef sample_next_token(logits, temperature, generator, top_k=None, top_p=None):\n"
              "    return logits.argmax(dim=-1)\n")  # the reference's sampling, with this function wrong
    sampling = (SOLUTIONS_DIR / "sampling.py").read_text() + argmax
    folder = submission_with(tmp_path / "submission", {"sampling.py": sampling})
    result = grade(folder, model="tiny", device="cpu", exercises=["sampling", "decoding"], jobs=DEFAULT_JOBS)
    assert result.exercise("sampling").earned < result.exercise("sampling").share
    decoding = result.exercise("decoding")
    assert decoding.earned == pytest.approx(decoding.share), [t.message for t in decoding.tests if t.outcome != "passed"]
