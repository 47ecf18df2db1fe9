"""Task 4 - greedy and sampled decoding, written as a loop over the model's forward pass.

Graded: the implementation under test against the reference (token ids exactly), against the
properties of decoding (EOS kept and nothing after it, `max_new_tokens` respected, seeds
reproducible, higher temperature more diverse, top-k 1 is greedy), against the work a KV cache
saves (counted forward tokens, never seconds), and against bad input. Every graded test refuses
`model.generate`: the exercise is to write the loop. Anchors (not graded): the reference against
transformers' own `generate()`, so that the reference cannot drift.

EOS on any model: the tiny model is random and practically never emits its EOS token, so tests
that need rows to end make the model stop on ids it does emit, by setting
`model.generation_config.eos_token_id` (what both `generate()` and the exercise stop on) for the
length of the test (`stop_on`). The default model also ends a chat-formatted prompt on its own.

Near ties (greedy ids): a cached and an uncached forward pass, or two batch sizes, may differ in the
last bits of the logits, so when the top two logits of a step are closer than `tol.greedy_tie` a
correct loop may legitimately take the other token. Rule: greedy ids are compared exactly up to
the first step whose top-two logit gap (the reference's own continuation, rescored with one
uncached forward pass over prompt + ids) is below `tol.greedy_tie`; from that step on, only the
length and the validity of the ids are checked (`expect_greedy`). Sampled ids are compared exactly:
a last-bit difference in a probability practically never changes a multinomial draw.
"""
from contextlib import contextmanager
from functools import lru_cache

import pytest
import torch

from checks import (expect_equal, expect_same_ids, expect_type, expect_value_error, fail, hint_on_error,
                    refuse_generate, refuse_library_answers)
from counting import call_once, count_forward_tokens
from oracles import sampling_replaced_by_oracles

pytestmark = pytest.mark.decoding

PLAIN = "The movie was full of"
N = 8  # new tokens in graded tests: short, so the whole file runs in seconds on the tiny model
SHORT = 4  # new tokens where only a property is checked

# (temperature, top_k, top_p, num_samples, seed): plain sampling, each filter, both, an int temperature
SAMPLING = {
    "T1": (1.0, None, None, 4, 0),
    "T0.7-top_k50": (0.7, 50, None, 3, 1),
    "T1.3-top_p0.9": (1.3, None, 0.9, 3, 2),
    "T2-top_k20-top_p0.8": (2, 20, 0.8, 2, 3),
}

KV_HINT = ("after the first step feed only the new token ([batch, 1]) together with the cache "
           "(cache=out.cache); the last new token never needs to be fed back")


def chat_prompt(tokenizer, question: str = "Say yes or no.") -> str:
    """A chat-formatted prompt: the default model answers in a few tokens and then emits EOS."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                         add_generation_prompt=True, tokenize=False)


def prompt_of(case: str, tokenizer) -> str:
    return PLAIN if case == "plain" else chat_prompt(tokenizer)


def seeded(model, seed: int) -> torch.Generator:
    return torch.Generator(device=model.device).manual_seed(seed)


def eos_ids(model) -> list[int]:
    eos = model.generation_config.eos_token_id
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


@contextmanager
def stop_on(model, ids):
    """For the block, the model's generation config names `ids` as its EOS ids (an int or a list)."""
    config = model.generation_config
    before = config.eos_token_id
    config.eos_token_id = ids
    try:
        yield
    finally:
        config.eos_token_id = before


@contextmanager
def no_eos_id(model, tokenizer, token_id: int):
    """For the block, the model's generation config has NO EOS id (None), while the tokenizer's EOS token is
    `token_id`, a token the continuation emits: generate() then runs to max_new_tokens (it never reads the
    tokenizer), and code that falls back to the tokenizer's EOS stops early. Both are restored after."""
    before = tokenizer.eos_token
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(token_id)
    try:
        with stop_on(model, None):
            yield
    finally:
        tokenizer.eos_token = before


NO_EOS_HINT = ("model.generation_config.eos_token_id is None: there is no EOS, so run to max_new_tokens as "
               "generate() does; never fall back to the tokenizer's EOS token")


def generate_rows(model, tokenizer, prompt, max_new_tokens, **kwargs) -> list[list[int]]:
    """generate()'s new ids per row, each cut right after its first EOS (what follows is padding).
    Called through the class, so that it works while `no_generate` refuses the instance's method."""
    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    out = type(model).generate(model, input_ids=ids, attention_mask=torch.ones_like(ids),
                               max_new_tokens=max_new_tokens, **kwargs)
    stops = eos_ids(model)
    rows = []
    for row in out[:, ids.shape[1]:].tolist():
        end = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
        rows.append(row[:end])
    return rows


_GENERATED: dict = {}


def generated(model, tokenizer, prompt: str, max_new_tokens: int, seed: int | None = None, **kwargs):
    """The live check: generate()'s rows, after `torch.manual_seed(seed)` when sampling. Kept per
    model, prompt, settings and EOS ids: several tests start from the same continuation."""
    key = (id(model), prompt, max_new_tokens, seed, repr(sorted(kwargs.items())),
           repr(model.generation_config.eos_token_id))
    if key not in _GENERATED:
        if seed is not None:
            torch.manual_seed(seed)
        _GENERATED[key] = generate_rows(model, tokenizer, prompt, max_new_tokens, **kwargs)
    return [list(row) for row in _GENERATED[key]]


def expected_greedy(expected, model, tokenizer, prompt: str, max_new_tokens: int) -> list[int]:
    """The greedy continuation: recorded, or generate(do_sample=False) live."""
    return expected(lambda ref: ref.decoding.greedy_decode(model, tokenizer, prompt, max_new_tokens),
                    oracle=lambda: generated(model, tokenizer, prompt, max_new_tokens, do_sample=False)[0])


