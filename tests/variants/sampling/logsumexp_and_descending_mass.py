"""Correct: softmax via logsumexp, entropy with a mask, top-k via kthvalue, top-p in descending
order from each token's tail mass (the warper's ascending sort, flipped, so ties match)."""
import math
import numbers

import torch

from ._reference import check_temperature, check_top_k, check_top_p  # noqa: F401


def _temperature(t):
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {t!r} (for temperature 0, "
                         f"use greedy decoding: argmax)")
    return float(t)


def softmax_with_temperature(logits, temperature):
    scaled = logits.float() / _temperature(temperature)
    # shift by the max first: logsumexp adds the max back, and at 1e6 float32 keeps only 1/16ths
    shifted = scaled - scaled.amax(dim=-1, keepdim=True)
    return torch.exp(shifted - torch.logsumexp(shifted, dim=-1, keepdim=True))


def entropy(probs):
    safe = torch.where(probs > 0, probs, torch.ones_like(probs))  # log(1) = 0 where p = 0
    return -(probs * safe.log()).sum(dim=-1)


def top_k_filter(logits, k):
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"k must be a positive int, got k={k!r}")
    vocab = logits.size(-1)
    kth_largest = logits.kthvalue(vocab - min(k, vocab) + 1, dim=-1, keepdim=True).values
    return torch.where(logits >= kth_largest, logits, torch.full_like(logits, float("-inf")))


def top_p_filter(logits, p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not (0 < p <= 1):
        raise ValueError(f"top_p must be in (0, 1], got p={p!r}")
    ascending, order = torch.sort(logits, dim=-1)
    descending, order = ascending.flip(-1), order.flip(-1)
    probs = descending.softmax(dim=-1)
    # the mass of each token and all the less likely ones; the nucleus is where it exceeds 1 - p
    # (the "mass before < p" form is the same in exact arithmetic, but rounding makes it drop the
    # least likely token at p = 1)
    tail = probs.flip(-1).cumsum(dim=-1).flip(-1)
    keep_sorted = tail > 1 - p
    keep_sorted[..., 0] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return logits.masked_fill(~keep, float("-inf"))


def sample_next_token(logits, temperature, generator, top_k=None, top_p=None):
    scores = logits.float() / _temperature(temperature)
    if top_k not in (None, 0):
        scores = top_k_filter(scores, top_k)
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got p={top_p!r}")
        if top_p < 1:
            scores = top_p_filter(scores, top_p)
    return scores.softmax(dim=-1).multinomial(1, generator=generator)[:, 0]


def repetition_penalty(logits, generated_ids, penalty):
    # each row's distinct ids, penalised one row at a time (index_put on a copy)
    if isinstance(penalty, bool) or not isinstance(penalty, numbers.Real) or not math.isfinite(penalty) or penalty <= 0:
        raise ValueError(f"repetition penalty must be a finite number > 0, got {penalty!r}")
    ids = torch.as_tensor(generated_ids, dtype=torch.long, device=logits.device)
    out = logits.clone()
    rows, ids_rows = out.reshape(-1, out.shape[-1]), ids.reshape(-1, ids.shape[-1]) if ids.numel() else None
    if ids_rows is None:
        return out
    for row, row_ids in zip(rows, ids_rows):
        unique = row_ids.unique()
        values = row[unique]
        row[unique] = torch.where(values < 0, values * penalty, values / penalty)
    return out
