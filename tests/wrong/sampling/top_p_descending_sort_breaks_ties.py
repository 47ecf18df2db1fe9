"""Sorts descending and keeps the tokens whose preceding mass is below p: among tied tokens it keeps
different ones than TopPLogitsWarper (which sorts ascending), and at p = 1 rounding drops the least
likely token."""
import torch

from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, softmax_with_temperature, top_k_filter)


def top_p_filter(logits, p):
    p = check_top_p(p)
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # the mass of the more likely tokens
    drop_sorted = before >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