def first_seen_at(ids: list[int], step: int) -> int:
    """The first step >= `step` whose token does not occur earlier in `ids` (so stopping on that
    token stops exactly there)."""
    return next(i for i in range(step, len(ids)) if ids[i] not in ids[:i])


@lru_cache(maxsize=64)
@torch.no_grad()
def steps_safe_to_compare(model, tokenizer, prompt: str, ids: tuple[int, ...], gap: float) -> int:
    """How many leading greedy steps must match exactly: those before the first step whose top two
    logits are closer than `gap`, rescoring prompt + `ids` with one uncached forward pass."""
    if not ids:
        return 0
    prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    full = torch.cat([prompt_ids, torch.tensor([list(ids)], device=model.device)], dim=1)
    start = prompt_ids.shape[1] - 1  # the logits at position i score the token at i + 1
    logits = model(input_ids=full).logits[0, start:start + len(ids)].float()
    top2 = logits.topk(2, dim=-1).values
    close = (top2[:, 0] - top2[:, 1]) < gap
    return int(close.int().argmax()) if close.any() else len(ids)


def expect_greedy(got, want: list[int], model, tokenizer, prompt: str, max_new_tokens: int, tol,
                  what: str, hint: str) -> None:
    """`got` equals the greedy continuation `want` under the near-ties rule (module docstring)."""
    expect_at_most(got, max_new_tokens, what)
    safe = steps_safe_to_compare(model, tokenizer, prompt, tuple(want), tol.greedy_tie)
    if safe == len(want):
        expect_same_ids(got, want, what, hint)
        return
    expect_same_ids(got[:safe] if isinstance(got, list) else got, want[:safe], what, hint)
    expect_valid(got, model, max_new_tokens, what)


def expect_valid(rows, model, max_new_tokens: int, what: str) -> None:
    """Each row: a list of ids in the vocabulary, at most `max_new_tokens`, nothing after an EOS."""
    vocab = model.get_output_embeddings().weight.shape[0]
    stops = eos_ids(model)
    for row in rows if rows and isinstance(rows[0], list) else [rows]:
        expect_type(row, list, what, "return a plain list of ints per continuation (.tolist())")
        if len(row) > max_new_tokens:
            fail(what, f"max_new_tokens={max_new_tokens}, got {len(row)} new tokens", LENGTH_HINT)
        if not all(type(i) is int and 0 <= i < vocab for i in row):
            fail(what, f"expected token ids (ints in 0..{vocab - 1}), got {row[:8]}", "convert with .tolist()")
        ends = [i for i, t in enumerate(row) if t in stops]
        if ends and ends[0] != len(row) - 1:
            fail(what, f"EOS at step {ends[0]} is followed by {len(row) - 1 - ends[0]} more tokens",
                 "stop right after the first EOS (keep the EOS id, drop what follows)")


def greedy_once(impl, model, tokenizer, prompt: str, max_new_tokens: int):
    """`impl.decoding.greedy_decode(model, tokenizer, prompt, max_new_tokens)` once: (ids, work)."""
    decode = impl.decoding.greedy_decode
    return call_once(model, (decode, prompt, max_new_tokens), lambda: decode(model, tokenizer, prompt, max_new_tokens))


def samples_once(impl, model, tokenizer, prompt: str, max_new_tokens: int, temperature, seed: int, num_samples: int,
                 top_k=None, top_p=None):
    """`impl.decoding.sample_decode(...)` with a generator seeded `seed`, once: (rows, work)."""
    decode = impl.decoding.sample_decode
    return call_once(model, (decode, prompt, max_new_tokens, temperature, seed, num_samples, top_k, top_p),
                lambda: decode(model, tokenizer, prompt, max_new_tokens, temperature, seeded(model, seed),
                               top_k=top_k, top_p=top_p, num_samples=num_samples))


@pytest.fixture(autouse=True)
def own_sampling_costs_once(request):
    """A mistake costs points once: while a graded decoding test runs, the submission's decoding
    draws with correct sampling functions (tests/oracles.py), not its own, so that a bug in Task 3
    costs points in Task 3 only. test_sample_decode_calls_your_sample_next_token checks the reuse."""
    if "impl" in request.fixturenames and request.node.get_closest_marker("anchor") is None:
        impl = request.getfixturevalue("impl")
        with refuse_library_answers(impl.folder):  # and transformers' warpers stay the tests' own
            if request.node.originalname == "test_sample_decode_calls_your_sample_next_token":
                yield
            else:
                with sampling_replaced_by_oracles(impl):
                    yield
    else:
        yield


@pytest.fixture(autouse=True)
def no_generate(request):
    """Graded tests refuse `model.generate`; anchors call it on purpose."""
    if "model" in request.fixturenames and request.node.get_closest_marker("anchor") is None:
        with refuse_generate(request.getfixturevalue("model")):
            yield
    else:
        yield


# ----------------------------------------------------------------------------------------------
# Greedy decoding

@pytest.mark.points(3)
@pytest.mark.parametrize("case", ["plain", "chat"])
def test_greedy_decode_matches_reference(impl, expected, model, tokenizer, tol, case):
    prompt = prompt_of(case, tokenizer)
    want = expected_greedy(expected, model, tokenizer, prompt, N)
    got, _ = greedy_once(impl, model, tokenizer, prompt, N)
    expect_greedy(got, want, model, tokenizer, prompt, N, tol, f"greedy_decode({case} prompt, max_new_tokens={N})",
                  "take the argmax of the LAST position's logits at each step; feed only the new token "
                  "together with the cache; keep the EOS id and stop right after it")


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_greedy_decode_is_deterministic(impl, model, tokenizer):
    first, _ = greedy_once(impl, model, tokenizer, PLAIN, N)
    expect_same_ids(impl.decoding.greedy_decode(model, tokenizer, PLAIN, N), first,
                    f"greedy_decode({PLAIN!r}) called twice", "greedy decoding involves no randomness: "
                    "always the argmax, and a fresh cache for every call")


