"""Task 2, reference: the model's distribution over the next token.

A causal language model reads the ids of a text and, at every position, scores every entry of
the vocabulary as the token that comes next. The scores (logits) at the *last* position are its
prediction for the token after the whole text; a softmax turns them into probabilities.

`encode_prompt` is a helper that decoding.py and logprobs.py share; it is not part of the
exercise contract.
"""
from __future__ import annotations

import torch


def encode_prompt(tokenizer, text: str, device) -> torch.Tensor:
    """Token ids of `text`, exactly as `tokenizer(text)` gives them, on `device`.

    Args:
        tokenizer: a Hugging Face tokenizer (not modified).
        text: the prompt.
        device: where the ids should live (the model's device).

    Returns:
        LongTensor `[1, length]`.

    Raises:
        TypeError: `text` is not a str.
        ValueError: `text` encodes to no tokens (e.g. ""): there is no last position whose
            logits could predict a next token.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected the prompt as a str, got {type(text).__name__}")
    ids = tokenizer(text, return_tensors="pt").input_ids
    if ids.shape[-1] == 0:
        raise ValueError(f"empty prompt: {text!r} encodes to no tokens, so there is nothing to "
                         f"predict from; give at least one token of text")
    return ids.to(device)


@torch.no_grad()
def next_token_probs(model, tokenizer, text: str) -> torch.Tensor:
    """Probabilities of every vocabulary entry as the token right after `text`.

    Args:
        model: a causal LM (e.g. SmolLM2-135M-Instruct), in eval mode.
        tokenizer: its tokenizer.
        text: the prompt, e.g. "The movie was full of".

    Returns:
        float32 Tensor `[vocab]` on the model's device, summing to 1.

    Raises:
        ValueError: `text` has no tokens.
    """
    ids = encode_prompt(tokenizer, text, model.device)  # [1, length]
    # one forward pass scores the next token at every position: [1, length, vocab]
    logits = model(input_ids=ids).logits
    # pluck the logits at the final position: they score the token *after* the text
    last = logits[0, -1].float()  # [vocab]
    # softmax turns the scores into a distribution that sums to 1
    return torch.softmax(last, dim=-1)


def top_k_next_tokens(model, tokenizer, text: str, k: int = 10) -> list[tuple[str, float]]:
    """The `k` most likely next tokens after `text`, decoded, with their probabilities.

    Args:
        model, tokenizer, text: as for `next_token_probs`.
        k: how many tokens to list; a `k` above the vocabulary size lists the whole vocabulary.

    Returns:
        `[(token_text, probability), ...]`, most likely first, e.g. `(" surprises", 0.08)`.

    Raises:
        ValueError: `k` is not a positive int, or `text` has no tokens.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    probs = next_token_probs(model, tokenizer, text)  # [vocab]
    # the k largest probabilities and their ids, largest first
    top = torch.topk(probs, min(k, probs.numel()))
    # decode each id on its own: a token's text usually carries its leading space
    return [(tokenizer.decode([token_id]), p)
            for p, token_id in zip(top.values.tolist(), top.indices.tolist())]
