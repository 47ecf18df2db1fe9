"""Applies top-p to the raw logits and the temperature afterwards: the nucleus ignores the temperature."""
import torch

from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         softmax_with_temperature, top_k_filter, top_p_filter)


def sample_next_token(logits, temperature, generator, top_k=None, top_p=None):
    temperature = check_temperature(temperature)
    scores = logits.float()
    if top_k:
        scores = top_k_filter(scores, top_k)
    if top_p is not None and check_top_p(top_p) < 1.0:
        scores = top_p_filter(scores, top_p)
    probs = torch.softmax(scores / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
