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


# Every `Returns:` a docstring states (a dtype, a Python type), and the graded test that checks it: the
# docstring's words must be there, and the test must exist. A function whose Returns names a dtype or a
# Python type must have its row here (test_every_documented_return_type_has_a_check).
RETURNS_CHECKED = {
    "tokenization.encode": ("list[int]", "test_encode_returns_list_of_ints"),
    "tokenization.tokens": ("list[str]", "test_tokens_are_vocabulary_spellings"),
    "tokenization.decode": ("str", "test_decode_matches_tokenizer"),
    "tokenization.batch_encode": ("LongTensor", "test_batch_encode_left_padding"),
    "next_token.next_token_probs": ("float32", "test_next_token_probs_shape_dtype_device"),
    "next_token.top_k_next_tokens": ("probability", "test_top_k_next_tokens_sorted"),
    "sampling.sample_next_token": ("LongTensor", "test_sample_next_token_shape_dtype_device"),
    "logprobs.token_logprobs": ("float32", "test_token_logprobs_accepts_a_list_and_returns_float32"),
    "logprobs.continuation_logprobs": ("float32", "test_continuation_logprobs_returns_float32_on_the_model_device"),
    "logprobs.perplexity": ("float", "test_perplexity_matches_reference"),
    "decoding.greedy_decode": ("ids", "test_greedy_decode_matches_reference"),
    "decoding.sample_decode": ("lists", "test_sample_decode_returns_num_samples_lists"),
    "beam_search.beam_search": ("Python float", "test_beam_search_matches_reference"),
}
TYPE_WORDS = re.compile(r"float32|float64|LongTensor|Python float|list\[|\bstr\b|\bfloat\b")


def returns_sections() -> dict[str, str]:
    found = {}
    for path in sorted(EXERCISES_DIR.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                doc = ast.get_docstring(node) or ""
                part = doc.split("Returns:", 1)[1] if "Returns:" in doc else ""
                found[f"{path.stem}.{node.name}"] = re.split(r"\n\s*\n", part.strip(), maxsplit=1)[0]
    return found


def test_every_documented_return_type_has_a_check():
    sections = returns_sections()
    typed = {name for name, text in sections.items() if TYPE_WORDS.search(text)}
    assert typed <= set(RETURNS_CHECKED), f"Returns name a type but no check is listed: {sorted(typed - set(RETURNS_CHECKED))}"
    for name, (words, test) in RETURNS_CHECKED.items():
        module = name.split(".")[0]
        assert words in sections[name], f"{name}: its Returns no longer says {words!r}"
        assert test in graded_tests(module), f"{name}: {test} is not a graded test of tests/test_{module}.py"
        assert checked_by()[module][name.split(".")[1]] >= {test}, f"{name}'s Checked by list does not name {test}"


@pytest.mark.parametrize("module", ["sampling", "decoding"])
def test_every_refused_library_class_is_a_stated_rule(module):
    """The graded tests of these tasks refuse transformers' warpers and processors from the submission's code
    (tests/checks.py refuse_library_answers): the task's module docstring names each one, as off limits."""
    import sys
    sys.path.insert(0, str(REPO / "tests"))
    from checks import LIBRARY_ANSWERS

    doc = ast.get_docstring(ast.parse((EXERCISES_DIR / f"{module}.py").read_text())) or ""
    flat = " ".join(doc.split())
    missing = [name for name in LIBRARY_ANSWERS if f"`{name}`" not in flat]
    assert not missing, f"exercises/{module}.py does not name {missing} as off limits"
    assert "refuses" in flat or "off limits" in flat
