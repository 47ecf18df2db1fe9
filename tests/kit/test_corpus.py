"""The grader is proven, not assumed: known-wrong implementations lose points in their own
exercise, correct variants keep full marks (see tests/wrong/README.md)."""
import ast
from pathlib import Path

import pytest
from make_submission import submission_with

from grader.result import FLOOR, ExerciseResult, TestResult, rule_of, score
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
    """The selected corpus entries, each graded in its own exercise only, all by one grading worker
    (a forked test process each), instead of one worker per entry or per exercise."""
    chosen = sorted({item.callspec.params["path"] for item in request.session.items
                     if item.module is request.module and hasattr(item, "callspec")})
    folders = [corpus_submission(tmp_path_factory.mktemp(path.stem), path) for path in chosen]
    graded_all = grade_many([(folder, [path.parent.name]) for folder, path in zip(folders, chosen)],
                            model="tiny", device="cpu", jobs=DEFAULT_JOBS)
    return {path: result.exercise(path.parent.name) for path, result in zip(chosen, graded_all)}


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


@pytest.mark.parametrize("path", WRONG, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_wrong_implementation_loses_at_least_the_floor(path, graded):
    """Each broken documented rule (a graded test function) costs at least FLOOR of its exercise's share
    (grader/result.py): the corpus entry keeps at most (1 - FLOOR * rules broken) of it."""
    ex = graded[path]
    broken = {rule_of(t.nodeid) for t in ex.tests if t.outcome == "failed"}
    assert ex.earned <= ex.share * max(0.0, 1 - FLOOR * len(broken)) + 1e-4, (path.name, ex.earned, sorted(broken))


def _scored(share: float, cases: list[tuple[str, float, str]]) -> ExerciseResult:
    ex = ExerciseResult("e", share, [TestResult(n, "e", w, outcome) for n, w, outcome in cases])
    score(ex)
    return ex


def test_the_floor_moves_nothing_without_a_failure_and_keeps_the_share():
    """grader/result.py's floor alone: no failure, the weights' proportions; one failed case of 27 costs FLOOR of
    the share; every test failed, 0; a rule that already costs more than the floor costs what its weights say;
    a skipped test is left out."""
    tests = [(f"t.py::test_a[{i}]", 1.0, "passed") for i in range(27)] + [("t.py::test_b", 3.0, "passed")]
    whole = _scored(10, tests)
    assert whole.earned == pytest.approx(10) and [t.max_score for t in whole.tests][-1] == pytest.approx(1.0)
    broken = _scored(10, tests[:26] + [("t.py::test_a[26]", 1.0, "failed")] + tests[27:])
    assert sum(t.max_score for t in broken.tests) == pytest.approx(10, abs=1e-9)
    assert broken.earned == pytest.approx(10 * (1 - FLOOR), abs=1e-4)
    two = _scored(10, [(n, w, "failed" if n in ("t.py::test_a[0]", "t.py::test_b") else o) for n, w, o in tests])
    assert two.earned == pytest.approx(10 * (1 - FLOOR) - 1.0, abs=1e-3)  # test_b's 1.0 is above the floor already
    assert _scored(10, [(n, w, "failed") for n, w, _ in tests]).earned == 0
    heavy = _scored(10, [("t.py::test_a", 9.0, "failed"), ("t.py::test_b", 1.0, "passed")])
    assert heavy.earned == pytest.approx(1.0)
    skipped = _scored(10, [("t.py::test_a", 1.0, "skipped"), ("t.py::test_b", 1.0, "passed")])
    assert skipped.earned == pytest.approx(10) and skipped.tests[0].max_score == 0


# A mistake that breaks a more basic property (a row's length, the cache) is named by that property on every
# test it fails, with one hint (so the report groups it), rather than by each test's own hint. Entry -> (the
# hint's words, the test functions whose own check is that property or says something else on purpose).
NAMED_FIRST = {
    HERE / "wrong" / "beam_search" / "cache_not_reordered.py": (
        "reorder the cache by the chosen beams every step",
        {"test_beam_search_scores_are_length_normalised_log_probs", "test_beam_search_uses_the_kv_cache_in_one_batch"}),
    HERE / "wrong" / "decoding" / "samples_one_token_too_many.py": (
        "stop after max_new_tokens steps", {"test_sample_decode_zero_new_tokens"}),
}


def test_a_refused_library_call_is_one_entry_that_names_where(graded):
    """Calling a warper the function is checked against is one mistake, however many tests (of other functions
    too) it fails: one entry of what to fix, naming the function and line that call it, with no test's own hint."""
    ex = graded[HERE / "wrong" / "sampling" / "uses_transformers_warpers.py"]
    entries = [message for message in ex.to_fix() if "TopKLogitsWarper" in message]
    assert len(entries) == 1, entries
    assert "TopKLogitsWarper in top_k_filter (sampling.py line " in entries[0] and " - hint: " not in entries[0]


@pytest.mark.parametrize("path", list(NAMED_FIRST), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_basic_mistake_is_named_first(path, graded):
    words, others = NAMED_FIRST[path]
    failed = [t for t in graded[path].tests if t.outcome != "passed" and t.name.split("[")[0] not in others]
    assert len(failed) >= 3
    wrong = [f"{t.name}: {t.message}" for t in failed if f" - hint: {words}" not in t.message]
    assert not wrong, wrong


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
