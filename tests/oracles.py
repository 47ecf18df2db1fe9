"""Correct versions of the sampling task's functions, built from transformers' own pieces (the
logits warpers and processors) and torch, never from the reference answers.

Two uses:
- live checks: what a test compares with where no recording applies (grader/expectations.py);
- a mistake costs once: while a decoding test runs, the submission's decoding calls these instead
  of its own sampling functions (`sampling_replaced_by_oracles`), so that a bug in Task 3 costs
  points in Task 3 only. A separate, small test checks that decoding does call the submission's
  own `sample_next_token`.
"""
from __future__ import annotations

import inspect
import math
import numbers
import sys
from contextlib import contextmanager

import torch
from transformers import (RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper,
                          TopPLogitsWarper)


def _temperature(t) -> float:
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {t!r}; for 'temperature 0' use greedy "
                         f"decoding (argmax)")
    return float(t)


def _k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"top_k must be a positive int, got {k!r}")
    return int(k)


def _p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 < p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {p!r}")
    return float(p)


def _rows(logits: torch.Tensor) -> torch.Tensor:
    """The warpers take `[batch, vocab]`: any leading shape, flattened."""
    return logits.reshape(-1, logits.shape[-1])


def softmax_with_temperature(logits: torch.Tensor, temperature) -> torch.Tensor:
    scores = TemperatureLogitsWarper(_temperature(temperature))(None, _rows(logits.float()))
    return torch.softmax(scores, dim=-1).reshape(logits.shape)


def top_k_filter(logits: torch.Tensor, k) -> torch.Tensor:
    return TopKLogitsWarper(_k(k))(None, _rows(logits).clone()).reshape(logits.shape)


def top_p_filter(logits: torch.Tensor, p) -> torch.Tensor:
    return TopPLogitsWarper(_p(p))(None, _rows(logits).clone()).reshape(logits.shape)


def warped_probs(logits: torch.Tensor, temperature, top_k=None, top_p=None) -> torch.Tensor:
    """transformers' sampling distribution: temperature, top-k, top-p warpers, then softmax."""
    scores = TemperatureLogitsWarper(_temperature(temperature))(None, logits.float())
    if top_k:
        scores = TopKLogitsWarper(_k(top_k))(None, scores)
    if top_p is not None and _p(top_p) < 1.0:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return torch.softmax(scores, dim=-1)


def sample_next_token(logits: torch.Tensor, temperature, generator, top_k=None, top_p=None) -> torch.Tensor:
    """The warpers, softmax, and one torch.multinomial draw for the whole batch: `[batch]`."""
    return torch.multinomial(warped_probs(logits, temperature, top_k, top_p), 1, generator=generator).squeeze(-1)


def repetition_penalty(logits: torch.Tensor, generated_ids, penalty) -> torch.Tensor:
    if isinstance(penalty, bool) or not isinstance(penalty, numbers.Real) or not math.isfinite(penalty) or penalty <= 0:
        raise ValueError(f"repetition penalty must be a finite number > 0, got {penalty!r}")
    ids = torch.as_tensor(generated_ids, dtype=torch.long, device=logits.device)
    if ids.dim() != logits.dim() or ids.shape[:-1] != logits.shape[:-1]:
        raise ValueError(f"expected generated_ids [batch, seq] for logits [batch, vocab], got {list(ids.shape)} "
                         f"for {list(logits.shape)}")
    rows = _rows(logits).clone()
    ids = ids.reshape(rows.shape[0], -1)
    return RepetitionPenaltyLogitsProcessor(float(penalty))(ids, rows).reshape(logits.shape)


ORACLES = {f.__name__: f for f in (softmax_with_temperature, top_k_filter, top_p_filter, sample_next_token,
                                   repetition_penalty)}


@contextmanager
def sampling_replaced_by_oracles(impl, calls: list | None = None):
    """Inside the block, the submission's sampling functions, and the names its other modules
    bound to them (`from .sampling import sample_next_token` in decoding.py or in a helper module),
    are these oracles; the name of each one called is appended to `calls`. Everything is put back
    after the block."""
    try:
        sampling, _ = impl.sampling, impl.decoding  # imported now, so that their names can be replaced
    except Exception:  # noqa: BLE001 - a module that does not import: its own tests say so
        yield
        return

    def stand_in(fn_name):
        oracle = ORACLES[fn_name]

        def call(*args, **kwargs):
            if calls is not None:
                calls.append(fn_name)
            return oracle(*args, **kwargs)
        return call

    # (unwrapped: under the grader, the functions the tests call run the submission's code apart)
    own = {fn_name: inspect.unwrap(f) if (f := getattr(sampling, fn_name, None)) is not None else None
           for fn_name in ORACLES}
    # every module of the submission: decoding, sampling, and any helper module between them
    package = sampling.__name__.rpartition(".")[0]
    # (filtered before sorting: sys.modules holds thousands of modules, and this runs for each test)
    modules = [m for _, m in sorted((name, m) for name, m in list(sys.modules.items())
                                    if name.startswith(package + ".") and m is not None)]
    saved = []
    for module in modules:
        for name, value in list(vars(module).items()):
            fn_name = next((f for f, fn in own.items() if fn is not None and value is fn), None)
            if fn_name is not None:
                saved.append((module, name, value))
                setattr(module, name, stand_in(fn_name))
    try:
        yield
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)
