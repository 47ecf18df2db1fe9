"""Task 5 - per-token log-probabilities, and perplexity.

Graded: the implementation under test against the reference (floats within `tol.logprob`), against
the properties of log-probabilities (<= 0, finite for huge logits, a greedy continuation scored in
one pass equals the log-softmax of each decoding step's logits, a text's perplexity is the same in
a padded batch as alone), against the work done (one forward pass, counted, never timed), and
against bad input. Anchors (not graded): the reference against transformers itself -
`compute_transition_scores(normalize_logits=True)` and `exp(model(ids, labels=ids).loss)`.
"""
from functools import lru_cache

import pytest
import torch

from checks import (expect_close, expect_equal, expect_floats, expect_tensor, expect_type, expect_value_error,
                    fail, hint_on_error)
from counting import call_once

pytestmark = pytest.mark.logprobs

PLAIN = "The movie was full of"
# The exercise set's sentence and ungrammatical variants, plus texts of very different lengths, so
# that a batch needs padding.
TEXTS = [
    "The movie was full of surprises",
    "The movie was full of surprise",
    "surprises of full was movie The",
    "Hi there",
    "The movie was full of surprises, and the ending left the whole audience speechless for minutes.",
]
OFF_BY_ONE_HINT = ("the logits at position i score the token at position i + 1: with a P-token prompt, "
                   "continuation token j is scored by the logits at P + j - 1")


