"""Passes k straight to torch.topk, which crashes when k is larger than the vocabulary."""
import torch

from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, softmax_with_temperature, top_p_filter)


def top_k_filter(logits, k):
    cutoff = torch.topk(logits, check_top_k(k), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < cutoff, float("-inf"))
