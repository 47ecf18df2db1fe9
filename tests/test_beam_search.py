"""Task 6 - beam search, written as a loop over the model's forward pass.

Graded: the implementation under test against the recorded reference, or live against
transformers' `generate(num_beams=..., do_sample=False, output_scores=True,
return_dict_in_generate=True)` (the same new ids, and `sequences_scores` within `tol.logprob`),
including beams that end with EOS at different steps, both `early_stopping` settings and length
penalties below and above 1; against the properties of beam search (each score is the sequence's
summed log-probability over its length ** length_penalty, best first, one beam is greedy);
against the work of one batch of `num_beams` rows with a KV cache (counted forward tokens: the
prompt x num_beams, then num_beams per step); and against bad arguments. Every graded test refuses
`model.generate`. Anchors (not graded): the reference against generate() itself.

EOS on any model: as in tests/test_decoding.py, tests that need beams to end early make the model
stop on ids that the beams do emit (`stop_on`): `staggered_stops` picks them so that several
sequences end at step 2 and one more at step 4, which makes early_stopping, the length penalty and
the order of the results all matter, on the tiny random model too.
"""
import pytest
import torch

from checks import expect_close, expect_same_ids, expect_type, expect_value_error, fail, hint_on_error
from counting import count_forward_tokens
from test_decoding import (NO_EOS_HINT, PLAIN, chat_prompt, eos_ids, expect_greedy, expect_valid, expected_greedy,
                           no_eos_id, stop_on)
from test_decoding import no_generate  # noqa: F401 - the autouse fixture refusing model.generate, here too

pytestmark = pytest.mark.beam_search

N = 8  # new tokens: short, so the whole file runs in seconds on the tiny model

# name: (prompt, num_beams, length_penalty, early_stopping, num_return_sequences)
SETTINGS = {
    "plain-4_beams": ("plain", 4, 1.0, False, 1),
    "plain-4_beams-return_4": ("plain", 4, 1.0, False, 4),
    "chat-3_beams-length_penalty_0.5-early_stopping": ("chat", 3, 0.5, True, 2),
    "chat-3_beams-length_penalty_2-return_3": ("chat", 3, 2.0, False, 3),
}

BEAM_HINT = ("keep the best num_beams continuations over ALL beams at each step (topk of "
             "beam_scores[:, None] + log_softmax(logits) flattened), finish only those among the best "
             "num_beams that end, score a finished one by sum / length ** length_penalty, and reorder "
             "the cache by the chosen beams")


def prompt_of(case: str, tokenizer) -> str:
    return PLAIN if case == "plain" else chat_prompt(tokenizer)


def generate_beams(model, tokenizer, prompt: str, max_new_tokens: int, num_beams: int, length_penalty: float,
                   early_stopping: bool, num_return_sequences: int) -> list[tuple[list[int], float]]:
    """generate()'s beam search: (new ids cut after the first EOS, sequences_score) per sequence.
    Called through the class, so that it works while `no_generate` refuses the instance's method."""
    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    out = type(model).generate(model, input_ids=ids, attention_mask=torch.ones_like(ids),
                               max_new_tokens=max_new_tokens, do_sample=False, num_beams=num_beams,
                               length_penalty=float(length_penalty), early_stopping=early_stopping,
                               num_return_sequences=num_return_sequences, output_scores=True,
                               return_dict_in_generate=True)
    stops = eos_ids(model)
    found = []
    for row, score in zip(out.sequences[:, ids.shape[1]:].tolist(), out.sequences_scores.tolist()):
        end = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
        found.append((row[:end], float(score)))
    return found


def search(module, model, tokenizer, prompt, num_beams, length_penalty=1.0, early_stopping=False,
           num_return_sequences=1, max_new_tokens=N):
    return module.beam_search.beam_search(model, tokenizer, prompt, max_new_tokens, num_beams,
                                          length_penalty=length_penalty, early_stopping=early_stopping,
                                          num_return_sequences=num_return_sequences)


def expected_beams(expected, tol, model, tokenizer, prompt, num_beams, length_penalty=1.0, early_stopping=False,
                   num_return_sequences=1, max_new_tokens=N):
    """The best sequences and their scores: recorded, or generate(num_beams=...) live."""
    args = (num_beams, length_penalty, early_stopping, num_return_sequences)
    return expected(lambda ref: search(ref, model, tokenizer, prompt, *args, max_new_tokens=max_new_tokens),
                    oracle=lambda: generate_beams(model, tokenizer, prompt, max_new_tokens, *args),
                    tol=tol.logprob)


