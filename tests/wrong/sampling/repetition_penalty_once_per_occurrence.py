"""Repetition penalty applied once per occurrence: a token seen three times is penalised three times."""
import torch

from ._reference import (check_repetition_penalty, check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, softmax_with_temperature, top_k_filter, top_p_filter)


def repetition_penalty(logits, generated_ids, penalty):
    penalty = check_repetition_penalty(penalty)
    ids = torch.as_tensor(generated_ids, dtype=torch.long, device=logits.device)
    out = logits.clone()
    for j in range(ids.shape[-1]):  # one column of ids at a time, each on the already penalised logits
        column = ids[..., j:j + 1]
        seen = out.gather(-1, column)
        out.scatter_(-1, column, torch.where(seen < 0, seen * penalty, seen / penalty))
    return out