@pytest.mark.tiny_model
@pytest.mark.points(2)
@pytest.mark.parametrize("form", ["int", "list"])
def test_greedy_decode_stops_after_eos(impl, expected, model, tokenizer, tol, form):
    free = expected_greedy(expected, model, tokenizer, PLAIN, N)
    stop = first_seen_at(free, 3)
    ids = free[stop] if form == "int" else [free[stop], *eos_ids(model)]
    with stop_on(model, ids):
        want = expected_greedy(expected, model, tokenizer, PLAIN, N)
        got = impl.decoding.greedy_decode(model, tokenizer, PLAIN, N)
    assert want == free[:stop + 1], "test set-up: the reference did not stop where expected"
    expect_greedy(got, want, model, tokenizer, PLAIN, N, tol,
                  f"greedy_decode({PLAIN!r}, max_new_tokens={N}) with generation_config.eos_token_id={ids}",
                  "stop on model.generation_config.eos_token_id (an int OR a list of ints); keep the EOS "
                  "id as the last token and return right after it")


@pytest.mark.tiny_model
@pytest.mark.points(1.5)
def test_greedy_decode_without_an_eos_id_runs_to_max_new_tokens(impl, expected, model, tokenizer, tol):
    free = expected_greedy(expected, model, tokenizer, PLAIN, N)
    token = free[first_seen_at(free, 2)]
    with no_eos_id(model, tokenizer, token):
        want = expected_greedy(expected, model, tokenizer, PLAIN, N)
        got = impl.decoding.greedy_decode(model, tokenizer, PLAIN, N)
    assert len(want) == N, "test set-up: without an EOS id, generate() runs to max_new_tokens"
    expect_greedy(got, want, model, tokenizer, PLAIN, N, tol,
                  f"greedy_decode({PLAIN!r}, max_new_tokens={N}) with generation_config.eos_token_id=None (the "
                  f"tokenizer's EOS is {token})", NO_EOS_HINT)


@pytest.mark.tiny_model
@pytest.mark.points(1)
@pytest.mark.parametrize("max_new_tokens", [1, 5])
def test_greedy_decode_respects_max_new_tokens(impl, model, tokenizer, max_new_tokens):
    got = impl.decoding.greedy_decode(model, tokenizer, PLAIN, max_new_tokens)
    what = f"greedy_decode({PLAIN!r}, max_new_tokens={max_new_tokens})"
    expect_valid(got, model, max_new_tokens, what)
    if len(got) < max_new_tokens and not (got and got[-1] in eos_ids(model)):
        fail(what, f"got {len(got)} new tokens and no EOS", "generate until max_new_tokens tokens or EOS")


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_greedy_decode_zero_new_tokens(impl, model, tokenizer):
    expect_equal(impl.decoding.greedy_decode(model, tokenizer, PLAIN, 0), [],
                 f"greedy_decode({PLAIN!r}, max_new_tokens=0)", "no steps: return an empty list")


@pytest.mark.tiny_model
@pytest.mark.points(1)
@pytest.mark.parametrize("prompt, max_new_tokens, mentions", [
    ("", N, ("prompt", "empty", "token")),
    (PLAIN, -1, ("max_new_tokens", "-1")),
    (PLAIN, 2.5, ("max_new_tokens", "2.5")),
], ids=["empty_prompt", "negative_max_new_tokens", "float_max_new_tokens"])
def test_greedy_decode_bad_input_raises(impl, model, tokenizer, prompt, max_new_tokens, mentions):
    expect_value_error(lambda: impl.decoding.greedy_decode(model, tokenizer, prompt, max_new_tokens),
                       f"greedy_decode({prompt!r}, max_new_tokens={max_new_tokens})", mentions)


@pytest.mark.tiny_model
@pytest.mark.points(3)
def test_greedy_decode_uses_the_kv_cache(impl, model, tokenizer):
    p = len(tokenizer(PLAIN).input_ids)
    got, seen = greedy_once(impl, model, tokenizer, PLAIN, N)
    n = len(got)
    if (seen.calls, seen.tokens) != (n, p + n - 1):
        fail(f"greedy_decode({PLAIN!r}, max_new_tokens={N}) with a {p}-token prompt",
             f"expected {n} forward passes reading {p + n - 1} tokens in all (the prompt once, then one "
             f"token per step), got {seen.calls} passes reading {seen.tokens} tokens "
             f"(shapes {seen.shapes[:4]}{'...' if len(seen.shapes) > 4 else ''})", KV_HINT)


# ----------------------------------------------------------------------------------------------
# Sampled decoding

def sample(module, model, tokenizer, prompt, case, max_new_tokens=N, seed=None):
    temperature, top_k, top_p, n, default_seed = SAMPLING[case]
    return module.decoding.sample_decode(model, tokenizer, prompt, max_new_tokens, temperature,
                                         seeded(model, default_seed if seed is None else seed),
                                         top_k=top_k, top_p=top_p, num_samples=n)


def expected_samples(expected, model, tokenizer, prompt, case, max_new_tokens=N) -> list[list[int]]:
    """The sampled rows: recorded, or seeded generate(do_sample=True, num_return_sequences=...) live."""
    temperature, top_k, top_p, n, seed = SAMPLING[case]
    return expected(lambda ref: sample(ref, model, tokenizer, prompt, case, max_new_tokens),
                    oracle=lambda: generated(model, tokenizer, prompt, max_new_tokens, seed=seed, do_sample=True,
                                             temperature=float(temperature), top_k=top_k or 0,
                                             top_p=top_p or 1.0, num_return_sequences=n))


def describe(case: str, prompt_case: str = "chat") -> str:
    temperature, top_k, top_p, n, seed = SAMPLING[case]
    return (f"sample_decode({prompt_case} prompt, max_new_tokens={N}, temperature={temperature}, "
            f"top_k={top_k}, top_p={top_p}, num_samples={n}) with a generator seeded {seed}")