def describe(prompt_case: str, num_beams, length_penalty=1.0, early_stopping=False, num_return_sequences=1,
             max_new_tokens=N) -> str:
    return (f"beam_search({prompt_case} prompt, max_new_tokens={max_new_tokens}, num_beams={num_beams}, "
            f"length_penalty={length_penalty}, early_stopping={early_stopping}, "
            f"num_return_sequences={num_return_sequences})")


def expect_pairs(got, count: int, what: str) -> None:
    """`got` is a list of `count` (list of ids, float score) pairs."""
    expect_type(got, list, what, "return a list of (new_ids, score) tuples, best first")
    if len(got) != count:
        fail(what, f"expected {count} (new_ids, score) pairs, got {len(got)}",
             "return the best num_return_sequences finished sequences")
    for i, pair in enumerate(got):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            fail(what, f"item {i} should be a pair (new_ids, score), got {pair!r:.80}",
                 "return a list of (list of ints, float) tuples")
        expect_type(pair[1], float, f"{what}, the score of sequence {i}",
                    "return each score as a Python float (.item())")


CACHE_HINT = ("reorder the cache by the chosen beams every step (cache.reorder_cache(beam_idx)), so that each row's "
              "logits come from its own history")


def expect_beams(got, want: list[tuple[list[int], float]], tol, what: str, hint: str = BEAM_HINT, *,
                 own=None) -> None:
    """The same sequences, in the same order, and the same scores within `tol.logprob`. With `own` = (model,
    tokenizer, prompt, length_penalty, max_new_tokens), the more basic properties are checked first, so that
    the message names them rather than this test's own hint: no sequence longer than max_new_tokens, and,
    where the ids differ, each score is its own sequence's summed log-probs / length ** length_penalty
    (a cache that is not reordered breaks that first)."""
    expect_pairs(got, len(want), what)
    if own is not None:
        model, tokenizer, prompt, length_penalty, max_new_tokens = own
        for i, (ids, score) in enumerate(got):
            expect_type(ids, list, f"{what}, sequence {i}", "return each sequence's new ids as a list of ints")
            if len(ids) > max_new_tokens:
                fail(what, f"max_new_tokens={max_new_tokens}, sequence {i} has {len(ids)} new tokens",
                     "stop after max_new_tokens steps; do not return the prompt's ids")
        if [ids for ids, _ in got] != [ids for ids, _ in want]:
            for i, (ids, score) in enumerate(got):
                if not ids or not all(type(t) is int for t in ids):
                    continue
                logp = summed_logprob(model, tokenizer, prompt, ids)
                mine = logp / len(ids) ** length_penalty
                if abs(score - mine) > tol.logprob.atol + tol.logprob.rtol * abs(mine):
                    fail(what, f"sequence {i}'s score {score:.6g} is not its own tokens' summed log-probs "
                               f"({logp:.6g}) / {len(ids)} ** {length_penalty} = {mine:.6g}", CACHE_HINT)
    for i, ((ids, _), (want_ids, _)) in enumerate(zip(got, want)):
        expect_same_ids(ids, want_ids, f"{what}, sequence {i}", hint)
    expect_close(torch.tensor([score for _, score in got], dtype=torch.float64),
                 torch.tensor([score for _, score in want], dtype=torch.float64), tol.logprob,
                 f"{what}: the scores", "score = the sequence's summed log-probs / (new tokens, EOS included) "
                                        "** length_penalty")


def staggered_stops(expected, tol, model, tokenizer, num_beams: int) -> list[int]:
    """EOS ids on which, searching after PLAIN, num_beams - 1 sequences end at step 2 and one more at step 4:
    the last tokens of the best num_beams - 1 candidates of step 2, then of the best candidate of step 4 (a
    search with those first ids as EOS). With them, sequences finish at different steps, num_beams of them
    before the last step: early_stopping and the length penalty both matter."""
    first = expected_beams(expected, tol, model, tokenizer, PLAIN, num_beams, num_return_sequences=num_beams,
                           max_new_tokens=2)
    stops = [*eos_ids(model), *(ids[-1] for ids, _ in first[:num_beams - 1])]
    with stop_on(model, stops):
        second = expected_beams(expected, tol, model, tokenizer, PLAIN, num_beams, num_return_sequences=num_beams,
                                max_new_tokens=4)
    return [*stops, *[ids[-1] for ids, _ in second if len(ids) == 4][:1]]


