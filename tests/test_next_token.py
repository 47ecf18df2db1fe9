"""Task 2 - next-token prediction: the implementation under test against the reference and the
model itself (graded), and the reference against transformers' generate() (anchors, not graded)."""
import pytest
import torch

from checks import expect_close, expect_equal, expect_type, expect_value_error, fail, hint_on_error
from counting import call_once

pytestmark = pytest.mark.next_token

# One prompt per situation: plain English, a one-token prompt, multi-byte characters, a chat turn.
PROMPTS = {
    "plain": "The movie was full of",
    "one_token": "Hi",
    "japanese": "映画は驚きに",
    "chat": "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n",
}
LAST_POSITION_HINT = ("softmax the logits of the LAST position, logits[0, -1], over the vocabulary; "
                      "logits[0, 0] predicts the second token of the text itself")


def probs_once(impl, model, tokenizer, text: str) -> torch.Tensor:
    """`impl.next_token.next_token_probs(model, tokenizer, text)`, called once for the tests that check it."""
    probs = impl.next_token.next_token_probs
    return call_once(model, (probs, text), lambda: probs(model, tokenizer, text))[0]


def top_k_once(impl, model, tokenizer, text: str, k: int) -> list:
    """`impl.next_token.top_k_next_tokens(model, tokenizer, text, k)`, called once for the tests that check it."""
    top_k = impl.next_token.top_k_next_tokens
    return call_once(model, (top_k, text, k), lambda: top_k(model, tokenizer, text, k))[0]


def last_logits(model, tokenizer, text: str) -> torch.Tensor:
    """The model's own float32 scores `[vocab]` for the token after `text`."""
    ids = tokenizer(text, return_tensors="pt").input_ids.to(model.device)
    with torch.no_grad():
        return model(input_ids=ids).logits[0, -1].float()


def expect_same_tokens(got: list, want_ids: list[int], want_probs: list[float], tokenizer, tol,
                       what: str) -> None:
    """The decoded tokens of `got` are those of `want_ids`, rank by rank; two tokens whose
    probabilities are equal within `tol` may come in either order. `want_*` may be longer than
    `got` (a tie at the cut-off may bring in the next token)."""
    want_text = [tokenizer.decode([i]) for i in want_ids]
    for rank, (text, _) in enumerate(got):
        if text == want_text[rank]:
            continue
        p = want_probs[rank]
        tied = any(want_text[j] == text and abs(want_probs[j] - p) <= tol.atol + tol.rtol * p
                   for j in range(len(want_text)))
        if not tied:
            spelt = tokenizer.convert_ids_to_tokens([want_ids[rank]])[0]
            hint = "decode each id alone with tokenizer.decode([token_id])"
            if text == spelt != want_text[rank]:
                hint += f"; {text!r} is the vocabulary spelling (convert_ids_to_tokens), not the text"
            fail(what, f"expected {want_text[rank]!r} at rank {rank + 1}, got {text!r}", hint)


# ----------------------------------------------------------------------------------------------
# next_token_probs

@pytest.mark.points(2)
def test_next_token_probs_shape_dtype_device(impl, model, tokenizer):
    got = probs_once(impl, model, tokenizer, PROMPTS["plain"])
    what = f"next_token_probs(model, tokenizer, {PROMPTS['plain']!r})"
    expect_type(got, torch.Tensor, what, "return the probabilities as a torch tensor")
    vocab = model.config.vocab_size
    if list(got.shape) != [vocab]:
        fail(what, f"expected shape [{vocab}] (one probability per vocabulary entry), got {list(got.shape)}",
             "take logits[0, -1] (shape [vocab]): drop the batch and position dimensions")
    if got.dtype != torch.float32:
        fail(what, f"expected dtype torch.float32, got {got.dtype}", "convert the logits with .float() first")
    if got.device != model.device:
        fail(what, f"expected the tensor on the model's device {model.device}, got {got.device}",
             "move the ids to model.device and keep the result there")


@pytest.mark.points(2)
@pytest.mark.parametrize("case", ["plain", "one_token"])
def test_next_token_probs_sums_to_one(impl, model, tokenizer, tol, case):
    got = probs_once(impl, model, tokenizer, PROMPTS[case])
    what = f"next_token_probs(model, tokenizer, {PROMPTS[case]!r})"
    expect_type(got, torch.Tensor, what)
    if not torch.isfinite(got).all() or (got < 0).any():
        fail(what, "some probabilities are negative, NaN or inf", "softmax the logits: exp then normalise")
    expect_close(got.sum(dim=-1), torch.tensor(1.0), tol.prob, f"the sum of {what}",
                 "softmax over the vocabulary (the last dimension) so that the probabilities sum to 1")