LENGTH_HINT = "stop after max_new_tokens steps; do not return the prompt's ids"


def expect_at_most(rows, max_new_tokens: int, what: str) -> None:
    """The most basic property of a decoding call, checked before what depends on it (a penalty, EOS, the
    draws): no row longer than max_new_tokens. Its message is the same in every test, so the reports group
    one mistake under one entry."""
    for row in rows if isinstance(rows, list) and rows and isinstance(rows[0], list) else [rows]:
        if isinstance(row, list) and len(row) > max_new_tokens:
            fail(what, f"max_new_tokens={max_new_tokens}, got {len(row)} new tokens", LENGTH_HINT)


def expect_rows(got, want: list[list[int]], what: str, hint: str, max_new_tokens: int = N) -> None:
    expect_type(got, list, what, "return a list of lists of ints, one per sample")
    if len(got) != len(want):
        fail(what, f"expected {len(want)} continuations, got {len(got)}", "one list per sample")
    expect_at_most(got, max_new_tokens, what)
    for row, (g, w) in enumerate(zip(got, want)):
        expect_same_ids(g, w, f"{what}, sample {row}", hint)


@pytest.mark.tiny_model("case", ["T0.7-top_k50", "T1.3-top_p0.9"])
@pytest.mark.points(2)
@pytest.mark.parametrize("case", list(SAMPLING))
def test_sample_decode_matches_reference(impl, expected, model, tokenizer, case):
    prompt = chat_prompt(tokenizer)
    want = expected_samples(expected, model, tokenizer, prompt, case)
    got = sample(impl, model, tokenizer, prompt, case)
    expect_rows(got, want, describe(case),
                "all samples as ONE batch [num_samples, ...], one sample_next_token draw per step with the "
                "generator given, finished rows still drawn then replaced by the pad id, each row cut "
                "after its first EOS")


@pytest.mark.tiny_model
@pytest.mark.points(3)
def test_sample_decode_rows_finish_at_different_times(impl, expected, model, tokenizer):
    case = "T1"
    free = expected_samples(expected, model, tokenizer, PLAIN, case)
    # make row 0 stop early and row 1 a little later; the other rows go on drawing
    extra = [free[0][first_seen_at(free[0], 1)], free[1][first_seen_at(free[1], 4)]]
    ids = [*eos_ids(model), *extra]
    with stop_on(model, ids):
        want = expected_samples(expected, model, tokenizer, PLAIN, case)
        got = sample(impl, model, tokenizer, PLAIN, case)
    assert len({len(row) for row in want}) > 1, "test set-up: the rows should end at different times"
    expect_rows(got, want, f"{describe(case, 'plain')} and generation_config.eos_token_id={ids}",
                "a finished row keeps taking part in every draw (then gets the pad id), so the random "
                "numbers of the other rows do not shift; stop only when EVERY row has ended; keep each "
                "row's EOS and drop what follows")


@pytest.mark.tiny_model
@pytest.mark.points(1.5)
def test_sample_decode_without_an_eos_id_runs_to_max_new_tokens(impl, expected, model, tokenizer):
    case = "T1"
    free = expected_samples(expected, model, tokenizer, PLAIN, case)
    token = free[0][first_seen_at(free[0], 2)]
    with no_eos_id(model, tokenizer, token):
        want = expected_samples(expected, model, tokenizer, PLAIN, case)
        got = sample(impl, model, tokenizer, PLAIN, case)
    assert all(len(row) == N for row in want), "test set-up: without an EOS id, every row runs to max_new_tokens"
    expect_rows(got, want, f"{describe(case, 'plain')} and generation_config.eos_token_id=None (the tokenizer's "
                           f"EOS is {token})", NO_EOS_HINT)


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_sample_decode_returns_num_samples_lists(impl, model, tokenizer):
    for n in (1, 2):
        got, _ = samples_once(impl, model, tokenizer, PLAIN, SHORT, 1.0, 0, n)
        what = f"sample_decode({PLAIN!r}, max_new_tokens={SHORT}, num_samples={n})"
        expect_type(got, list, what, "return a list with one list of ids per sample")
        if len(got) != n:
            fail(what, f"expected {n} continuations, got {len(got)}", "one list per sample, even for 1")
        expect_valid(got, model, SHORT, what)


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_sample_decode_same_seed_same_output(impl, model, tokenizer):
    first, _ = samples_once(impl, model, tokenizer, PLAIN, SHORT, 1.0, 0, 2)
    again = impl.decoding.sample_decode(model, tokenizer, PLAIN, SHORT, 1.0, seeded(model, 0), num_samples=2)
    expect_rows(again, first,
                "sample_decode twice with generators seeded 0",
                "draw every random number from the generator passed in (torch.multinomial(..., generator=generator))")


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_sample_decode_different_seeds_differ(impl, model, tokenizer):
    a, b = (samples_once(impl, model, tokenizer, PLAIN, SHORT, 1.0, seed, 2)[0] for seed in (0, 1))
    if a == b:
        fail("sample_decode with generators seeded 0 and 1", f"both gave {a[0][:6]}...",
             "sample with torch.multinomial(probs, 1, generator=generator), not the argmax")


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_sample_decode_higher_temperature_is_more_diverse(impl, model, tokenizer):
    def distinct(temperature) -> int:
        rows = impl.decoding.sample_decode(model, tokenizer, PLAIN, SHORT, temperature, seeded(model, 0), num_samples=4)
        return len({t for row in rows for t in row})

    low, high = distinct(0.3), distinct(1.5)
    if not high > low:
        fail(f"sample_decode({PLAIN!r}, 4 samples x {SHORT} tokens, generators seeded 0)",
             f"expected more distinct tokens at temperature 1.5 than at 0.3, got {high} and {low}",
             "divide the logits by the temperature before the softmax")


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_sample_decode_top_k_1_is_greedy(impl, expected, model, tokenizer, tol):
    want = expected_greedy(expected, model, tokenizer, PLAIN, N)
    got = impl.decoding.sample_decode(model, tokenizer, PLAIN, N, 1.0, seeded(model, 0), top_k=1, num_samples=2)
    expect_type(got, list, "sample_decode(..., top_k=1, num_samples=2)", "return a list of lists of ints")
    for row in got:
        expect_greedy(row, want, model, tokenizer, PLAIN, N, tol,
                      f"sample_decode({PLAIN!r}, max_new_tokens={N}, top_k=1): every sample",
                      "top_k=1 leaves one token to draw: the argmax (pass top_k on to sample_next_token)")


