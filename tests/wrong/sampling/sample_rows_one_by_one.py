"""Draws each row with its own torch.multinomial call instead of one batched draw."""
import torch

from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         softmax_with_temperature, top_k_filter, top_p_filter)


def sample_next_token(logits, temperature, generator, top_k=None, top_p=None):
    scores = logits.float() / check_temperature(temperature)
    if top_k:
        scores = top_k_filter(scores, top_k)
    if top_p is not None and check_top_p(top_p) < 1.0:
        scores = top_p_filter(scores, top_p)
    probs = torch.softmax(scores, dim=-1)
    return torch.stack([torch.multinomial(row, 1, generator=generator)[0] for row in probs])