@torch.no_grad()
def summed_logprob(model, tokenizer, prompt: str, ids: list[int]) -> float:
    """The test's own log p(ids | prompt): one uncached forward pass, log_softmax, gather, sum."""
    prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    full = torch.cat([prompt_ids, torch.tensor([ids], device=model.device)], dim=1)
    start = prompt_ids.shape[1] - 1  # the logits at position i score the token at i + 1
    logp = torch.log_softmax(model(input_ids=full).logits[0, start:start + len(ids)].double(), dim=-1)
    return logp.gather(-1, torch.tensor(ids, device=model.device)[:, None]).sum().item()


# ----------------------------------------------------------------------------------------------
# Against the reference and generate()

@pytest.mark.tiny_model("case", ["plain-4_beams", "chat-3_beams-length_penalty_0.5-early_stopping"])
@pytest.mark.points(2)
@pytest.mark.parametrize("case", list(SETTINGS))
def test_beam_search_matches_reference(impl, expected, model, tokenizer, tol, case):
    prompt_case, *args = SETTINGS[case]
    prompt = prompt_of(prompt_case, tokenizer)
    want = expected_beams(expected, tol, model, tokenizer, prompt, *args)
    got = search(impl, model, tokenizer, prompt, *args)
    expect_beams(got, want, tol, describe(prompt_case, *args), own=(model, tokenizer, prompt, args[1], N))


@pytest.mark.tiny_model
@pytest.mark.points(2)
@pytest.mark.parametrize("early_stopping", [False, True], ids=["early_stopping_False", "early_stopping_True"])
def test_beam_search_beams_end_at_different_steps(impl, expected, model, tokenizer, tol, early_stopping):
    num_beams = 4
    ids = staggered_stops(expected, tol, model, tokenizer, num_beams)
    with stop_on(model, ids):
        want = expected_beams(expected, tol, model, tokenizer, PLAIN, num_beams, 1.0, early_stopping, num_beams)
        got = search(impl, model, tokenizer, PLAIN, num_beams, 1.0, early_stopping, num_beams)
    assert len({len(seq) for seq, _ in want}) > 1, "test set-up: the sequences should end at different steps"
    expect_beams(got, want, tol, f"{describe('plain', num_beams, 1.0, early_stopping, num_beams)} and "
                                 f"generation_config.eos_token_id={ids}",
                 own=(model, tokenizer, PLAIN, 1.0, N), hint=
                 "a candidate that ends with EOS becomes a finished sequence and is never extended; only the best "
                 "num_beams candidates of a step may finish; the next beams are the best num_beams that do NOT "
                 "end (look at max(2, 1 + number of EOS ids) * num_beams candidates); with early_stopping=True "
                 "stop once num_beams sequences have finished, with False once the best running beam cannot "
                 "beat the worst finished one")


@torch.no_grad()
def first_tokens(model, tokenizer, prompt: str, count: int) -> list[int]:
    """The `count` most likely first new tokens after `prompt`, best first (the test's own forward pass):
    the candidates of beam search's first step, where only beam 0 is extended."""
    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    return model(input_ids=ids).logits[0, -1].float().topk(count).indices.tolist()