@pytest.mark.tiny_model
@pytest.mark.points(3)
def test_sample_decode_uses_the_kv_cache_in_one_batch(impl, model, tokenizer):
    p, rows = len(tokenizer(PLAIN).input_ids), 3
    got, seen = samples_once(impl, model, tokenizer, PLAIN, N, 1.0, 0, rows)
    steps = max((len(r) for r in got), default=0)  # the loop may stop once every row has ended
    want = [(rows, p)] + [(rows, 1)] * (steps - 1)
    if seen.shapes != want:
        fail(f"sample_decode({PLAIN!r}, max_new_tokens={N}, num_samples={rows}) with a {p}-token prompt",
             f"expected {steps} forward passes reading {rows * (p + steps - 1)} tokens in all, shapes "
             f"{want[:3]}..., got {seen.calls} passes reading {seen.tokens} tokens, shapes {seen.shapes[:3]}"
             f"{'...' if len(seen.shapes) > 3 else ''}",
             "all samples in ONE batch: repeat the prompt num_samples times, then " + KV_HINT)


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_sample_decode_calls_your_sample_next_token(impl, model, tokenizer):
    """Reuse is part of the exercise: sample_decode draws with YOUR sample_next_token (Task 3), one
    batched call per step. (The draws themselves come from a correct stand-in here, so that a bug in
    Task 3 is not counted twice.)"""
    calls: list = []
    with sampling_replaced_by_oracles(impl, calls):
        rows = impl.decoding.sample_decode(model, tokenizer, PLAIN, SHORT, 1.0, seeded(model, 0), num_samples=2)
    steps = max((len(row) for row in rows), default=0) if isinstance(rows, list) else 0
    if calls.count("sample_next_token") != steps:
        fail(f"sample_decode({PLAIN!r}, max_new_tokens={SHORT}, num_samples=2)",
             f"expected {steps} calls of your sampling.sample_next_token (one per step), saw "
             f"{calls.count('sample_next_token')}",
             "reuse your Task 3 function: `from .sampling import sample_next_token` and call it once per step "
             "for the whole batch")


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_sample_decode_zero_new_tokens(impl, model, tokenizer):
    got = impl.decoding.sample_decode(model, tokenizer, PLAIN, 0, 1.0, seeded(model, 0), num_samples=3)
    expect_equal(got, [[], [], []], f"sample_decode({PLAIN!r}, max_new_tokens=0, num_samples=3)",
                 "no steps: one empty list per sample")


BAD_SAMPLING = {  # name: (prompt, max_new_tokens, temperature, extra kwargs, words the message should use)
    "empty_prompt": ("", N, 1.0, {}, ("prompt", "empty", "token")),
    "negative_max_new_tokens": (PLAIN, -1, 1.0, {}, ("max_new_tokens", "-1")),
    "num_samples_0": (PLAIN, N, 1.0, {"num_samples": 0}, ("num_samples", "0")),
    "max_new_tokens_float": (PLAIN, 2.5, 1.0, {}, ("max_new_tokens", "2.5")),
    "num_samples_float": (PLAIN, N, 1.0, {"num_samples": 1.5}, ("num_samples", "1.5")),
    "temperature_0": (PLAIN, N, 0, {}, ("temperature",)),
    "temperature_0_with_max_new_tokens_0": (PLAIN, 0, 0.0, {}, ("temperature",)),
    "temperature_negative": (PLAIN, N, -1.0, {}, ("temperature",)),
    "temperature_nan": (PLAIN, N, float("nan"), {}, ("temperature",)),
    "temperature_inf": (PLAIN, N, float("inf"), {}, ("temperature",)),
    "top_p_0": (PLAIN, N, 1.0, {"top_p": 0.0}, ("top_p", "top-p", "p")),
    "top_p_above_1": (PLAIN, N, 1.0, {"top_p": 1.5}, ("top_p", "top-p", "p")),
    "top_k_negative": (PLAIN, N, 1.0, {"top_k": -3}, ("top_k", "top-k", "k")),
    # with no step to take, the arguments must still be checked
    "top_p_above_1_with_max_new_tokens_0": (PLAIN, 0, 1.0, {"top_p": 1.5}, ("top_p", "top-p", "p")),
    "top_p_0_with_max_new_tokens_0": (PLAIN, 0, 1.0, {"top_p": 0.0}, ("top_p", "top-p", "p")),
    "top_k_negative_with_max_new_tokens_0": (PLAIN, 0, 1.0, {"top_k": -3}, ("top_k", "top-k", "k")),
}


@pytest.mark.tiny_model
@pytest.mark.points(0.5)
@pytest.mark.parametrize("case", list(BAD_SAMPLING))
def test_sample_decode_bad_arguments_raise(impl, model, tokenizer, case):
    prompt, max_new_tokens, temperature, kwargs, mentions = BAD_SAMPLING[case]
    what = (f"sample_decode({prompt!r}, max_new_tokens={max_new_tokens}, temperature={temperature}"
            + "".join(f", {k}={v}" for k, v in kwargs.items()) + ")")
    expect_value_error(lambda: impl.decoding.sample_decode(model, tokenizer, prompt, max_new_tokens, temperature,
                                                           seeded(model, 0), **kwargs), what, mentions,
                       "check every argument before the loop and raise ValueError naming it")