def softmax_of_last(model, tokenizer, text: str) -> torch.Tensor:
    """The live check: softmax of the model's own last-position logits, `[vocab]`."""
    return torch.softmax(last_logits(model, tokenizer, text), dim=-1)


@pytest.mark.points(4)
@pytest.mark.parametrize("case", list(PROMPTS))
def test_next_token_probs_matches_reference(impl, expected, model, tokenizer, tol, case):
    text = PROMPTS[case]
    want = expected(lambda ref: ref.next_token.next_token_probs(model, tokenizer, text),
                    oracle=lambda: softmax_of_last(model, tokenizer, text), tol=tol.prob)
    got = probs_once(impl, model, tokenizer, text)
    expect_close(got, want, tol.prob, f"next_token_probs(model, tokenizer, {text!r})", LAST_POSITION_HINT)


@pytest.mark.points(2)
def test_next_token_probs_is_softmax_of_last_logits(impl, model, tokenizer, tol):
    text = PROMPTS["plain"]
    want = torch.softmax(last_logits(model, tokenizer, text), dim=-1)
    got = probs_once(impl, model, tokenizer, text)
    expect_close(got, want, tol.prob, f"next_token_probs(model, tokenizer, {text!r}) vs "
                                      f"softmax(model(ids).logits[0, -1])", LAST_POSITION_HINT)


@pytest.mark.points(1)
def test_next_token_probs_empty_text_raises(impl, model, tokenizer):
    what = "next_token_probs(model, tokenizer, '')"
    if tokenizer("")["input_ids"]:  # a tokenizer that adds a BOS token: "" is a valid prompt
        got = impl.next_token.next_token_probs(model, tokenizer, "")
        expect_type(got, torch.Tensor, what)
        return
    expect_value_error(lambda: impl.next_token.next_token_probs(model, tokenizer, ""), what,
                       ("empty", "no token", "''", "text", "prompt"),
                       "'' encodes to no tokens, so there is no last position: raise ValueError('empty text ...')")


# ----------------------------------------------------------------------------------------------
# top_k_next_tokens

@pytest.mark.points(2)
def test_top_k_next_tokens_sorted(impl, model, tokenizer):
    text = PROMPTS["plain"]
    for args, k in (((), 10), ((5,), 5)):
        what = f"top_k_next_tokens(model, tokenizer, {text!r}{''.join(f', {a}' for a in args)})"
        got = impl.next_token.top_k_next_tokens(model, tokenizer, text, *args)
        expect_type(got, list, what, "return a list of (token_text, probability) tuples")
        if len(got) != k:
            fail(what, f"expected {k} pairs, got {len(got)}", "k defaults to 10; list exactly k tokens")
        for pair in got:
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
                    and type(pair[1]) is float):
                fail(what, f"expected (str, float) pairs, got {pair!r}",
                     "make each pair (tokenizer.decode([token_id]), probability.item())")
        probs = [p for _, p in got]
        if any(a < b for a, b in zip(probs, probs[1:])):
            fail(what, f"expected the most likely token first, got probabilities {[round(p, 5) for p in probs]}",
                 "torch.topk returns the k largest values sorted, largest first")


@pytest.mark.points(3)
@pytest.mark.parametrize("case", ["plain", "japanese", "chat"])
def test_top_k_next_tokens_probabilities(impl, expected, model, tokenizer, tol, case):
    text, k = PROMPTS[case], 20
    want = expected(lambda ref: torch.topk(ref.next_token.next_token_probs(model, tokenizer, text), k).values,
                    oracle=lambda: torch.topk(softmax_of_last(model, tokenizer, text), k).values, tol=tol.prob)
    got = top_k_once(impl, model, tokenizer, text, k)
    what = f"the probabilities of top_k_next_tokens(model, tokenizer, {text!r}, {k})"
    expect_type(got, list, what)
    expect_close(torch.tensor([float(p) for _, p in got]), want, tol.prob, what,
                 "the k largest values of next_token_probs, largest first")


@pytest.mark.points(3)
@pytest.mark.parametrize("case", ["plain", "japanese", "chat"])
def test_top_k_next_tokens_decoded_text(impl, expected, model, tokenizer, tol, case):
    text, k = PROMPTS[case], 20
    # (ids, probabilities) of the k + 5 most likely: a tie at the cut-off may bring in the next one
    want_probs, want_ids = expected(
        lambda ref: tuple(torch.topk(ref.next_token.next_token_probs(model, tokenizer, text), k + 5)),
        oracle=lambda: tuple(torch.topk(softmax_of_last(model, tokenizer, text), k + 5)), tol=tol.prob)
    got = top_k_once(impl, model, tokenizer, text, k)
    expect_type(got, list, f"top_k_next_tokens(model, tokenizer, {text!r}, {k})")
    expect_same_tokens(got, want_ids.tolist(), want_probs.tolist(), tokenizer, tol.prob,
                       f"top_k_next_tokens(model, tokenizer, {text!r}, {k})")