def bookkeeping_stops(expected, tol, model, tokenizer, prompt: str, num_beams: int, case: str) -> list[int]:
    """EOS ids that make one step of the docstring's bookkeeping decide the result (see BOOKKEEPING)."""
    ranked = first_tokens(model, tokenizer, prompt, num_beams + 2)
    if case == "more_than_num_beams_end_at_once":
        # the first step's candidates ranked 2 to num_beams + 2 all end: more than num_beams of the best
        # 2 * num_beams, so num_beams running beams are found only among max(2, 1 + number of EOS ids) * num_beams
        return [*eos_ids(model), *ranked[1:num_beams + 2]]
    if case == "ending_candidate_below_the_best":
        # staggered stops, plus the first step's candidate just below the best num_beams: it ends, but only
        # the best num_beams candidates of a step may become hypotheses (step 3)
        return [*staggered_stops(expected, tol, model, tokenizer, num_beams), ranked[num_beams]]
    # many finish at once: the best num_beams - 1 first tokens end at step 1, then the second step's enders;
    # more than num_beams hypotheses are found, so the kept ones must be cut to the best num_beams (step 3)
    # and the stop test (step 5) must divide by the current length to stop when generate() does
    first = [*eos_ids(model), *ranked[:num_beams - 1]]
    with stop_on(model, first):
        two = expected_beams(expected, tol, model, tokenizer, prompt, num_beams, num_return_sequences=num_beams,
                             max_new_tokens=2)
    return [*first, *(ids[-1] for ids, _ in two if len(ids) == 2)]


# name: (prompt, num_beams, length_penalty, early_stopping, EOS case); num_return_sequences = num_beams
BOOKKEEPING = {
    "ending_candidate_below_the_best-4_beams-early_stopping": ("plain", 4, 1.0, True,
                                                               "ending_candidate_below_the_best"),
    "many_finish_early-4_beams": ("plain", 4, 1.0, False, "many_finish_early"),
    "many_finish_early-chat-3_beams-length_penalty_2": ("chat", 3, 2.0, False, "many_finish_early"),
    "more_than_num_beams_end_at_once-3_beams": ("plain", 3, 1.0, False, "more_than_num_beams_end_at_once"),
}
BOOKKEEPING_HINT = ("look at keep = max(2, 1 + number of EOS ids) * num_beams candidates, so that num_beams of "
                    "them do not end; only the best num_beams candidates of a step may become hypotheses (not all keep of them); "
                    "keep only the best num_beams hypotheses; stop once num_beams are kept and the best running "
                    "beam's sum / (its CURRENT number of new tokens) ** length_penalty is not above the worst kept")


@pytest.mark.tiny_model
@pytest.mark.points(2)
@pytest.mark.parametrize("case", list(BOOKKEEPING))
def test_beam_search_bookkeeping_decides_which_sequences_finish(impl, expected, model, tokenizer, tol, case):
    """Each step of the docstring's bookkeeping (which candidates may finish, how many hypotheses are kept,
    the stop test's current length) changes the result or the number of steps on one of these inputs, where
    generate() agrees with the reference: the same sequences, scores and forward passes as generate()."""
    prompt_case, num_beams, length_penalty, early_stopping, stops_case = BOOKKEEPING[case]
    prompt = prompt_of(prompt_case, tokenizer)
    args = (num_beams, length_penalty, early_stopping, num_beams)
    stops = bookkeeping_stops(expected, tol, model, tokenizer, prompt, num_beams, stops_case)
    with stop_on(model, stops):
        want = expected_beams(expected, tol, model, tokenizer, prompt, *args)
        calls = expected(lambda ref: _count_search(ref, model, tokenizer, prompt, *args).calls,
                         oracle=lambda: _count_generate(model, tokenizer, prompt, *args))
        with count_forward_tokens(model) as seen:
            got = search(impl, model, tokenizer, prompt, *args)
    what = f"{describe(prompt_case, *args)} and generation_config.eos_token_id={stops}"
    # the more basic properties first: the rows of each step, the scores of the sequences returned (the cache),
    # the sequences, then when the search stops
    rows = sorted({shape[0] for shape in seen.shapes[1:]})
    if rows and rows != [num_beams]:
        fail(what, f"every step after the prompt should feed num_beams={num_beams} rows, as generate() does; "
                   f"your steps fed {rows} rows", BOOKKEEPING_HINT)
    expect_beams(got, want, tol, what, BOOKKEEPING_HINT, own=(model, tokenizer, prompt, length_penalty, N))
    if seen.calls != calls:
        fail(what, f"generate() stops after {calls} forward passes, your search took {seen.calls}",
             BOOKKEEPING_HINT)


def _count_search(module, model, tokenizer, prompt, *args):
    with count_forward_tokens(model) as seen:
        search(module, model, tokenizer, prompt, *args)
    return seen


def _count_generate(model, tokenizer, prompt, *args) -> int:
    with count_forward_tokens(model) as seen:
        generate_beams(model, tokenizer, prompt, N, *args)
    return seen.calls


