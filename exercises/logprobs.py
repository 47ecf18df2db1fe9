"""Task 5: per-token log-probabilities, and perplexity.

The logits at position i score the token at position i + 1. So the log-probability of token
i + 1 of a text is log_softmax(logits[i])[token i + 1], and a text's first token is never scored.
The exercise set: print each generated token with its probability and log-probability; measure
the perplexity of "The movie was full of surprises" and of ungrammatical variants.

Run the tests for this task with: pytest -m logprobs
"""
from __future__ import annotations

import torch


def token_logprobs(step_logits: torch.Tensor, token_ids) -> torch.Tensor:
    """Log-probability of the token taken at each step.

    What to compute: for each step i, log_softmax(step_logits[i])[token_ids[i]]
    (`torch.log_softmax` over the vocabulary, then `gather` the chosen ids).

    Pitfall: log(softmax(x)) underflows to -inf for very unlikely tokens; `torch.log_softmax`
        does not.

    Args:
        step_logits: `[N, vocab]`, the logits of N steps.
        token_ids: `[N]` (LongTensor or list of ints), the token taken at each step.

    Returns:
        float32 Tensor `[N]` on the logits' device.

    Raises:
        ValueError: the shapes do not match.

    Checked by: pytest -m logprobs
        tests/test_logprobs.py::test_token_logprobs_matches_log_softmax
        tests/test_logprobs.py::test_token_logprobs_accepts_a_list_and_returns_float32
        tests/test_logprobs.py::test_token_logprobs_finite_for_huge_logits
        tests/test_logprobs.py::test_token_logprobs_are_at_most_zero
        tests/test_logprobs.py::test_token_logprobs_shape_mismatch_raises
    """
    raise NotImplementedError("token_logprobs: log_softmax over the vocab, then gather each "
                              "step's token. Task 5.1 - run: pytest -m logprobs")


def continuation_logprobs(model, tokenizer, prompt: str, continuation_ids) -> torch.Tensor:
    """log p(continuation token j | the prompt and the continuation tokens before j).

    What to compute, in ONE forward pass:
        1. ids = prompt ids (as `tokenizer(prompt)` gives them, P of them) followed by the
           continuation ids (N of them): `[1, P + N]` on `model.device`;
        2. logits = `model(input_ids=ids).logits[0]`: `[P + N, vocab]`;
        3. the N rows that predict the continuation tokens, then `token_logprobs`.

    Pitfall: the off-by-one. Continuation token j sits at position P + j, so the logits that
        predict it are at position P + j - 1: rows P - 1 .. P + N - 2, not P .. P + N - 1.

    The boundary between prompt and continuation: the continuation is given as ids, exactly as
    the model produced them (e.g. by `greedy_decode` or sampling), and scored as they are. Never
    decode them to text and tokenize again: a sampled continuation need not be the tokenizer's own
    split of its text (' surprises' may come as ' surprise' + 's'), and re-tokenising scores other
    tokens. To score a continuation given as TEXT, do as evaluation harnesses do: tokenize
    `prompt + text` once and take as the continuation the ids after the prompt's own ids
    (`tokenizer(prompt)`), with any leading space kept on the continuation's first word.

    For a greedy continuation this equals `model.compute_transition_scores(out.sequences,
    out.scores, normalize_logits=True)` of `generate(..., output_scores=True,
    return_dict_in_generate=True)` to within about 1e-3.

    Args:
        model, tokenizer: a causal LM and its tokenizer. Do not modify them.
        prompt: the text before the continuation, at least one token.
        continuation_ids: `[N]` token ids (list or LongTensor), e.g. from `greedy_decode`.

    Returns:
        float32 Tensor `[N]` on the model's device; empty when N == 0.

    Raises:
        ValueError: `prompt` encodes to no tokens.

    Checked by: pytest -m logprobs
        tests/test_logprobs.py::test_continuation_logprobs_matches_reference
        tests/test_logprobs.py::test_continuation_logprobs_equal_each_steps_log_softmax
        tests/test_logprobs.py::test_continuation_logprobs_are_at_most_zero
        tests/test_logprobs.py::test_continuation_logprobs_returns_float32_on_the_model_device
        tests/test_logprobs.py::test_continuation_logprobs_one_forward_pass
        tests/test_logprobs.py::test_continuation_logprobs_empty_continuation
        tests/test_logprobs.py::test_continuation_logprobs_empty_prompt_raises
    """
    raise NotImplementedError("continuation_logprobs: one pass over prompt + continuation; the "
                              "logits at i score token i + 1. Task 5.2 - run: pytest -m logprobs")


def perplexity(model, tokenizer, texts: list[str]) -> list[float]:
    """Perplexity of each text: exp(mean negative log-likelihood of its tokens 2..n).

    What to compute, in ONE forward pass over the whole batch:
        1. the ids of each text on its own, as `tokenizer(text)` gives them (add no BOS token of
           your own: the first token is whatever the tokenizer gives, and it is never scored);
        2. pad them to one `[batch, longest]` LongTensor, with an `attention_mask` (1 = real
           token, 0 = padding). Build the padding yourself: do not change the tokenizer's
           `padding_side` or `pad_token`;
        3. logits = `model(input_ids=..., attention_mask=...).logits`;
        4. the log-probability of every token from the second on (logits at i score token i + 1);
        5. per text: the mean of -log p over its REAL tokens only, then exp.

    Pitfalls:
        - Padding must not count: leave padded targets out of the mean (a text padded to the
          longest length must get the same perplexity as when scored alone).
        - Right padding is the simple choice: every real token keeps its position 0, 1, 2...,
          as when the text is alone. With left padding, positions must still start at 0 at each
          text's first real token: pass `position_ids` built from the attention mask.
        - For a single text the result equals `exp(model(ids, labels=ids).loss)`.

    Args:
        model, tokenizer: a causal LM and its tokenizer. Do not modify them.
        texts: a list of texts; `[]` gives `[]`.

    Returns:
        One float per text, in order.

    Raises:
        TypeError: `texts` is a single str (wrap it: `[text]`).
        ValueError: a text has fewer than 2 tokens; the message names the text.

    Checked by: pytest -m logprobs
        tests/test_logprobs.py::test_perplexity_matches_reference
        tests/test_logprobs.py::test_perplexity_batch_equals_alone
        tests/test_logprobs.py::test_perplexity_one_forward_pass
        tests/test_logprobs.py::test_perplexity_empty_list
        tests/test_logprobs.py::test_perplexity_short_text_raises
        tests/test_logprobs.py::test_perplexity_single_string_raises
    """
    raise NotImplementedError("perplexity: one padded, masked forward pass; exp(mean NLL) over "
                              "each text's real tokens 2..n. Task 5.3 - run: pytest -m logprobs")
