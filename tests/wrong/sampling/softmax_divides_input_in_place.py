"""Divides the caller's logits by the temperature in place (logits.div_): the module docstring's "none may change its input in place" broken."""
import torch

from ._reference import (check_repetition_penalty, check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         repetition_penalty, sample_next_token, top_k_filter, top_p_filter)


def softmax_with_temperature(logits, temperature):
    t = check_temperature(temperature)
    z = logits.div_(t) if logits.is_floating_point() else logits / t
    return torch.softmax(z, dim=-1)