@pytest.mark.tiny_model
@pytest.mark.points(1.5)
def test_beam_search_without_an_eos_id_runs_to_max_new_tokens(impl, expected, model, tokenizer, tol):
    num_beams = 3
    free = expected_beams(expected, tol, model, tokenizer, PLAIN, num_beams, num_return_sequences=num_beams)
    token = free[0][0][1]  # the best sequence's second token
    with no_eos_id(model, tokenizer, token):
        want = expected_beams(expected, tol, model, tokenizer, PLAIN, num_beams, num_return_sequences=num_beams)
        got = search(impl, model, tokenizer, PLAIN, num_beams, num_return_sequences=num_beams)
    assert all(len(ids) == N for ids, _ in want), "test set-up: without an EOS id, every beam runs to the end"
    scores = [score for _, score in want]  # no exact tie may decide the order compared (issue 21, class 8)
    assert all(a - b > 10 * tol.logprob.atol for a, b in zip(scores, scores[1:])), "test set-up: scores too close"
    expect_beams(got, want, tol, f"{describe('plain', num_beams, num_return_sequences=num_beams)} with "
                                 f"generation_config.eos_token_id=None (the tokenizer's EOS is {token})",
                 NO_EOS_HINT + " (keep = 2 * num_beams candidates)", own=(model, tokenizer, PLAIN, 1.0, N))


# ----------------------------------------------------------------------------------------------
# Properties

@pytest.mark.tiny_model
@pytest.mark.points(1.5)
@pytest.mark.parametrize("length_penalty", [0.5, 2.0])
def test_beam_search_scores_are_length_normalised_log_probs(impl, expected, model, tokenizer, tol, length_penalty):
    """Each score = (sum of its tokens' log-probs given the prompt and the tokens before) / len ** length_penalty,
    len = its new tokens, EOS included. Some sequences end with EOS, so the length matters."""
    num_beams = 4
    stops = staggered_stops(expected, tol, model, tokenizer, num_beams)
    with stop_on(model, stops):
        got = search(impl, model, tokenizer, PLAIN, num_beams, length_penalty, False, num_beams)
    what = f"{describe('plain', num_beams, length_penalty, False, num_beams)} with EOS ids {stops}"
    expect_pairs(got, num_beams, what)
    for i, (ids, score) in enumerate(got):
        expect_valid(ids, model, N, f"{what}, sequence {i}")
        if not ids:
            fail(what, f"sequence {i} is empty", "every sequence has at least one new token")
        logp = summed_logprob(model, tokenizer, PLAIN, ids)
        want = logp / len(ids) ** length_penalty
        expect_close(torch.tensor([score]), torch.tensor([want]), tol.logprob,
                     f"{what}: the score of sequence {i} ({len(ids)} new tokens, summed log-prob {logp:.4f})",
                     "the score is the summed log-probs of the sequence's own tokens (reorder the cache by the "
                     "chosen beams, so each row's logits come from its own history) divided by its number of "
                     "new tokens, EOS included, to the power length_penalty")


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_beam_search_returns_best_first(impl, expected, model, tokenizer, tol):
    """Sequences finish at steps 2 and 4; with length_penalty 2 the longer one wins, so the first sequences to
    finish are not the best."""
    num_beams, length_penalty = 4, 2.0
    stops = staggered_stops(expected, tol, model, tokenizer, num_beams)
    with stop_on(model, stops):
        got = search(impl, model, tokenizer, PLAIN, num_beams, length_penalty, True, num_beams)
    what = f"{describe('plain', num_beams, length_penalty, True, num_beams)} with EOS ids {stops}"
    expect_pairs(got, num_beams, what)
    scores = [score for _, score in got]
    if any(b > a for a, b in zip(scores, scores[1:])):
        fail(what, f"the scores should never rise from one sequence to the next, got {[round(s, 4) for s in scores]}",
             "sort the finished sequences by score, highest first, and keep the best num_beams")
    sequences = [tuple(ids) for ids, _ in got]
    if len(set(sequences)) != len(sequences):
        fail(what, f"the {num_beams} sequences should all differ, got {[list(s) for s in sequences]}",
             "each finished sequence is a different path; do not return the best one several times")


