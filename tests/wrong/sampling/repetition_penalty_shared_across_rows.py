"""Repetition penalty with one set of ids for the whole batch: every row is penalised for every row's ids."""
import torch

from ._reference import (check_repetition_penalty, check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, softmax_with_temperature, top_k_filter, top_p_filter)


def repetition_penalty(logits, generated_ids, penalty):
    penalty = check_repetition_penalty(penalty)
    ids = torch.as_tensor(generated_ids, dtype=torch.long, device=logits.device)
    seen_anywhere = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
    seen_anywhere[ids.flatten()] = True
    penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen_anywhere, penalised, logits)
