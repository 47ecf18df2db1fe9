"""Exponentiates without subtracting the max first: exp(1e4) is inf and inf / inf is nan."""
from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, top_k_filter, top_p_filter)


def softmax_with_temperature(logits, temperature):
    weights = (logits / check_temperature(temperature)).exp()
    return weights / weights.sum(dim=-1, keepdim=True)
