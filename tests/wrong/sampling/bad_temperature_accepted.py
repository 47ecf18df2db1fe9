"""Never checks the temperature: 0 divides by zero, a negative one inverts the distribution, no ValueError."""
from ._reference import (check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, top_k_filter, top_p_filter)


def softmax_with_temperature(logits, temperature):
    shifted = logits - logits.amax(dim=-1, keepdim=True)
    weights = (shifted / temperature).exp()
    return weights / weights.sum(dim=-1, keepdim=True)
