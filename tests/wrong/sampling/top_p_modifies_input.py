"""Sets the dropped logits to -inf in the caller's tensor (in place) and returns it."""
import torch

from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, softmax_with_temperature, top_k_filter)


def top_p_filter(logits, p):
    p = check_top_p(p)
    sorted_logits, order = torch.sort(logits, dim=-1)
    drop_sorted = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= 1 - p
    drop_sorted[..., -1] = False
    logits[drop_sorted.scatter(-1, order, drop_sorted)] = float("-inf")
    return logits