@pytest.mark.tiny_model
@pytest.mark.points(2)
def test_beam_search_one_beam_is_greedy(impl, expected, model, tokenizer, tol):
    want = expected_greedy(expected, model, tokenizer, PLAIN, N)
    got = search(impl, model, tokenizer, PLAIN, 1)
    what = f"beam_search({PLAIN!r}, max_new_tokens={N}, num_beams=1)"
    expect_pairs(got, 1, what)
    expect_greedy(got[0][0], want, model, tokenizer, PLAIN, N, tol, f"{what}: the ids vs greedy decoding",
                  "with one beam, the best continuation at each step is the argmax: beam search with "
                  "num_beams=1 is greedy decoding")


# ----------------------------------------------------------------------------------------------
# Work: one batch of num_beams rows, with the KV cache

@pytest.mark.tiny_model
@pytest.mark.points(3)
def test_beam_search_uses_the_kv_cache_in_one_batch(impl, expected, model, tokenizer, tol):
    """Forward passes: the prompt once for every beam, [num_beams, P] (or once, [1, P], with the cache then
    expanded), then [num_beams, 1] per step, as many steps as generate() takes (early_stopping=True ends
    the search once num_beams sequences have finished)."""
    num_beams, p = 4, len(tokenizer(PLAIN).input_ids)
    stops = staggered_stops(expected, tol, model, tokenizer, num_beams)
    with stop_on(model, stops):
        calls = expected(lambda ref: _count(ref, model, tokenizer, num_beams).calls,
                         oracle=lambda: _generate_calls(model, tokenizer, num_beams))
        seen = _count(impl, model, tokenizer, num_beams)
    what = (f"{describe('plain', num_beams, 1.0, True, num_beams)} with a {p}-token prompt and EOS ids "
            f"{stops}")
    for first in ((num_beams, p), (1, p)):
        want = [first] + [(num_beams, 1)] * (calls - 1)
        if seen.shapes == want:
            return
    want = [(num_beams, p)] + [(num_beams, 1)] * (calls - 1)
    fail(what, f"expected {calls} forward passes reading {num_beams * (p + calls - 1)} tokens in all, shapes "
               f"{want[:3]}..., got {seen.calls} passes reading {seen.tokens} tokens, shapes {seen.shapes[:3]}"
               f"{'...' if len(seen.shapes) > 3 else ''}",
         "all beams in ONE batch: repeat the prompt num_beams times, then feed each beam's new token "
         "([num_beams, 1]) with the reordered cache; stop as soon as the search is decided (early_stopping=True: "
         "num_beams finished sequences)")


def _count(module, model, tokenizer, num_beams):
    with count_forward_tokens(model) as seen:
        search(module, model, tokenizer, PLAIN, num_beams, 1.0, True, num_beams)
    return seen


def _generate_calls(model, tokenizer, num_beams) -> int:
    with count_forward_tokens(model) as seen:
        generate_beams(model, tokenizer, PLAIN, N, num_beams, 1.0, True, num_beams)
    return seen.calls


# ----------------------------------------------------------------------------------------------
# Bad arguments

BAD = {  # name: (prompt, max_new_tokens, num_beams, extra kwargs, words the message should use)
    "empty_prompt": ("", N, 2, {}, ("prompt", "empty", "token")),
    "max_new_tokens_negative": (PLAIN, -1, 2, {}, ("max_new_tokens", "-1")),
    "num_beams_0": (PLAIN, N, 0, {}, ("num_beams", "0")),
    "num_return_sequences_0": (PLAIN, N, 2, {"num_return_sequences": 0}, ("num_return_sequences", "0")),
    "more_sequences_than_beams": (PLAIN, N, 2, {"num_return_sequences": 3}, ("num_return_sequences", "num_beams")),
    "length_penalty_nan": (PLAIN, N, 2, {"length_penalty": float("nan")}, ("length_penalty", "nan")),
    "length_penalty_str": (PLAIN, N, 2, {"length_penalty": "1.0"}, ("length_penalty", "1.0")),
    "num_beams_float": (PLAIN, N, 2.5, {}, ("num_beams", "2.5")),
}