# ----------------------------------------------------------------------------------------------
# Anchors: the reference against transformers' generate() (not graded)

@pytest.mark.anchor
@pytest.mark.parametrize("case", ["plain", "chat", "plain-stops-at-step-3"])
def test_anchor_greedy_decode_equals_generate(ref, model, tokenizer, tol, case):
    prompt = prompt_of(case.split("-")[0], tokenizer)
    n = 12
    stops = eos_ids(model)
    if case.endswith("step-3"):  # generate() and the reference stop on a list of ids alike
        free = ref.decoding.greedy_decode(model, tokenizer, prompt, n)
        stops = [*stops, free[first_seen_at(free, 3)]]
    with stop_on(model, stops):
        (want,) = generate_rows(model, tokenizer, prompt, n, do_sample=False)
        got = ref.decoding.greedy_decode(model, tokenizer, prompt, n)
    if case.endswith("step-3"):
        assert len(want) == 4
    expect_greedy(got, want, model, tokenizer, prompt, n, tol, f"reference greedy_decode({case})", "")


@pytest.mark.anchor
@pytest.mark.parametrize("prompt_case, case", [("chat", case) for case in SAMPLING] + [
    ("plain-rows-stop-early", "T1"), ("plain-rows-stop-early", "T2-top_k20-top_p0.8")])
def test_anchor_sample_decode_equals_generate(ref, model, tokenizer, prompt_case, case):
    """With the chat prompt the default model ends rows at different steps on its own; with the
    plain prompt, two of the ids the rows draw are made EOS ids, so they end early on any model."""
    temperature, top_k, top_p, n, seed = SAMPLING[case]
    prompt, max_new_tokens = prompt_of(prompt_case.split("-")[0], tokenizer), 10
    stops = eos_ids(model)
    if prompt_case != "chat":
        free = sample(ref, model, tokenizer, prompt, case, max_new_tokens)
        stops = [*stops, free[0][first_seen_at(free[0], 2)], free[-1][first_seen_at(free[-1], 5)]]
    with stop_on(model, stops):
        got = sample(ref, model, tokenizer, prompt, case, max_new_tokens)
        torch.manual_seed(seed)
        want = generate_rows(model, tokenizer, prompt, max_new_tokens, do_sample=True,
                             temperature=float(temperature), top_k=top_k or 0, top_p=top_p or 1.0,
                             num_return_sequences=n)
    expect_rows(got, want, f"reference {describe(case, prompt_case)}", "", max_new_tokens)


# ----------------------------------------------------------------------------------------------
# Repetition penalty, in greedy and sampled decoding (generate()'s repetition_penalty=)

from transformers import RepetitionPenaltyLogitsProcessor  # noqa: E402 - this section's own import

# (prompt case, penalty). Below 1 rewards repeats: the prompt's tokens and then the new ones win, on any
# model, so a loop that penalises the wrong ids shows at once; above 1 is the usual cure for loops.
GREEDY_PENALTIES = {
    "plain-penalty_0.3": ("plain", 0.3),
    "chat-penalty_1.3": ("chat", 1.3),
    "plain-penalty_2": ("plain", 2.0),
}
# (temperature, top_k, top_p, num_samples, seed, penalty)
SAMPLING_PENALTIES = {
    "T1-penalty_0.3": (1.0, None, None, 3, 11, 0.3),
    "T0.7-top_k20-penalty_0.5": (0.7, 20, None, 3, 12, 0.5),
    "T1.3-top_p0.9-penalty_1.3": (1.3, None, 0.9, 3, 13, 1.3),
}
PENALTY_HINT = ("before choosing, pass the float32 logits through repetition_penalty(logits, ids so far, penalty), "
                "the ids so far being the prompt's ids AND every new token, [batch, prompt_len + steps]")


def expected_penalised_greedy(expected, model, tokenizer, prompt: str, max_new_tokens: int, penalty) -> list[int]:
    """The greedy continuation with a repetition penalty: recorded, or generate(repetition_penalty=...) live."""
    return expected(lambda ref: ref.decoding.greedy_decode(model, tokenizer, prompt, max_new_tokens,
                                                           repetition_penalty=penalty),
                    oracle=lambda: generated(model, tokenizer, prompt, max_new_tokens, do_sample=False,
                                             repetition_penalty=float(penalty))[0])


@torch.no_grad()
def steps_safe_with_penalty(model, tokenizer, prompt: str, ids: tuple[int, ...], penalty: float, gap: float) -> int:
    """As `steps_safe_to_compare`, for penalised greedy decoding: the top-two gap of each step's logits after
    transformers' own repetition penalty over the prompt and the ids before that step."""
    if not ids:
        return 0
    prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    full = torch.cat([prompt_ids, torch.tensor([list(ids)], device=model.device)], dim=1)
    start = prompt_ids.shape[1] - 1
    logits = model(input_ids=full).logits[0, start:start + len(ids)].float()
    penalise = RepetitionPenaltyLogitsProcessor(float(penalty))
    for step in range(len(ids)):
        top2 = penalise(full[:, :start + 1 + step], logits[step:step + 1]).topk(2, dim=-1).values[0]
        if top2[0] - top2[1] < gap:
            return step
    return len(ids)


def expect_penalised_greedy(got, want: list[int], model, tokenizer, prompt: str, max_new_tokens: int, penalty,
                            tol, what: str, hint: str) -> None:
    """`got` equals the penalised greedy continuation `want`, under the near-ties rule of the module docstring."""
    expect_at_most(got, max_new_tokens, what)
    safe = steps_safe_with_penalty(model, tokenizer, prompt, tuple(want), penalty, tol.greedy_tie)
    if safe == len(want):
        expect_same_ids(got, want, what, hint)
        return
    expect_same_ids(got[:safe] if isinstance(got, list) else got, want[:safe], what, hint)
    expect_valid(got, model, max_new_tokens, what)


