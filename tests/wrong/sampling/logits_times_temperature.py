"""Multiplies the logits by the temperature instead of dividing them."""
from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, top_k_filter, top_p_filter)


def softmax_with_temperature(logits, temperature):
    t = check_temperature(temperature)
    scaled = (logits - logits.amax(dim=-1, keepdim=True)) * t
    weights = scaled.exp()
    return weights / weights.sum(dim=-1, keepdim=True)