def random_logits(*shape, seed=0, scale=4.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@lru_cache(maxsize=8)
@torch.no_grad()
def greedy_steps(model, tokenizer, prompt: str, n: int) -> tuple[list[int], torch.Tensor]:
    """A greedy continuation and the logits of each of its steps, `[n, vocab]`, from the test's own
    loop with a KV cache (independent of the code under test)."""
    step_input = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    ids, rows, cache = [], [], None
    for _ in range(n):
        out = model(input_ids=step_input, cache=cache, use_cache=True)
        cache = out.cache
        rows.append(out.logits[0, -1].float())
        ids.append(int(rows[-1].argmax()))
        step_input = torch.tensor([[ids[-1]]], device=model.device)
    return ids, torch.stack(rows)


# ----------------------------------------------------------------------------------------------
# token_logprobs

@pytest.mark.points(2)
@pytest.mark.parametrize("n, vocab", [(5, 7), (1, 50), (16, 1000)])
def test_token_logprobs_matches_log_softmax(impl, tol, n, vocab):
    logits = random_logits(n, vocab, seed=n)
    ids = torch.randint(vocab, (n,), generator=torch.Generator().manual_seed(vocab))
    want = torch.log_softmax(logits.double(), dim=-1).gather(-1, ids[:, None]).squeeze(-1)
    got = impl.logprobs.token_logprobs(logits, ids)
    expect_close(got, want.float(), tol.logprob, f"token_logprobs(logits [{n}, {vocab}], ids {ids.tolist()[:5]})",
                 "log_softmax over the vocabulary (last dim), then gather each step's own token id")


@pytest.mark.points(1)
def test_token_logprobs_accepts_a_list_and_returns_float32(impl, tol, device):
    """The docstring's Returns: a float32 Tensor [N] on the logits' device, for a list of ids too."""
    logits, ids = torch.tensor([[2.0, 0.0], [0.0, 0.0]], device=device), [0, 1]
    what = f"token_logprobs([[2.0, 0.0], [0.0, 0.0]] on {logits.device}, [0, 1])"
    with hint_on_error(what, "make the list a LongTensor on the logits' device: "
                             "torch.as_tensor(token_ids, dtype=torch.long, device=step_logits.device)"):
        got = impl.logprobs.token_logprobs(logits, ids)
    expect_type(got, torch.Tensor, what, "return a tensor of shape [N]")
    if got.dtype != torch.float32:
        fail(what, f"expected dtype torch.float32, got {got.dtype}", "compute in float32 (logits.float())")
    expect_tensor(got, what, dtype=torch.float32, shape=[2], device=logits.device,
                  hint="keep the result on the logits' device: torch.as_tensor(token_ids, device=step_logits.device)")
    expect_close(got, torch.tensor([-0.126928, -0.693147]), tol.logprob, what,
                 "log_softmax, then gather; accept a list of ids too (torch.as_tensor(token_ids))")


@pytest.mark.points(1)
def test_token_logprobs_finite_for_huge_logits(impl, tol):
    logits = torch.tensor([[1e4, -1e4, 0.0], [0.0, 200.0, -200.0]])
    got = impl.logprobs.token_logprobs(logits, [1, 2])
    expect_close(got, torch.tensor([-2e4, -400.0]), tol.logprob,
                 "token_logprobs([[1e4, -1e4, 0], [0, 200, -200]], [1, 2])",
                 "log(softmax(x)) underflows to -inf for unlikely tokens: use torch.log_softmax")


@pytest.mark.points(1)
def test_token_logprobs_are_at_most_zero(impl):
    logits = random_logits(32, 100, seed=3, scale=10.0)
    got = impl.logprobs.token_logprobs(logits, logits.argmax(dim=-1))
    if not isinstance(got, torch.Tensor) or not bool((got <= 0).all()):
        found = f"the largest is {got.max().item():.6g}" if isinstance(got, torch.Tensor) else f"got {got!r}"
        fail("token_logprobs(32 steps of random logits, the argmax ids)",
             f"expected every log-probability <= 0, {found}",
             "a log-probability is log of a number in [0, 1]: use log_softmax, not the raw logits")


@pytest.mark.points(1)
def test_token_logprobs_shape_mismatch_raises(impl):
    expect_value_error(lambda: impl.logprobs.token_logprobs(random_logits(3, 10), [1, 2]),
                       "token_logprobs(logits [3, 10], 2 ids)", ("shape", "3", "2", "match"),
                       "check that there is one token id per step and raise ValueError saying so")


# ----------------------------------------------------------------------------------------------
# continuation_logprobs

def continuation_once(impl, model, tokenizer, prompt: str, ids: list[int]):
    """`impl.logprobs.continuation_logprobs(...)`, called once for the tests that check it: (result, work)."""
    score = impl.logprobs.continuation_logprobs
    return call_once(model, (score, prompt, tuple(ids)), lambda: score(model, tokenizer, prompt, list(ids)))


def perplexity_once(impl, model, tokenizer, texts: list[str]):
    """`impl.logprobs.perplexity(...)`, called once for the tests that check it: (result, work)."""
    perplexity = impl.logprobs.perplexity
    return call_once(model, (perplexity, tuple(texts)), lambda: perplexity(model, tokenizer, list(texts)))


def split_one_token(tokenizer, ids: list[int]) -> list[int]:
    """`ids` with its first splittable token replaced by two vocabulary pieces that spell it
    (' twists' as ' tw' + 'ists'): the same text, but not the split the tokenizer makes, as a
    sampled continuation may be."""
    vocab = tokenizer.get_vocab()
    for i, spelling in enumerate(tokenizer.convert_ids_to_tokens(ids)):
        for cut in range(len(spelling) - 1, 0, -1):
            if spelling[:cut] in vocab and spelling[cut:] in vocab:
                return ids[:i] + [vocab[spelling[:cut]], vocab[spelling[cut:]]] + ids[i + 1:]
    raise AssertionError("test set-up: no token of the continuation can be split")


@lru_cache(maxsize=8)
def continuation_cases(model, tokenizer) -> dict[str, tuple[str, tuple[int, ...]]]:
    """(prompt, continuation ids) per case, the same for every student: made once per process."""
    greedy, _ = greedy_steps(model, tokenizer, PLAIN, 8)
    surprises = tokenizer(" surprises and twists").input_ids
    return {"greedy": (PLAIN, tuple(greedy)), "surprises": (PLAIN, tuple(surprises)),
            "one_token_prompt": ("Hi", tuple(tokenizer(" there, how are you?").input_ids)),
            "not_the_tokenizers_split": (PLAIN, tuple(split_one_token(tokenizer, surprises)))}


def warm_up(lm) -> None:
    """The tests' own work for fixed inputs, which the grader's worker does once before it forks the
    test processes of a batch (grader/worker.py `_warm_up`)."""
    continuation_cases(lm.model, lm.tokenizer)


@torch.no_grad()
def scored_by_model(model, tokenizer, prompt: str, ids: list[int]) -> torch.Tensor:
    """The live check: one forward pass over prompt + ids, log_softmax of the rows that predict
    each continuation token, `[len(ids)]` (the test's own, independent of the code under test)."""
    prompt_ids = tokenizer(prompt).input_ids
    full = torch.tensor([prompt_ids + list(ids)], device=model.device)
    rows = model(input_ids=full).logits[0, len(prompt_ids) - 1:-1].float()
    return torch.log_softmax(rows, dim=-1).gather(-1, full[0, len(prompt_ids):, None]).squeeze(-1)


@pytest.mark.points(3)
@pytest.mark.parametrize("case", ["greedy", "surprises", "one_token_prompt", "not_the_tokenizers_split"])
def test_continuation_logprobs_matches_reference(impl, expected, model, tokenizer, tol, case):
    prompt, ids = continuation_cases(model, tokenizer)[case]
    ids = list(ids)
    want = expected(lambda ref: ref.logprobs.continuation_logprobs(model, tokenizer, prompt, ids),
                    oracle=lambda: scored_by_model(model, tokenizer, prompt, ids), tol=tol.logprob)
    got, _ = continuation_once(impl, model, tokenizer, prompt, ids)
    expect_close(got, want, tol.logprob, f"continuation_logprobs({prompt!r}, {len(ids)} ids {ids[:4]}...)",
                 OFF_BY_ONE_HINT)


@pytest.mark.points(2)
def test_continuation_logprobs_equal_each_steps_log_softmax(impl, model, tokenizer, tol):
    ids, step_logits = greedy_steps(model, tokenizer, PLAIN, 8)
    want = torch.log_softmax(step_logits, dim=-1).gather(-1, torch.tensor(ids, device=model.device)[:, None])[:, 0]
    got, _ = continuation_once(impl, model, tokenizer, PLAIN, ids)
    expect_close(got, want, tol.logprob,
                 f"continuation_logprobs({PLAIN!r}, its 8-token greedy continuation) vs the log-softmax of "
                 f"each decoding step's logits", OFF_BY_ONE_HINT)


@pytest.mark.points(1)
def test_continuation_logprobs_are_at_most_zero(impl, model, tokenizer):
    ids = tokenizer(" surprises and twists").input_ids
    got, _ = continuation_once(impl, model, tokenizer, PLAIN, ids)
    if not isinstance(got, torch.Tensor) or got.shape != (len(ids),) or not bool((got <= 0).all()):
        fail(f"continuation_logprobs({PLAIN!r}, ' surprises and twists')",
             f"expected {len(ids)} log-probabilities <= 0, got {got}",
             "log_softmax of the logits, one value per continuation token")


@pytest.mark.points(1)
def test_continuation_logprobs_returns_float32_on_the_model_device(impl, model, tokenizer):
    """The docstring's Returns: a float32 Tensor [N] on the model's device."""
    ids = tokenizer(" surprises and twists").input_ids
    got, _ = continuation_once(impl, model, tokenizer, PLAIN, ids)
    expect_tensor(got, f"continuation_logprobs({PLAIN!r}, ' surprises and twists')", dtype=torch.float32,
                  shape=[len(ids)], device=model.device,
                  hint="log_softmax of the float32 logits (logits.float()), no .double(): float32 Tensor [N]")


@pytest.mark.points(2)
def test_continuation_logprobs_one_forward_pass(impl, model, tokenizer):
    p, ids = len(tokenizer(PLAIN).input_ids), tokenizer(" surprises and twists").input_ids
    _, seen = continuation_once(impl, model, tokenizer, PLAIN, ids)
    if (seen.calls, seen.tokens) != (1, p + len(ids)):
        fail(f"continuation_logprobs({PLAIN!r}, {len(ids)} ids)",
             f"expected ONE forward pass over the {p + len(ids)} tokens of prompt + continuation, got "
             f"{seen.calls} passes reading {seen.tokens} tokens",
             "a causal model scores every position in one pass: feed prompt + continuation once and "
             "read the logits of all positions")


@pytest.mark.points(1)
def test_continuation_logprobs_empty_continuation(impl, model, tokenizer):
    got = impl.logprobs.continuation_logprobs(model, tokenizer, PLAIN, [])
    what = f"continuation_logprobs({PLAIN!r}, [])"
    expect_type(got, torch.Tensor, what, "return a tensor even when there is nothing to score")
    expect_equal(list(got.shape), [0], f"{what}.shape", "no continuation tokens: an empty tensor of shape [0]")


@pytest.mark.points(1)
def test_continuation_logprobs_empty_prompt_raises(impl, model, tokenizer):
    expect_value_error(lambda: impl.logprobs.continuation_logprobs(model, tokenizer, "", [19556]),
                       "continuation_logprobs('', [19556])", ("prompt", "empty", "token"),
                       "with no prompt token nothing scores the first continuation token: raise ValueError")


# ----------------------------------------------------------------------------------------------
# perplexity

@torch.no_grad()
def perplexity_from_loss(model, tokenizer, text: str) -> float:
    """The live check: exp of the model's own mean loss over the text, `labels=ids`."""
    ids = tokenizer(text, return_tensors="pt").input_ids.to(model.device)
    return torch.exp(model(input_ids=ids, labels=ids).loss).item()


@pytest.mark.points(3)
def test_perplexity_matches_reference(impl, expected, model, tokenizer, tol):
    want = expected(lambda ref: ref.logprobs.perplexity(model, tokenizer, TEXTS),
                    oracle=lambda: [perplexity_from_loss(model, tokenizer, text) for text in TEXTS], tol=tol.perplexity)
    got, _ = perplexity_once(impl, model, tokenizer, TEXTS)
    what = f"perplexity({len(TEXTS)} texts, '{TEXTS[0]}', ...)"
    expect_floats(got, len(want), what, "return a list with one float per text, in order")
    expect_close(torch.tensor(got, dtype=torch.float64), torch.tensor(want, dtype=torch.float64), tol.perplexity, what,
                 "exp of the MEAN negative log-likelihood (natural log) over each text's tokens 2..n; "
                 "padding masked out")


@pytest.mark.points(3)
def test_perplexity_batch_equals_alone(impl, model, tokenizer, tol):
    batch, _ = perplexity_once(impl, model, tokenizer, TEXTS)
    alone = [impl.logprobs.perplexity(model, tokenizer, [text])[0] for text in TEXTS]
    expect_type(batch, list, f"perplexity({len(TEXTS)} texts)", "return a list with one float per text")
    if len(batch) != len(alone):
        fail(f"perplexity({len(TEXTS)} texts)", f"expected {len(alone)} values, got {len(batch)}")
    expect_close(torch.tensor(batch, dtype=torch.float64), torch.tensor(alone, dtype=torch.float64), tol.perplexity,
                 f"perplexity of texts of {sorted({len(tokenizer(t).input_ids) for t in TEXTS})} tokens in one batch "
                 f"vs each text alone",
                 "padding must change nothing: pass the attention mask, leave padded targets out of the mean; "
                 "with left padding, also pass position_ids that start at 0 at each text's first token")


@pytest.mark.points(2)
def test_perplexity_one_forward_pass(impl, model, tokenizer):
    _, seen = perplexity_once(impl, model, tokenizer, TEXTS)
    if seen.calls != 1:
        fail(f"perplexity({len(TEXTS)} texts)", f"expected ONE forward pass over the padded batch, got {seen.calls} "
                                                 f"(shapes {seen.shapes[:5]})",
             "pad the texts into one [batch, longest] tensor with an attention mask and call the model once")


@pytest.mark.points(1)
def test_perplexity_empty_list(impl, model, tokenizer):
    expect_equal(impl.logprobs.perplexity(model, tokenizer, []), [], "perplexity([])",
                 "no texts: return [] before building a batch")


@pytest.mark.points(1)
@pytest.mark.parametrize("text", ["The", ""], ids=["one_token", "empty"])
def test_perplexity_short_text_raises(impl, model, tokenizer, text):
    assert len(tokenizer(text).input_ids) < 2, "test set-up: the text should have fewer than 2 tokens"
    expect_value_error(lambda: impl.logprobs.perplexity(model, tokenizer, [PLAIN, text]),
                       f"perplexity([{PLAIN!r}, {text!r}])", (repr(text), "token"),
                       "a text needs 2 tokens (the first is never scored): raise ValueError naming the text")


@pytest.mark.points(1)
def test_perplexity_single_string_raises(impl, model, tokenizer):
    what, hint = (f"perplexity({PLAIN!r}) (a str, not a list)",
                  "a str is iterable (character by character): check isinstance(texts, str) and raise TypeError")
    perplexity = impl.logprobs.perplexity  # an import error is reported as it is
    try:
        got = perplexity(model, tokenizer, PLAIN)
    except TypeError:
        return
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001 - reported to the student
        fail(what, f"expected a TypeError, got {type(err).__name__}: {(str(err).splitlines() or [''])[0]}", hint)
    fail(what, f"expected a TypeError, got {got!r}", hint)


# ----------------------------------------------------------------------------------------------
# Anchors: the reference against transformers itself (not graded)

@pytest.mark.anchor
@pytest.mark.parametrize("case", ["plain", "chat"])
def test_anchor_continuation_logprobs_equal_transition_scores(ref, model, tokenizer, tol, case):
    prompt = PLAIN if case == "plain" else tokenizer.apply_chat_template(
        [{"role": "user", "content": "Say yes or no."}], add_generation_prompt=True, tokenize=False)
    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=12,
                         output_scores=True, return_dict_in_generate=True)
    continuation = out.sequences[0, ids.shape[1]:]
    got = ref.logprobs.continuation_logprobs(model, tokenizer, prompt, continuation)
    # generate()'s own scores, normalised by the test: as close as two forward passes get
    scores = torch.stack(out.scores)[:, 0].float()  # [steps, vocab]
    expect_close(got, torch.log_softmax(scores, dim=-1).gather(-1, continuation[:, None]).squeeze(-1),
                 tol.logprob, f"reference continuation_logprobs({case}) vs log_softmax(generate scores)")
    # transformers' own helper (it normalises over a transposed tensor: a little less precise)
    scores = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
    expect_close(got, scores, tol.logprob, f"reference continuation_logprobs({case}) vs compute_transition_scores")


@pytest.mark.anchor
@pytest.mark.parametrize("text", TEXTS[:1] + TEXTS[-2:])
def test_anchor_perplexity_equals_model_loss(ref, model, tokenizer, tol, text):
    ids = tokenizer(text, return_tensors="pt").input_ids.to(model.device)
    with torch.no_grad():
        want = torch.exp(model(input_ids=ids, labels=ids).loss).item()
    got = ref.logprobs.perplexity(model, tokenizer, [text])
    expect_close(torch.tensor(got), torch.tensor([want]), tol.perplexity, f"reference perplexity([{text!r}]) vs exp(loss)")
