"""Sets the dropped logits to -inf in the caller's tensor (in place, masked_fill_) and returns it: the docstring's "Return a new tensor" broken."""
import torch

from ._reference import (check_repetition_penalty, check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         repetition_penalty, sample_next_token, softmax_with_temperature, top_p_filter)


def top_k_filter(logits, k):
    k = min(check_top_k(k), logits.shape[-1])
    cutoff = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill_(logits < cutoff, float("-inf"))
