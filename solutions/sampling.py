"""Task 3, reference: temperature, entropy, top-k, top-p and one sampling step.

Every function works on the last dimension, so `[vocab]` and `[batch, vocab]` both work, and
none changes its input in place.

`check_temperature`, `check_top_k` and `check_top_p` are the argument checks shared with
decoding.py; they are not part of the exercise contract.
"""
from __future__ import annotations

import math
import numbers

import torch


def check_temperature(temperature) -> float:
    """`temperature` as a float, or ValueError unless it is a finite number > 0 (ints are fine)."""
    if (isinstance(temperature, bool) or not isinstance(temperature, numbers.Real)
            or not math.isfinite(temperature) or temperature <= 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}; "
                         f"for 'temperature 0' use greedy decoding (argmax) instead")
    return float(temperature)


def check_top_k(k) -> int:
    """`k`, or ValueError unless it is a positive int."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"top-k needs a positive int k, got {k!r}")
    return int(k)


def check_top_p(p) -> float:
    """`p` as a float, or ValueError unless 0 < p <= 1."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 < p <= 1:
        raise ValueError(f"top-p needs 0 < p <= 1, got {p!r}")
    return float(p)


def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Softmax of `logits / temperature` over the last dimension, stable for huge logits.

    Args:
        logits: `[..., vocab]`.
        temperature: a finite number > 0. Below 1 sharpens the distribution, above 1 flattens it.

    Returns:
        Probabilities `[..., vocab]`, each row summing to 1.

    Raises:
        ValueError: temperature <= 0, NaN or inf.

    >>> softmax_with_temperature(torch.tensor([1.0, 2.0, 3.0]), 1)
    tensor([0.0900, 0.2447, 0.6652])
    >>> softmax_with_temperature(torch.tensor([1.0, 2.0, 3.0]), 0.5)
    tensor([0.0159, 0.1173, 0.8668])
    >>> softmax_with_temperature(torch.tensor([1e4, -1e4]), 2)
    tensor([1., 0.])
    """
    t = check_temperature(temperature)
    if not logits.is_floating_point():
        logits = logits.float()
    # subtract each row's max: softmax is unchanged by a shift, and now exp() cannot overflow
    shifted = logits - logits.amax(dim=-1, keepdim=True)
    # scale by temperature: it divides the logits, never the probabilities
    scaled = shifted / t
    # exponentiate and normalise so each row sums to 1
    weights = scaled.exp()
    return weights / weights.sum(dim=-1, keepdim=True)


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in nats, H = -sum p log p, over the last dimension, with 0 * log 0 = 0.

    Args:
        probs: `[..., vocab]`, rows summing to 1.

    Returns:
        `[...]`: one entropy per row.

    >>> entropy(torch.full((4,), 0.25))  # uniform over 4: log 4
    tensor(1.3863)
    >>> entropy(torch.tensor([1.0, 0.0])).item() == 0  # certain: zero, not nan
    True
    """
    # xlogy(p, p) is p * log(p), but defined as 0 where p == 0 (log 0 would give 0 * -inf = nan)
    return -torch.special.xlogy(probs, probs).sum(dim=-1)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the `k` largest logits of each row, set the rest to -inf (as TopKLogitsWarper).

    Args:
        logits: `[..., vocab]`.
        k: a positive int; with `k` >= vocab every token is kept.

    Returns:
        A new tensor `[..., vocab]`. Tokens tied with the k-th largest logit are all kept.

    Raises:
        ValueError: `k` is not a positive int.

    >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0, 3.0]), 2)
    tensor([-inf, 3., -inf, 3.])
    >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0, 2.0]), 2)  # a tie at the cut-off: both stay
    tensor([-inf, 3., 2., 2.])
    """
    k = min(check_top_k(k), logits.size(-1))
    # the k-th largest logit of each row is the cut-off: [..., 1]
    cutoff = torch.topk(logits, k, dim=-1).values[..., -1:]
    # everything strictly below the cut-off goes to -inf (masked_fill returns a new tensor)
    return logits.masked_fill(logits < cutoff, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches `p` (nucleus).

    Same steps as transformers' TopPLogitsWarper (min_tokens_to_keep=1), so ties are broken the
    same way.

    Args:
        logits: `[..., vocab]`.
        p: 0 < p <= 1.

    Returns:
        A new tensor `[..., vocab]` with the tokens outside the nucleus set to -inf. The token
        whose probability makes the running total cross `p` is kept, and so is the most likely
        token, always.

    Raises:
        ValueError: `p` is outside (0, 1].

    >>> top_p_filter(torch.tensor([0.5, 0.3, 0.2]).log(), 0.6)  # 0.5 + 0.3 crosses 0.6
    tensor([-0.6931, -1.2040,    -inf])
    """
    p = check_top_p(p)
    # sort from least to most likely and run up the probability mass: [..., vocab]
    sorted_logits, order = torch.sort(logits, dim=-1, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    # the unlikely tail holding at most 1 - p of the mass goes; what stays reaches p
    drop_sorted = cumulative <= 1 - p
    # never drop the most likely token (the last one in ascending order)
    drop_sorted[..., -1] = False
    # undo the sort: drop[order[j]] = drop_sorted[j]
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_next_token(logits: torch.Tensor, temperature: float, generator: torch.Generator | None,
                      top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Draw one token per row: temperature, then top-k, then top-p, then one multinomial draw.

    This is the order and the arithmetic of `generate(do_sample=True)`, so with the same random
    state it draws the same tokens.

    Args:
        logits: `[batch, vocab]` next-token logits.
        temperature: a finite number > 0.
        generator: a `torch.Generator` on the logits' device (None: torch's global one).
        top_k: keep the k most likely tokens; None (or 0, as in generate()) keeps all.
        top_p: keep the nucleus of mass p; None (or 1.0) keeps all.

    Returns:
        LongTensor `[batch]` of token ids.

    Raises:
        ValueError: bad temperature, top_k or top_p.

    >>> g = torch.Generator().manual_seed(0)
    >>> sample_next_token(torch.tensor([[0.0, 9.0, 0.0], [9.0, 0.0, 0.0]]), 1.0, g, top_k=1)
    tensor([1, 0])
    """
    temperature = check_temperature(temperature)
    if top_p is not None:
        top_p = check_top_p(top_p)
    # scale the logits by temperature, in float32 as generate() does: [batch, vocab]
    scores = logits.float() / temperature
    # then cut to the k most likely tokens...
    if top_k is not None and top_k != 0:
        scores = top_k_filter(scores, top_k)
    # ...then to the nucleus of mass p (p == 1 keeps everything, so skip it like generate())
    if top_p is not None and top_p < 1.0:
        scores = top_p_filter(scores, top_p)
    # filtered tokens are -inf, so they get probability 0
    probs = torch.softmax(scores, dim=-1)
    # one draw for the whole batch: [batch, 1] -> [batch]
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def check_repetition_penalty(penalty) -> float:
    """`penalty` as a float, or ValueError unless it is a finite number > 0 (ints are fine)."""
    if (isinstance(penalty, bool) or not isinstance(penalty, numbers.Real)
            or not math.isfinite(penalty) or penalty <= 0):
        raise ValueError(f"repetition penalty must be a finite number > 0, got {penalty!r} "
                         f"(1.0 changes nothing, above 1 discourages repeats)")
    return float(penalty)


def repetition_penalty(logits: torch.Tensor, generated_ids, penalty: float) -> torch.Tensor:
    """Make every token already in the sequence less likely (as RepetitionPenaltyLogitsProcessor).

    For each id in `generated_ids`, its logit is divided by `penalty` if it is positive and
    multiplied by `penalty` if it is negative, so with `penalty` > 1 it moves towards "less
    likely" whatever its sign (dividing a negative logit would *raise* it). Each seen token is
    penalised once, however often it occurs. generate() passes the whole sequence so far, prompt
    included, and applies this to the raw logits, before temperature, top-k and top-p.

    Args:
        logits: `[batch, vocab]` (or `[vocab]`) next-token logits.
        generated_ids: `[batch, seq]` (or `[seq]`) ids seen so far in each row (LongTensor or
            nested lists); row i of the logits is penalised for row i's ids only.
        penalty: a finite number > 0; 1.0 changes nothing.

    Returns:
        A new tensor like `logits` (the input is not modified).

    Raises:
        ValueError: a bad penalty, or ids whose shape does not match the logits'.

    >>> repetition_penalty(torch.tensor([[2.0, -2.0, 1.0, 0.5]]), torch.tensor([[0, 1, 1]]), 2.0)
    tensor([[ 1.0000, -4.0000,  1.0000,  0.5000]])
    """
    penalty = check_repetition_penalty(penalty)
    ids = torch.as_tensor(generated_ids, dtype=torch.long, device=logits.device)
    if ids.dim() != logits.dim() or ids.shape[:-1] != logits.shape[:-1]:
        raise ValueError(f"expected generated_ids [batch, seq] for logits [batch, vocab] (or [seq] for "
                         f"[vocab]), got {list(ids.shape)} for {list(logits.shape)}")
    # the current logit of every seen token, [batch, seq] (a repeated id simply appears twice)
    seen = logits.gather(-1, ids)
    # towards "less likely": shrink positive logits, push negative ones further down
    penalised = torch.where(seen < 0, seen * penalty, seen / penalty)
    # write them back into a copy; a repeated id gets the same value twice, so it is penalised once
    return logits.scatter(-1, ids, penalised)
