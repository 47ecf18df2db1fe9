"""Finds the k most likely tokens but lists them in vocabulary (id) order, not most likely first."""
import torch

from ._reference import encode_prompt, next_token_probs  # noqa: F401


def top_k_next_tokens(model, tokenizer, text, k=10):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    probs = next_token_probs(model, tokenizer, text)
    ids = sorted(torch.topk(probs, min(k, probs.numel())).indices.tolist())
    return [(tokenizer.decode([i]), probs[i].item()) for i in ids]