@pytest.mark.tiny_model
@pytest.mark.points(0.5)
@pytest.mark.parametrize("case", list(BAD))
def test_beam_search_bad_arguments_raise(impl, model, tokenizer, case):
    prompt, max_new_tokens, num_beams, kwargs, mentions = BAD[case]
    what = (f"beam_search({prompt!r}, max_new_tokens={max_new_tokens}, num_beams={num_beams}"
            + "".join(f", {k}={v}" for k, v in kwargs.items()) + ")")
    expect_value_error(lambda: impl.beam_search.beam_search(model, tokenizer, prompt, max_new_tokens, num_beams,
                                                            **kwargs), what, mentions,
                       "check every argument before the loop and raise ValueError naming it")


# ----------------------------------------------------------------------------------------------
# Anchors: the reference against transformers' generate() (not graded)

@pytest.mark.anchor
@pytest.mark.parametrize("case", [*SETTINGS, "plain-5_beams-length_penalty_0-early_stopping-return_5",
                                  "plain-2_beams-length_penalty_-1-return_2"])
@pytest.mark.parametrize("stops", ["model_eos", "staggered_eos"])
def test_anchor_beam_search_equals_generate(ref, model, tokenizer, tol, case, stops):
    extra = {"plain-5_beams-length_penalty_0-early_stopping-return_5": ("plain", 5, 0.0, True, 5),
             "plain-2_beams-length_penalty_-1-return_2": ("plain", 2, -1.0, False, 2)}
    prompt_case, *args = SETTINGS.get(case) or extra[case]
    prompt = prompt_of(prompt_case, tokenizer)
    ids = eos_ids(model)
    if stops != "model_eos":
        ids = _reference_staggered_stops(ref, model, tokenizer, prompt, args[0])
    with stop_on(model, ids):
        want = generate_beams(model, tokenizer, prompt, N, *args)
        got = search(ref, model, tokenizer, prompt, *args)
    expect_beams(got, want, tol, f"reference {describe(prompt_case, *args)}, EOS ids {ids}", "")


def _reference_staggered_stops(ref, model, tokenizer, prompt, num_beams):
    """staggered_stops, computed with the reference directly (anchors have no `expected`)."""
    first = search(ref, model, tokenizer, prompt, num_beams, num_return_sequences=num_beams, max_new_tokens=2)
    stops = [*eos_ids(model), *(ids[-1] for ids, _ in first[:max(1, num_beams - 1)])]
    with stop_on(model, stops):
        second = search(ref, model, tokenizer, prompt, num_beams, num_return_sequences=num_beams, max_new_tokens=4)
    return [*stops, *[ids[-1] for ids, _ in second if len(ids) == 4][:1]]


@pytest.mark.anchor
def test_anchor_beam_search_does_the_work_of_generate(ref, model, tokenizer):
    """The same forward passes as generate(num_beams=...): the prompt x num_beams, then num_beams per step."""
    num_beams = 3
    with count_forward_tokens(model) as ours:
        search(ref, model, tokenizer, PLAIN, num_beams, num_return_sequences=num_beams)
    with count_forward_tokens(model) as theirs:
        generate_beams(model, tokenizer, PLAIN, N, num_beams, 1.0, False, num_beams)
    p = len(tokenizer(PLAIN).input_ids)
    assert ours.shapes == theirs.shapes
    assert ours.shapes == [(num_beams, p)] + [(num_beams, 1)] * (ours.calls - 1)
    assert ours.tokens == num_beams * (p + ours.calls - 1)


# ----------------------------------------------------------------------------------------------
# Defaults, one beam with EOS, no pad id (live checks against generate(), no recordings)

def live_staggered_stops(model, tokenizer, num_beams: int) -> list[int]:
    """staggered_stops, computed with generate() (live, no recording)."""
    first = generate_beams(model, tokenizer, PLAIN, 2, num_beams, 1.0, False, num_beams)
    stops = [*eos_ids(model), *(ids[-1] for ids, _ in first[:num_beams - 1])]
    with stop_on(model, stops):
        second = generate_beams(model, tokenizer, PLAIN, 4, num_beams, 1.0, False, num_beams)
    return [*stops, *[ids[-1] for ids, _ in second if len(ids) == 4][:1]]