@pytest.mark.points(1)
def test_top_k_next_tokens_k_above_vocab(impl, model, tokenizer, tol):
    vocab = model.config.vocab_size
    what = f"top_k_next_tokens(model, tokenizer, 'Hi', k={vocab + 5}) (the vocabulary has {vocab} entries)"
    hint = "use min(k, vocabulary size) so that a large k lists every token"
    with hint_on_error(what, hint):
        got = impl.next_token.top_k_next_tokens(model, tokenizer, "Hi", vocab + 5)
    expect_type(got, list, what)
    if len(got) != vocab:
        fail(what, f"expected the whole vocabulary, {vocab} pairs, got {len(got)}", hint)
    expect_close(torch.tensor(sum(p for _, p in got)), torch.tensor(1.0), tol.logprob,
                 f"the sum of the probabilities of {what}")


@pytest.mark.points(0.5)
def test_top_k_next_tokens_k_one_is_the_argmax(impl, model, tokenizer, tol):
    """k = 1 is a positive int: one pair, the most likely token (the docstring's `min(k, vocab)` pairs)."""
    text = PROMPTS["plain"]
    what = f"top_k_next_tokens(model, tokenizer, {text!r}, 1)"
    hint = "k = 1 is a positive int: list the single most likely token (torch.topk(probs, 1))"
    with hint_on_error(what, hint):
        got = impl.next_token.top_k_next_tokens(model, tokenizer, text, 1)
    expect_type(got, list, what, "return a list of (token_text, probability) tuples")
    if len(got) != 1:
        fail(what, f"expected 1 pair, got {len(got)}", hint)
    # the test's own top 2: a near tie for first place may go either way
    top = torch.topk(softmax_of_last(model, tokenizer, text), 2)
    expect_same_tokens(got, top.indices.tolist(), top.values.tolist(), tokenizer, tol.prob, what)
    expect_close(torch.tensor([float(got[0][1])]), top.values[:1].cpu(), tol.prob, f"the probability of {what}",
                 "the largest value of next_token_probs, as a Python float")


@pytest.mark.points(1)
def test_top_k_next_tokens_bad_k_raises(impl, model, tokenizer):
    for k in (0, -3, 2.5):
        expect_value_error(lambda: impl.next_token.top_k_next_tokens(model, tokenizer, "Hi", k),
                           f"top_k_next_tokens(model, tokenizer, 'Hi', k={k!r})", ("k", repr(k)),
                           "k must be a positive int: raise ValueError(f'k must be a positive int, got {k!r}')")


# ----------------------------------------------------------------------------------------------
# Anchors: the reference against transformers itself (never graded)

@pytest.mark.anchor
@pytest.mark.parametrize("case", list(PROMPTS))
def test_anchor_next_token_probs_vs_generate_first_score(ref, model, tokenizer, tol, case):
    """softmax of generate()'s first score (greedy, so no logits processor changes it) is the
    reference's distribution, and generate()'s token is its argmax."""
    text = PROMPTS[case]
    ids = tokenizer(text, return_tensors="pt").input_ids.to(model.device)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=1,
                         output_scores=True, return_dict_in_generate=True, pad_token_id=tokenizer.eos_token_id)
    want = torch.softmax(out.scores[0][0].float(), dim=-1)
    got = ref.next_token.next_token_probs(model, tokenizer, text)
    expect_close(got, want, tol.prob, f"reference next_token_probs({text!r}) vs generate(output_scores=True)")
    top2 = torch.topk(want, 2).values
    if (top2[0] - top2[1]).item() > tol.greedy_tie:  # a near tie may legitimately go either way
        expect_equal(int(got.argmax()), int(out.sequences[0, -1]), f"argmax after {text!r} vs generate()")


@pytest.mark.anchor
def test_anchor_top_k_next_tokens_vs_topk_and_decode(ref, model, tokenizer, tol):
    text = PROMPTS["plain"]
    top = torch.topk(torch.softmax(last_logits(model, tokenizer, text), dim=-1), 10)
    got = ref.next_token.top_k_next_tokens(model, tokenizer, text, 10)
    expect_close(torch.tensor([p for _, p in got]), top.values, tol.prob, f"reference top_k_next_tokens({text!r})")
    expect_same_tokens(got, top.indices.tolist(), top.values.tolist(), tokenizer, tol.prob,
                       f"reference top_k_next_tokens({text!r})")