@pytest.mark.tiny_model("case", ["plain-penalty_0.3", "plain-penalty_2"])
@pytest.mark.points(1)
@pytest.mark.parametrize("case", list(GREEDY_PENALTIES))
def test_greedy_decode_repetition_penalty_matches_reference(impl, expected, model, tokenizer, tol, case):
    prompt_case, penalty = GREEDY_PENALTIES[case]
    prompt = prompt_of(prompt_case, tokenizer)
    want = expected_penalised_greedy(expected, model, tokenizer, prompt, N, penalty)
    got = impl.decoding.greedy_decode(model, tokenizer, prompt, N, repetition_penalty=penalty)
    expect_penalised_greedy(got, want, model, tokenizer, prompt, N, penalty, tol,
                            f"greedy_decode({prompt_case} prompt, max_new_tokens={N}, repetition_penalty={penalty})",
                            PENALTY_HINT)


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_greedy_decode_repetition_penalty_covers_the_prompt(impl, expected, model, tokenizer, tol):
    penalty = 0.3
    free = expected_greedy(expected, model, tokenizer, PLAIN, 1)
    want = expected_penalised_greedy(expected, model, tokenizer, PLAIN, 1, penalty)
    assert want != free, "test set-up: the penalty should change the first new token"
    got = impl.decoding.greedy_decode(model, tokenizer, PLAIN, 1, repetition_penalty=penalty)
    expect_penalised_greedy(got, want, model, tokenizer, PLAIN, 1, penalty, tol,
                            f"greedy_decode({PLAIN!r}, max_new_tokens=1, repetition_penalty={penalty})",
                            "the very first new token already feels the penalty: generate() penalises every id "
                            "of the sequence so far, the prompt's included, not only the new ones")


@pytest.mark.tiny_model
@pytest.mark.points(0.5)
def test_greedy_decode_repetition_penalty_one_changes_nothing(impl, expected, model, tokenizer, tol):
    want = expected_greedy(expected, model, tokenizer, PLAIN, N)
    got = impl.decoding.greedy_decode(model, tokenizer, PLAIN, N, repetition_penalty=1.0)
    expect_greedy(got, want, model, tokenizer, PLAIN, N, tol,
                  f"greedy_decode({PLAIN!r}, max_new_tokens={N}, repetition_penalty=1.0) vs plain greedy decoding",
                  "a penalty of 1.0 divides and multiplies by 1: the continuation is plain greedy decoding")


@pytest.mark.tiny_model("case", ["T1-penalty_0.3", "T0.7-top_k20-penalty_0.5"])
@pytest.mark.points(1)
@pytest.mark.parametrize("case", list(SAMPLING_PENALTIES))
def test_sample_decode_repetition_penalty_matches_reference(impl, expected, model, tokenizer, case):
    temperature, top_k, top_p, n, seed, penalty = SAMPLING_PENALTIES[case]

    def draw(module):
        return module.decoding.sample_decode(model, tokenizer, PLAIN, N, temperature, seeded(model, seed),
                                             top_k=top_k, top_p=top_p, num_samples=n, repetition_penalty=penalty)

    want = expected(draw, oracle=lambda: generated(
        model, tokenizer, PLAIN, N, seed=seed, do_sample=True, temperature=float(temperature), top_k=top_k or 0,
        top_p=top_p or 1.0, num_return_sequences=n, repetition_penalty=float(penalty)))
    got = draw(impl)
    expect_rows(got, want, f"sample_decode(plain prompt, max_new_tokens={N}, temperature={temperature}, top_k={top_k}, "
                           f"top_p={top_p}, num_samples={n}, repetition_penalty={penalty}) with a generator seeded "
                           f"{seed}",
                "penalise each row's float32 logits with that row's own ids so far (prompt, its draws, and the pad "
                "ids once it has finished) FIRST, then sample_next_token (temperature, top-k, top-p, one draw)")


@pytest.mark.tiny_model
@pytest.mark.points(0.25)
@pytest.mark.parametrize("penalty", [0.0, float("nan")], ids=["penalty_0", "penalty_nan"])
@pytest.mark.parametrize("function", ["greedy_decode", "sample_decode"])
def test_decoding_bad_repetition_penalty_raises(impl, model, tokenizer, function, penalty):
    what = f"{function}({PLAIN!r}, max_new_tokens={N}, ..., repetition_penalty={penalty})"
    if function == "greedy_decode":
        call = lambda: impl.decoding.greedy_decode(model, tokenizer, PLAIN, N, repetition_penalty=penalty)  # noqa: E731
    else:
        call = lambda: impl.decoding.sample_decode(model, tokenizer, PLAIN, N, 1.0, seeded(model, 0),  # noqa: E731
                                                   repetition_penalty=penalty)
    expect_value_error(call, what, ("penalty", repr(penalty)),
                       "check the penalty before the loop: a finite number > 0 (1.0 changes nothing)")


# ----------------------------------------------------------------------------------------------
# The pad id, rows that end, defaults (live checks against generate(), no recordings)

@contextmanager
def pad_ids(model, tokenizer, config_pad, tokenizer_pad):
    """For the block, `model.generation_config.pad_token_id` is `config_pad` and the tokenizer's pad token is the
    token of id `tokenizer_pad` (None: no pad token). Both are restored after."""
    config = model.generation_config
    before_config, before_tokenizer = config.pad_token_id, tokenizer.pad_token
    config.pad_token_id = config_pad
    tokenizer.pad_token = None if tokenizer_pad is None else tokenizer.convert_ids_to_tokens(tokenizer_pad)
    try:
        yield
    finally:
        config.pad_token_id = before_config
        tokenizer.pad_token = before_tokenizer


