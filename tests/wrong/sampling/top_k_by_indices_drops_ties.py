"""Keeps exactly the k indices torch.topk returns, dropping tokens tied with the k-th largest."""
import torch

from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, softmax_with_temperature, top_p_filter)


def top_k_filter(logits, k):
    k = min(check_top_k(k), logits.size(-1))
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, torch.topk(logits, k, dim=-1).indices, True)
    return logits.masked_fill(~keep, float("-inf"))
