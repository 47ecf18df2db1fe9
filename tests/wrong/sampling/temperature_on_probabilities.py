"""Divides the probabilities by the temperature and renormalises, so the temperature has no effect."""
import torch

from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, top_k_filter, top_p_filter)


def softmax_with_temperature(logits, temperature):
    t = check_temperature(temperature)
    probs = torch.softmax(logits.float(), dim=-1) / t
    return probs / probs.sum(dim=-1, keepdim=True)