def sampled_live(model, tokenizer, max_new_tokens: int, seed: int, num_samples: int, top_k=None) -> list[list[int]]:
    """generate(do_sample=True, temperature=1.0)'s rows after the plain prompt, with the current EOS ids."""
    return generated(model, tokenizer, PLAIN, max_new_tokens, seed=seed, do_sample=True, temperature=1.0,
                     top_k=top_k or 0, top_p=1.0, num_return_sequences=num_samples)


def stops_ending_every_row(rows: list[list[int]], avoid: set[int]) -> list[int]:
    """One id per row, not in `avoid`, drawn by row r at step 1 + 2r or later and not earlier in that row:
    with these as EOS ids every row ends, at different steps."""
    stops = []
    for r, row in enumerate(rows):
        fresh = [i for i in range(1, len(row)) if row[i] not in row[:i] and row[i] not in avoid]
        assert fresh, f"test set-up: row {r} draws no id to stop on"
        stops.append(row[next((i for i in fresh if i >= 1 + 2 * r), fresh[-1])])
    return stops


ENDED_HINT = ("a row has finished once it drew an EOS id: from then on its draw is replaced by the pad id; keep a "
              "`finished` flag per row that stays True (finished |= is_eos), and stop as soon as EVERY row has finished")


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_sample_decode_stops_once_every_row_has_ended(impl, model, tokenizer):
    """Every row ends before max_new_tokens, at a different step, on ids that are not the pad id: the loop takes as
    many forward passes as the longest row has tokens, and no more."""
    num_samples, seed = 3, 4
    pad = model.generation_config.pad_token_id
    with stop_on(model, None):
        free = sampled_live(model, tokenizer, N, seed, num_samples)
    stops = stops_ending_every_row(free, {pad, *eos_ids(model)})
    with stop_on(model, stops):
        want = sampled_live(model, tokenizer, N, seed, num_samples)
        with count_forward_tokens(model) as seen:
            got = impl.decoding.sample_decode(model, tokenizer, PLAIN, N, 1.0, seeded(model, seed),
                                              num_samples=num_samples)
    assert all(row and row[-1] in stops for row in want) and max(map(len, want)) < N, \
        "test set-up: every row should end with an EOS id before max_new_tokens"
    what = (f"sample_decode({PLAIN!r}, max_new_tokens={N}, temperature=1.0, num_samples={num_samples}) with a "
            f"generator seeded {seed} and generation_config.eos_token_id={stops} (pad id {pad}, not an EOS id)")
    expect_rows(got, want, what, ENDED_HINT)
    steps = max(map(len, want))
    if seen.calls != steps:
        fail(what, f"every row has ended after {steps} steps, so {steps} forward passes, got {seen.calls}", ENDED_HINT)


@pytest.mark.tiny_model
@pytest.mark.points(0.5)
@pytest.mark.parametrize("function", ["greedy_decode", "sample_decode"])
def test_decoding_without_eos_or_pad_ids_runs_to_max_new_tokens(impl, model, tokenizer, tol, function):
    """No EOS id and no pad id anywhere (generation config and tokenizer): nothing ends, nothing is padded, and
    decoding runs to max_new_tokens as generate() does."""
    what = (f"{function}({PLAIN!r}, max_new_tokens={N}) with generation_config.eos_token_id=None, "
            f"generation_config.pad_token_id=None and tokenizer.pad_token_id=None")
    hint = ("with no EOS id no row ever finishes, so no pad id is needed: look up the pad id without assuming one "
            "exists (pad id, else the tokenizer's, else the first EOS id, if any)")
    with stop_on(model, None), pad_ids(model, tokenizer, None, None):
        if function == "greedy_decode":
            want = generated(model, tokenizer, PLAIN, N, do_sample=False)[0]
            with hint_on_error(what, hint):
                got = impl.decoding.greedy_decode(model, tokenizer, PLAIN, N)
        else:
            want = sampled_live(model, tokenizer, N, 0, 2)
            with hint_on_error(what, hint):
                got = impl.decoding.sample_decode(model, tokenizer, PLAIN, N, 1.0, seeded(model, 0), num_samples=2)
    if function == "greedy_decode":
        assert len(want) == N, "test set-up: without an EOS id, generate() runs to max_new_tokens"
        expect_greedy(got, want, model, tokenizer, PLAIN, N, tol, what, hint)
    else:
        expect_rows(got, want, what, hint)


@pytest.mark.tiny_model
@pytest.mark.points(0.5)
def test_sample_decode_num_samples_defaults_to_1(impl, model, tokenizer):
    want = sampled_live(model, tokenizer, SHORT, 0, 1)
    got = impl.decoding.sample_decode(model, tokenizer, PLAIN, SHORT, 1.0, seeded(model, 0))
    expect_rows(got, want, f"sample_decode({PLAIN!r}, max_new_tokens={SHORT}, temperature=1.0) without num_samples, "
                           f"with a generator seeded 0",
                "num_samples defaults to 1 (the signature's `num_samples: int = 1`): one list in a list", SHORT)


@pytest.mark.tiny_model
@pytest.mark.points(0.5)
def test_sample_decode_top_k_0_keeps_every_token(impl, model, tokenizer):
    want = sampled_live(model, tokenizer, SHORT, 6, 2, top_k=0)
    what = f"sample_decode({PLAIN!r}, max_new_tokens={SHORT}, temperature=1.0, top_k=0, num_samples=2), seeded 6"
    hint = "top_k=0, like None, keeps every token (as in sample_next_token and generate()): it is not a bad top_k"
    with hint_on_error(what, hint):
        got = impl.decoding.sample_decode(model, tokenizer, PLAIN, SHORT, 1.0, seeded(model, 6), top_k=0,
                                          num_samples=2)
    expect_rows(got, want, what, hint, SHORT)