@pytest.mark.tiny_model
@pytest.mark.points(1)
def test_beam_search_default_arguments(impl, model, tokenizer, tol):
    """The signature's defaults, length_penalty=1.0, early_stopping=False, num_return_sequences=1, are generate()'s
    with those values, on EOS ids where sequences end at different steps (so both settings matter)."""
    num_beams = 4
    stops = live_staggered_stops(model, tokenizer, num_beams)
    with stop_on(model, stops):
        best = generate_beams(model, tokenizer, PLAIN, N, num_beams, 1.0, False, 1)
        every = generate_beams(model, tokenizer, PLAIN, N, num_beams, 1.0, False, num_beams)
        assert every != generate_beams(model, tokenizer, PLAIN, N, num_beams, 1.0, True, num_beams), \
            "test set-up: early_stopping should change the result"
        got_best = impl.beam_search.beam_search(model, tokenizer, PLAIN, N, num_beams)
        got_every = impl.beam_search.beam_search(model, tokenizer, PLAIN, N, num_beams, num_return_sequences=num_beams)
    hint = ("the defaults are length_penalty=1.0, early_stopping=False, num_return_sequences=1, as in the signature "
            "(and generate())")
    where = f" and generation_config.eos_token_id={stops}"
    own = (model, tokenizer, PLAIN, 1.0, N)  # the more basic properties (the cache) named first
    expect_beams(got_best, best, tol, f"beam_search({PLAIN!r}, max_new_tokens={N}, num_beams={num_beams}){where}", hint,
                 own=own)
    expect_beams(got_every, every, tol, f"beam_search({PLAIN!r}, max_new_tokens={N}, num_beams={num_beams}, "
                                        f"num_return_sequences={num_beams}){where}", hint, own=own)


@pytest.mark.tiny_model
@pytest.mark.points(0.5)
def test_beam_search_one_beam_stops_at_eos_like_greedy(impl, model, tokenizer, tol):
    """One beam with an EOS id that greedy decoding emits at step 3: the greedy continuation up to that EOS, scored
    by its mean log-prob (length_penalty=1.0)."""
    free = type(model).generate(model, **tokenizer(PLAIN, return_tensors="pt").to(model.device), do_sample=False,
                                max_new_tokens=N)[0, len(tokenizer(PLAIN).input_ids):].tolist()
    stop = next(i for i in range(3, len(free)) if free[i] not in free[:i])
    want = free[:stop + 1]
    what = f"beam_search({PLAIN!r}, max_new_tokens={N}, num_beams=1) with generation_config.eos_token_id={free[stop]}"
    with stop_on(model, free[stop]):
        got = search(impl, model, tokenizer, PLAIN, 1)
    expect_pairs(got, 1, what)
    hint = ("with one beam, the best continuation ending with EOS is the one hypothesis; the search stops once it "
            "is kept and the running beam cannot beat it (num_beams=1 is greedy decoding)")
    expect_greedy(got[0][0], want, model, tokenizer, PLAIN, N, tol, f"{what}: the ids vs greedy decoding", hint)
    ids, score = got[0]
    mine = summed_logprob(model, tokenizer, PLAIN, ids) / len(ids)
    expect_close(torch.tensor([score]), torch.tensor([mine]), tol.logprob, f"{what}: the score", hint)


@pytest.mark.tiny_model
@pytest.mark.points(0.5)
def test_beam_search_needs_no_pad_id(impl, model, tokenizer, tol):
    """Beam search writes no padding: with no pad id in the generation config nor the tokenizer, the result is
    generate()'s."""
    num_beams = 3
    config, before_config, before_tokenizer = model.generation_config, model.generation_config.pad_token_id, \
        tokenizer.pad_token
    config.pad_token_id, tokenizer.pad_token = None, None
    try:
        want = generate_beams(model, tokenizer, PLAIN, N, num_beams, 1.0, False, num_beams)
        what = (f"{describe('plain', num_beams, num_return_sequences=num_beams)} with generation_config.pad_token_id"
                f"=None and tokenizer.pad_token_id=None")
        with hint_on_error(what, "beam search never pads: it needs no pad id, only the EOS ids"):
            got = search(impl, model, tokenizer, PLAIN, num_beams, num_return_sequences=num_beams)
    finally:
        config.pad_token_id, tokenizer.pad_token = before_config, before_tokenizer
    expect_beams(got, want, tol, what, own=(model, tokenizer, PLAIN, 1.0, N))
