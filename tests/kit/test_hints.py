"""Hints in levels (grader/hints.py, grader/hints.json): one home per exercise function, shown one
level at a time, the recipes out of the docstrings, and a student release that holds the levels
its course chose."""
from __future__ import annotations

import ast
import re
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


# ----------------------------------------------------------------------------------------------
# Every hint agrees with the pinned libraries and with the code and docstring it describes

API = re.compile(r"\b(torch|tokenizer|model|cache|out|transformers)((?:\.\w+)+)")
CLASS = re.compile(r"\b[A-Z][A-Za-z]*[a-z][A-Z][A-Za-z]*\b")  # CamelCase: TopPLogitsWarper, ValueError


@pytest.fixture(scope="module")
def api_roots():
    """What a hint's dotted names start from, as the pinned versions have them (the tiny model)."""
    import torch
    import transformers

    from grader.models import load

    lm = load("tiny", "cpu")
    ids = lm.tokenizer("The movie", return_tensors="pt").input_ids
    with torch.no_grad():
        out = lm.model(input_ids=ids, use_cache=True)
    return {"torch": torch, "tokenizer": lm.tokenizer, "model": lm.model, "out": out, "cache": out.cache,
            "transformers": transformers}


def hint_texts():
    return [(f"{name}, hint {i + 1}", text) for name, levels in HINTS.items() for i, text in enumerate(levels)]


@pytest.mark.parametrize("where, text", hint_texts(), ids=[w for w, _ in hint_texts()])
def test_every_api_name_a_hint_mentions_exists_in_the_pinned_versions(api_roots, where, text):
    import builtins

    import transformers

    for root, chain in API.findall(text):
        obj = api_roots[root]
        for part in chain.strip(".").split("."):
            if obj is api_roots["out"] and part == "logits":
                break
            assert hasattr(obj, part), f"{where} names {root}{chain}, but {part!r} does not exist " \
                                       f"(transformers {transformers.__version__})"
            obj = getattr(obj, part)
    for name in CLASS.findall(text):
        if name.startswith("SmolLM"):
            continue
        assert hasattr(builtins, name) or hasattr(transformers, name), \
            f"{where} names {name}, which transformers {transformers.__version__} does not have"


# (hint, words it must hold, where the same rule is stated: "exercise" docstring, "solution" source, "test" (the
# graded tests' own generate() call), or a
# transformers object whose source holds it). Numbers and formulas a hint states, checked against their homes.
FORMULAS = [
    ("beam_search.beam_search", "max(2, 1 + number of EOS ids) * num_beams",
     [("exercise", "max(2, 1 + number of EOS ids) * num_beams"), ("solution", "max(2, 1 + len(eos_ids)) * num_beams"),
      ("GenerationMixin._beam_search", "max(2, 1 + n_eos_tokens) * num_beams")]),
    ("beam_search.beam_search", "its number of NEW tokens, EOS included",
     [("exercise", "length = its number of new tokens, EOS included")]),
    ("beam_search.beam_search", "its current number of new tokens",
     [("exercise", "current length ** length_penalty")]),
    ("sampling.top_p_filter", "drop = cum <= 1 - p",
     [("TopPLogitsWarper.__call__", "cumulative_probs <= (1 - self.top_p)")]),
    ("sampling.top_k_filter", "logits < cutoff",
     [("TopKLogitsWarper.__call__", "scores < torch.topk(scores, top_k)[0][..., -1, None]")]),
    ("sampling.repetition_penalty", "torch.where(seen < 0, seen * penalty, seen / penalty)",
     [("RepetitionPenaltyLogitsProcessor.__call__", "torch.where(score < 0, score * self.penalty, score / self.penalty)")]),
    ("logprobs.perplexity", "tokens 2..n", [("exercise", "tokens 2..n")]),
    ("decoding.sample_decode", "top_k=top_k or 0, top_p=top_p or 1.0", [("test", "top_k=top_k or 0, top_p=top_p or 1.0")]),
    ("decoding.sample_decode", "generation_config.pad_token_id, else the tokenizer's, else the first EOS id",
     [("exercise", "`model.generation_config.pad_token_id`, else the tokenizer's pad id, else")]),
]


def _source_of(home: str, module: str) -> str:
    import inspect

    import transformers

    if home == "exercise":
        return " ".join((EXERCISES_DIR / f"{module}.py").read_text().split())
    if home == "test":  # the graded tests' own call of generate()
        return " ".join((REPO / "tests" / f"test_{module}.py").read_text().split())
    if home == "solution":
        return (REPO / "solutions" / f"{module}.py").read_text()
    cls, attr = home.split(".")
    return inspect.getsource(getattr(getattr(transformers, cls), attr))


@pytest.mark.parametrize("name, words, homes", FORMULAS, ids=[f"{n}:{w[:30]}" for n, w, _ in FORMULAS])
def test_a_hint_s_formula_agrees_with_its_docstring_and_code(name, words, homes):
    assert any(words in text for text in HINTS[name]), f"no hint of {name} says {words!r} any more"
    for home, phrase in homes:
        assert phrase in _source_of(home, name.split(".")[0]), f"{name}: {home} no longer says {phrase!r}"


def test_the_beam_hint_s_candidates_are_generate_s():
    """No hint states a candidate count other than the docstring's (the old '2 * num_beams')."""
    for text in HINTS["beam_search.beam_search"]:
        assert re.search(r"(?<!\) )\b2 \* num_beams", text) is None, text
