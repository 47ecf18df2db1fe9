"""Correct: torch.softmax for the temperature, entropy via torch.where, top-k via a descending sort,
top-p un-sorted with gather and the inverse permutation, a temperature check of its own."""
import math

import torch

from ._reference import check_temperature, check_top_k, check_top_p  # noqa: F401


def _check(temperature):
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) \
            or math.isnan(temperature) or math.isinf(temperature) or temperature <= 0:
        raise ValueError(f"bad temperature {temperature!r}: it must be finite and > 0; "
                         f"temperature 0 is greedy decoding (argmax)")


def softmax_with_temperature(logits, temperature):
    _check(temperature)
    return torch.softmax(logits / temperature, dim=-1)


def entropy(probs):
    terms = torch.where(probs > 0, probs * probs.log(), torch.zeros_like(probs))
    return -terms.sum(dim=-1)


def top_k_filter(logits, k):
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"top_k_filter: k={k!r} is not a positive int")
    k = min(k, logits.shape[-1])
    threshold = logits.sort(dim=-1, descending=True).values[..., k - 1:k]
    return logits.masked_fill(logits < threshold, -math.inf)


def top_p_filter(logits, p):
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 < p <= 1:
        raise ValueError(f"top_p_filter: p={p!r} is outside (0, 1]")
    sorted_logits, order = logits.sort(dim=-1)
    drop_sorted = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= 1 - p
    drop_sorted[..., -1] = False
    drop = drop_sorted.gather(-1, order.argsort(dim=-1))  # back to vocabulary order
    return logits.masked_fill(drop, -math.inf)


def sample_next_token(logits, temperature, generator, top_k=None, top_p=None):
    _check(temperature)
    scores = logits.float() / temperature
    if top_k:
        scores = top_k_filter(scores, top_k)
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p!r} is outside (0, 1]")
    if top_p is not None and top_p < 1:
        scores = top_p_filter(scores, top_p)
    probs = torch.softmax(scores, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)[:, 0]


def repetition_penalty(logits, generated_ids, penalty):
    # a mask of the seen tokens per row, then torch.where over the whole vocabulary
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not math.isfinite(penalty) or penalty <= 0:
        raise ValueError(f"bad repetition penalty {penalty!r}: it must be finite and > 0")
    ids = torch.as_tensor(generated_ids, dtype=torch.long, device=logits.device)
    seen = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device).scatter(-1, ids, True)
    return torch.where(seen, torch.where(logits > 0, logits / penalty, logits * penalty), logits)
