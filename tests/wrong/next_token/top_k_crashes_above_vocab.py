"""Passes k straight to torch.topk, which crashes when k is larger than the vocabulary."""
import torch

from ._reference import encode_prompt, next_token_probs  # noqa: F401


def top_k_next_tokens(model, tokenizer, text, k=10):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    top = torch.topk(next_token_probs(model, tokenizer, text), k)
    return [(tokenizer.decode([i]), p) for p, i in zip(top.values.tolist(), top.indices.tolist())]
