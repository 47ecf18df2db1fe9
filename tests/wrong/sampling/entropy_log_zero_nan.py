"""Computes p * log(p) directly, so a probability of 0 gives 0 * -inf = nan."""
from ._reference import (check_temperature, check_top_k, check_top_p, sample_next_token,  # noqa: F401
                         softmax_with_temperature, top_k_filter, top_p_filter)


def entropy(probs):
    return -(probs * probs.log()).sum(dim=-1)
