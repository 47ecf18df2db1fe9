"""Off by one at the top-p boundary: drops the token whose probability makes the total cross p."""
import torch

from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, softmax_with_temperature, top_k_filter)


def top_p_filter(logits, p):
    p = check_top_p(p)
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative > p  # the crossing token itself has cumulative > p
    drop_sorted[..., 0] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
