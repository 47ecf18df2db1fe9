"""Repetition penalty the wrong way round: multiplies positive logits and divides negative ones, so seen tokens get MORE likely."""
import torch

from ._reference import (check_repetition_penalty, check_temperature, check_top_k, check_top_p, entropy,  # noqa: F401
                         sample_next_token, softmax_with_temperature, top_k_filter, top_p_filter)


def repetition_penalty(logits, generated_ids, penalty):
    penalty = check_repetition_penalty(penalty)
    ids = torch.as_tensor(generated_ids, dtype=torch.long, device=logits.device)
    seen = logits.gather(-1, ids)
    return logits.scatter(-1, ids, torch.where(seen < 0, seen / penalty, seen * penalty))
