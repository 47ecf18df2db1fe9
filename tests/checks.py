"""Assertions that fail with one line a student can act on: on which input, expected vs got, a hint.

Every graded test uses these instead of a bare `assert`, so that the grader's table shows
"encode('Hello'): expected [19556], got [19556, 2] - hint: ..." rather than a traceback.
"""
from __future__ import annotations

import torch


def _short(value, limit: int = 80) -> str:
    if isinstance(value, torch.Tensor):
        text = f"tensor{list(value.shape)} {value.flatten()[:6].tolist()}{'...' if value.numel() > 6 else ''}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(what: str, message: str, hint: str = "") -> None:
    raise AssertionError(f"{what}: {message}" + (f" - hint: {hint}" if hint else ""))


def expect_equal(got, want, what: str, hint: str = "") -> None:
    """`got == want` exactly (lists of ids, strings, tensors of ints)."""
    if isinstance(want, torch.Tensor):
        same = isinstance(got, torch.Tensor) and got.shape == want.shape and torch.equal(got.cpu(), want.cpu())
    else:
        same = got == want
    if not same:
        fail(what, f"expected {_short(want)}, got {_short(got)}", hint)


def expect_type(got, kind, what: str, hint: str = "") -> None:
    if not isinstance(got, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        fail(what, f"expected a {name}, got {type(got).__name__} {_short(got)}", hint)


def expect_close(got, want: torch.Tensor, tol, what: str, hint: str = "") -> None:
    """A float tensor within `tol` (a grader.devices.Tolerance) of `want`, same shape and dtype family."""
    expect_type(got, torch.Tensor, what, hint)
    if got.shape != want.shape:
        fail(what, f"expected shape {list(want.shape)}, got shape {list(got.shape)}", hint)
    got_f, want_f = got.detach().double().cpu(), want.detach().double().cpu()
    if not torch.allclose(got_f, want_f, atol=tol.atol, rtol=tol.rtol, equal_nan=False):
        diff = (got_f - want_f).abs()
        diff = torch.where(torch.isnan(diff), torch.full_like(diff, float("inf")), diff)
        i = int(diff.flatten().argmax())
        fail(what, f"expected {want_f.flatten()[i].item():.6g} at flat index {i}, got "
                   f"{got_f.flatten()[i].item():.6g} (max difference {diff.max().item():.3g}, "
                   f"tolerance {tol.atol:g} + {tol.rtol:g}*|expected|)", hint)
