"""Task 2: next-token prediction.

A causal language model reads the ids of a text and, at every position, gives a score (a logit)
to every entry of the vocabulary as the token that comes next. The scores at the LAST position
are its prediction for the token after the whole text. The exercise set's first question: what
comes after "The movie was full of"?

Run the tests for this task with: pytest -m next_token
"""
from __future__ import annotations

import torch


def next_token_probs(model, tokenizer, text: str) -> torch.Tensor:
    """Probabilities of every vocabulary entry as the token right after `text`.

    What to compute:
        1. ids = the token ids of `text`, exactly as `tokenizer(text, return_tensors="pt")` gives
           them, moved to `model.device`: LongTensor `[1, length]`.
        2. logits = `model(input_ids=ids).logits`: `[1, length, vocab]`, one row per position.
        3. Take the row of the LAST position, `[vocab]`, as float32, and softmax it.
        Run the model under `torch.no_grad()`.

    Pitfall: position i scores the token at position i + 1. Only the last row predicts the token
        after the text; `logits[0, 0]` predicts the second token of the text itself.

    Args:
        model: a causal LM (e.g. SmolLM2-135M-Instruct), in eval mode. Do not modify it.
        tokenizer: its tokenizer. Do not modify it.
        text: the prompt, e.g. "The movie was full of".

    Returns:
        float32 Tensor `[vocab]` on the model's device, summing to 1.

    Raises:
        ValueError: `text` encodes to no tokens (e.g. ""): there is nothing to predict from.

    Checked by: pytest -m next_token
        tests/test_next_token.py::test_next_token_probs_shape_dtype_device
        tests/test_next_token.py::test_next_token_probs_sums_to_one
        tests/test_next_token.py::test_next_token_probs_matches_reference
        tests/test_next_token.py::test_next_token_probs_is_softmax_of_last_logits
        tests/test_next_token.py::test_next_token_probs_empty_text_raises
    """
    raise NotImplementedError("next_token_probs: softmax of the logits at the last position of "
                              "text. Task 2.1 - run: pytest -m next_token")


def top_k_next_tokens(model, tokenizer, text: str, k: int = 10) -> list[tuple[str, float]]:
    """The `k` most likely next tokens after `text`, decoded, with their probabilities.

    What to compute: the `k` largest entries of `next_token_probs(model, tokenizer, text)`
    (`torch.topk` sorts them, largest first), and for each the token's text,
    `tokenizer.decode([token_id])`, with its probability as a Python float.

    Pitfalls: decode each id on its own (a token's text usually starts with its space, e.g.
        " surprises"); a `k` larger than the vocabulary must list the whole vocabulary, not crash.

    Args:
        model, tokenizer, text: as for `next_token_probs`.
        k: how many tokens to list, a positive int.

    Returns:
        `[(token_text, probability), ...]`: `min(k, vocab)` pairs, most likely first.

    Raises:
        ValueError: `k` is not a positive int, or `text` has no tokens.

    Checked by: pytest -m next_token
        tests/test_next_token.py::test_top_k_next_tokens_sorted
        tests/test_next_token.py::test_top_k_next_tokens_probabilities
        tests/test_next_token.py::test_top_k_next_tokens_decoded_text
        tests/test_next_token.py::test_top_k_next_tokens_k_above_vocab
        tests/test_next_token.py::test_top_k_next_tokens_k_one_is_the_argmax
        tests/test_next_token.py::test_top_k_next_tokens_bad_k_raises
    """
    raise NotImplementedError("top_k_next_tokens: the k largest next-token probabilities with "
                              "their decoded tokens. Task 2.2 - run: pytest -m next_token")
