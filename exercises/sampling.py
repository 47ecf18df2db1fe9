"""Task 3: temperature, entropy, top-k, top-p, and one sampling step.

Every function works over the LAST dimension, so it handles `[vocab]` and `[batch, vocab]` alike
(`sample_next_token` takes `[batch, vocab]` only), and none may change its input in place (return a
new tensor: `masked_fill`, not `masked_fill_`).

Write each function with torch operations yourself. transformers' logits warpers and processors
(`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`,
`RepetitionPenaltyLogitsProcessor`) are off limits: they are what these functions are checked
against, and a test in which your code calls one of them fails ("write your own code for this
step"). torch's own functions (`torch.softmax`, `torch.topk`, `torch.multinomial`...) are fine.

Run the tests for this task with: pytest -m sampling
"""
from __future__ import annotations

import torch


def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Softmax of `logits / temperature` over the last dimension.

    What to compute: p_i = exp(z_i / T) / sum_j exp(z_j / T). Writing it out (exp, sum, divide)
    teaches the pitfall below; `torch.softmax` gives the same result.

    Pitfalls:
        - The temperature divides the LOGITS, never the probabilities.
        - exp(1e4) is inf in float32, and inf / inf is nan. Subtract each row's max first
          (softmax does not change when every logit moves by the same amount).
        - Temperature must be a finite number > 0 (ints like 2 are fine). For 0, negative, NaN or
          inf raise ValueError with a one-line message; for "temperature 0", point the user to
          greedy decoding (argmax) instead.

    Args:
        logits: `[..., vocab]`.
        temperature: below 1 sharpens the distribution, above 1 flattens it.

    Returns:
        Probabilities `[..., vocab]`, each row summing to 1.

    Raises:
        ValueError: temperature <= 0, NaN or inf.

    Checked by: pytest -m sampling
        tests/test_sampling.py::test_softmax_with_temperature_matches_reference
        tests/test_sampling.py::test_softmax_with_temperature_t1_is_softmax
        tests/test_sampling.py::test_softmax_with_temperature_sums_to_one
        tests/test_sampling.py::test_softmax_with_temperature_large_logits
        tests/test_sampling.py::test_softmax_with_temperature_lower_sharpens
        tests/test_sampling.py::test_softmax_with_temperature_lower_sharpens_model_logits
        tests/test_sampling.py::test_softmax_with_temperature_approaches_argmax
        tests/test_sampling.py::test_softmax_with_temperature_int_temperature
        tests/test_sampling.py::test_softmax_with_temperature_bad_temperature_raises
        tests/test_sampling.py::test_softmax_with_temperature_does_not_modify_input
    """
    raise NotImplementedError("softmax_with_temperature: exp(logits / T) normalised over the last "
                              "dim, max subtracted first. Task 3.1 - run: pytest -m sampling")


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in nats, H = -sum_i p_i log p_i, over the last dimension.

    Pitfall: a probability of exactly 0 gives 0 * log 0 = 0 * -inf = nan in floating point, but it
        must count as 0 (`torch.special.xlogy` or a mask helps).

    Args:
        probs: `[..., vocab]`, rows summing to 1.

    Returns:
        `[...]`: one entropy per row; log(vocab) for a uniform row, 0 for a one-hot row.

    Checked by: pytest -m sampling
        tests/test_sampling.py::test_entropy_uniform_is_log_n
        tests/test_sampling.py::test_entropy_zero_probabilities
        tests/test_sampling.py::test_entropy_matches_reference
    """
    raise NotImplementedError("entropy: -sum p log p over the last dim, with 0 log 0 = 0. "
                              "Task 3.2 - run: pytest -m sampling")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the `k` largest logits of each row and set all the others to -inf.

    Must give the same result as transformers' `TopKLogitsWarper(k)` (min_tokens_to_keep=1); do not
    call it (see the module docstring: the grader refuses it).

    Pitfalls:
        - Ties: every token whose logit EQUALS the k-th largest stays, so a row may keep more
          than k tokens. Compare with the k-th largest value (`torch.topk`), not with indices.
        - `k` larger than the vocabulary keeps everything (no error).
        - Return a new tensor; the caller's logits must not change.

    Args:
        logits: `[..., vocab]`.
        k: a positive int.

    Returns:
        `[..., vocab]`: kept logits unchanged, the rest -inf.

    Raises:
        ValueError: `k` is not a positive int.

    Checked by: pytest -m sampling
        tests/test_sampling.py::test_top_k_filter_matches_transformers
        tests/test_sampling.py::test_top_k_filter_ties
        tests/test_sampling.py::test_top_k_filter_random_ties_match_transformers
        tests/test_sampling.py::test_top_k_filter_k_above_vocab
        tests/test_sampling.py::test_top_k_filter_does_not_modify_input
        tests/test_sampling.py::test_top_k_filter_bad_k_raises
    """
    raise NotImplementedError("top_k_filter: set every logit below the k-th largest of its row "
                              "to -inf. Task 3.3 - run: pytest -m sampling")


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability reaches `p`.

    Must give the same result as transformers' `TopPLogitsWarper(p)` (min_tokens_to_keep=1),
    ties and totals that land exactly on p included; do not call it (see the module docstring: the
    grader refuses it).

    Pitfalls:
        - The token whose probability makes the total CROSS p is kept: with probabilities
          0.5, 0.3, 0.2 and p = 0.6, both 0.5 and 0.3 stay.
        - The most likely token always stays, even for a tiny p.
        - Ties and exact boundaries: two tokens of equal probability may straddle the cut, and
          a running total may equal p exactly; which one stays depends on how you decide. Decide
          as the warper does (`python -m grader hint sampling.top_p_filter --level 2`).
        - Return a new tensor; the caller's logits must not change.

    Args:
        logits: `[..., vocab]`.
        p: 0 < p <= 1.

    Returns:
        `[..., vocab]`: kept logits unchanged, the rest -inf.

    Raises:
        ValueError: `p` is outside (0, 1].

    Checked by: pytest -m sampling
        tests/test_sampling.py::test_top_p_filter_matches_transformers
        tests/test_sampling.py::test_top_p_filter_keeps_crossing_token
        tests/test_sampling.py::test_top_p_filter_keeps_most_likely
        tests/test_sampling.py::test_top_p_filter_ties
        tests/test_sampling.py::test_top_p_filter_exact_boundaries
        tests/test_sampling.py::test_top_p_filter_random_ties_match_transformers
        tests/test_sampling.py::test_top_p_filter_does_not_modify_input
        tests/test_sampling.py::test_top_p_filter_bad_p_raises
    """
    raise NotImplementedError("top_p_filter: keep the most likely tokens until their total "
                              "probability reaches p, the rest -inf. Task 3.4 - run: pytest -m sampling")


def sample_next_token(logits: torch.Tensor, temperature: float, generator: torch.Generator | None,
                      top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Draw one next token per row, exactly as `generate(do_sample=True)` does.

    What to compute, in transformers' order: the temperature (on float32 logits), then top-k
    (when set: not None, not 0), then top-p (when set: not None, below 1), then the softmax, then
    ONE batched `torch.multinomial` draw for all rows with the `generator` you are given.

    Pitfalls:
        - Filter AFTER the temperature: top-p depends on how sharp the distribution is.
        - One multinomial call for the whole batch, on probabilities computed as generate()
          computes them: a loop of one draw per row, or probabilities that differ in the last
          bit, draw different tokens than generate() for the same seed.

    Args:
        logits: `[batch, vocab]` next-token logits.
        temperature: a finite number > 0.
        generator: a `torch.Generator` on the logits' device (None: torch's global one).
        top_k: keep the k most likely tokens; None or 0 keeps all.
        top_p: keep the nucleus of mass p; None or 1.0 keeps all.

    Returns:
        LongTensor `[batch]` of token ids.

    Raises:
        ValueError: bad temperature, top_k or top_p.

    Checked by: pytest -m sampling
        tests/test_sampling.py::test_sample_next_token_matches_reference_draws
        tests/test_sampling.py::test_sample_next_token_model_logits_match_reference
        tests/test_sampling.py::test_sample_next_token_frequencies_match_softmax
        tests/test_sampling.py::test_sample_next_token_one_batched_draw
        tests/test_sampling.py::test_sample_next_token_seeded_reproducible
        tests/test_sampling.py::test_sample_next_token_shape_dtype_device
        tests/test_sampling.py::test_sample_next_token_respects_top_k_top_p
        tests/test_sampling.py::test_sample_next_token_zero_k_and_p_one_keep_all
        tests/test_sampling.py::test_sample_next_token_bad_arguments_raise
        tests/test_sampling.py::test_sample_next_token_does_not_modify_input
    """
    raise NotImplementedError("sample_next_token: temperature, then top-k, then top-p, then one "
                              "torch.multinomial draw. Task 3.5 - run: pytest -m sampling")


def repetition_penalty(logits: torch.Tensor, generated_ids, penalty: float) -> torch.Tensor:
    """Make every token already in the sequence less likely, as generate(repetition_penalty=...).

    Must give the same result as transformers' `RepetitionPenaltyLogitsProcessor(penalty)`; do not
    call it (see the module docstring: the grader refuses it).

    What to compute, for each row and each token id seen in that row (each id once, however often
    it occurs):
        logit > 0  ->  logit / penalty
        logit < 0  ->  logit * penalty
    (0 stays 0). With penalty > 1 both move the token towards "less likely"; below 1 makes
    repeats MORE likely. Recipe: `gather` the seen tokens' logits, `torch.where` on their sign,
    `scatter` them back into a copy.

    Pitfalls:
        - Dividing a NEGATIVE logit by the penalty would raise it (-2 / 2 = -1): multiply instead.
        - A token seen three times is penalised once, not three times.
        - Row i is penalised for row i's ids only (a batch of continuations that differ).
        - generate() passes the WHOLE sequence so far, prompt included: in decoding, call it with
          the prompt ids and the new ids together.
        - Return a new tensor; the caller's logits must not change.

    Args:
        logits: `[batch, vocab]` (or `[vocab]`) next-token logits.
        generated_ids: `[batch, seq]` (or `[seq]`) ids seen so far per row, a LongTensor (or lists).
        penalty: a finite number > 0 (ints are fine); 1.0 changes nothing.

    Returns:
        A new tensor shaped like `logits`.

    Raises:
        ValueError: penalty <= 0, NaN or inf.

    Checked by: pytest -m sampling
        tests/test_sampling.py::test_repetition_penalty_matches_transformers
        tests/test_sampling.py::test_repetition_penalty_by_hand
        tests/test_sampling.py::test_repetition_penalty_rows_use_their_own_ids
        tests/test_sampling.py::test_repetition_penalty_one_changes_nothing
        tests/test_sampling.py::test_repetition_penalty_never_favours_seen_tokens
        tests/test_sampling.py::test_repetition_penalty_does_not_modify_input
        tests/test_sampling.py::test_repetition_penalty_bad_penalty_raises
    """
    raise NotImplementedError("repetition_penalty: divide the positive logits of seen tokens by the penalty, "
                              "multiply the negative ones. Task 3.6 - run: pytest -m sampling")
