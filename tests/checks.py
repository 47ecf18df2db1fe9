"""Assertions that fail with one line a student can act on: on which input, expected vs got, a hint.

Every graded test uses these instead of a bare `assert`, so that the grader's table shows
"encode('Hello'): expected [19556], got [19556, 2] - hint: ..." rather than a traceback.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch


def _short(value, limit: int = 80) -> str:
    if isinstance(value, torch.Tensor):
        text = f"tensor{list(value.shape)} {value.flatten()[:6].tolist()}{'...' if value.numel() > 6 else ''}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(what: str, message: str, hint: str = "") -> None:
    raise AssertionError(f"{what}: {message}" + (f" - hint: {hint}" if hint else ""))


class RefusedCall(AssertionError):
    """The submission called what its function is checked against (generate(), a logits warper): the same
    message from every test it fails, whatever that test's hint, so that the reports show it once."""


@contextmanager
def hint_on_error(what: str, hint: str):
    """Code under test inside the block: an error it raises fails the test with `what`, the error
    and `hint` (a crash is also a mistake the test knows about). NotImplementedError and import
    errors pass through, so that an untouched stub reads "not implemented yet" and a module that
    does not import says so."""
    from grader import KitError
    from grader.submission import SubmissionError

    try:
        yield
    except (NotImplementedError, SubmissionError, KitError, RefusedCall):
        raise
    except Exception as err:
        fail(what, f"raised {type(err).__name__}: {err}", hint)


def expect_equal(got, want, what: str, hint: str = "") -> None:
    """`got == want` exactly (lists of ids, strings, tensors of ints). The message names the types
    where they differ (a tuple for a list), and the first differing position of two tensors of the
    same shape (past the values shown)."""
    if isinstance(want, torch.Tensor):
        same = isinstance(got, torch.Tensor) and got.shape == want.shape and torch.equal(got.cpu(), want.cpu())
    else:
        same = got == want
    if same:
        return
    if type(got) is not type(want):
        fail(what, f"expected a {type(want).__name__} {_short(want)}, got a {type(got).__name__} {_short(got)}", hint)
    message = f"expected {_short(want)}, got {_short(got)}"
    if isinstance(want, torch.Tensor) and got.shape == want.shape and got.dtype == want.dtype:
        where = tuple(int(i) for i in (got.cpu() != want.cpu()).nonzero()[0])
        message += f"; first difference at {list(where)}: expected {want[where].item()}, got {got[where].item()}"
    fail(what, message, hint)


def expect_type(got, kind, what: str, hint: str = "") -> None:
    if not isinstance(got, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        fail(what, f"expected a {name}, got {type(got).__name__} {_short(got)}", hint)


def expect_tensor(got, what: str, *, dtype: torch.dtype, shape: list[int] | None = None, device=None,
                  hint: str = "") -> None:
    """`got` is a tensor of the documented dtype (and shape, and device): what a docstring's `Returns:` states."""
    expect_type(got, torch.Tensor, what, hint or f"return a {dtype} tensor")
    if got.dtype != dtype:
        fail(what, f"expected dtype {dtype} (the docstring's Returns), got {got.dtype}",
             hint or f"convert the result with .to({dtype})")
    if shape is not None and list(got.shape) != list(shape):
        fail(what, f"expected shape {list(shape)}, got shape {list(got.shape)}", hint)
    if device is not None and got.device.type != torch.device(device).type:
        fail(what, f"expected the tensor on {torch.device(device).type}, got it on {got.device.type}",
             "create every tensor on the model's (or the input's) device")


def expect_floats(got, count: int, what: str, hint: str = "") -> None:
    """`got` is a list of `count` Python floats (not tensors, not numpy scalars)."""
    expect_type(got, list, what, hint or f"return a list of {count} floats")
    if len(got) != count:
        fail(what, f"expected {count} values, got {len(got)}", hint)
    kinds = sorted({type(x).__name__ for x in got if type(x) is not float})
    if kinds:
        fail(what, f"expected Python floats, got elements of type {', '.join(kinds)}",
             "convert with .tolist() or .item(), so each value is a plain float")


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


def expect_value_error(call, what: str, mentions: tuple[str, ...] = (), hint: str = "") -> str:
    """`call()` raises a ValueError whose message names at least one of `mentions` (the bad value
    or the parameter, case-insensitive). Returns the message. NotImplementedError and import
    errors pass through, so that an untouched stub reads "not implemented yet"."""
    from grader import KitError
    from grader.submission import SubmissionError

    try:
        returned = call()
    except (NotImplementedError, SubmissionError, KitError, RefusedCall):
        raise
    except ValueError as err:
        message = str(err)
    except Exception as err:  # noqa: BLE001 - any other error is the student's to see
        fail(what, f"expected a ValueError, got {type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}",
             hint or "check the argument first and raise ValueError with a one-line message")
    else:
        fail(what, f"expected a ValueError, got no error (it returned {_short(returned)})",
             hint or "check the argument first and raise ValueError with a one-line message")
    if mentions and not any(m.lower() in message.lower() for m in mentions):
        fail(what, f"the ValueError says {message!r}, which names none of {', '.join(map(repr, mentions))}",
             hint or "say which argument is wrong and what its value was")
    return message


def expect_same_ids(got, want: list[int], what: str, hint: str = "") -> None:
    """`got` is exactly the list of token ids `want`; on failure, says from which step they differ."""
    expect_type(got, list, what, "return a plain list of ints (.tolist())")
    if not all(type(i) is int for i in got):
        fail(what, f"expected a list of int, got element types {sorted({type(i).__name__ for i in got})}",
             "convert with int(...) or .tolist()")
    if got == want:
        return
    step = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    if not got:
        fail(what, f"no tokens returned: {len(want)} expected, starting {_short(want[:8])}", hint)
    if step == len(got):  # the same tokens, but too few: say where they stop, not "got []"
        fail(what, f"your {len(got)} tokens match, then stop: {len(want)} tokens expected, the next ones "
                   f"{_short(want[step:step + 8])}", hint)
    if step == len(want):  # the same tokens, then more
        fail(what, f"the {len(want)} expected tokens match, then yours go on: {len(got)} returned, the extra ones "
                   f"{_short(got[step:step + 8])}", hint)
    fail(what, f"tokens differ from step {step}: expected {_short(want[step:step + 8])} there, got "
               f"{_short(got[step:step + 8])} ({len(want)} tokens expected, {len(got)} returned)", hint)


@contextmanager
def refuse_generate(model):
    """Inside the block, `model.generate(...)` fails with a message for the student: the decoding
    exercises are about writing the loop, and generate() is the answer key. Only this instance
    is touched, and its own method is back after the block."""

    def refused(*args, **kwargs):
        raise RefusedCall("your code calls model.generate: write the decoding loop yourself "
                             "(forward passes with a KV cache) - generate() is what it is checked against")

    own = vars(model).get("generate")  # normally absent: generate is the class's method
    model.generate = refused
    try:
        yield
    finally:
        if own is None:
            del model.generate
        else:
            model.generate = own


# transformers' classes that the sampling functions are checked against: a submission may not call them (the
# module docstrings of exercises/sampling.py and exercises/decoding.py say so; tests/kit/test_docstrings.py checks)
LIBRARY_ANSWERS = ("TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper",
                   "RepetitionPenaltyLogitsProcessor")


@contextmanager
def refuse_library_answers(folder):
    """Inside the block, transformers' logits warpers and processors refuse calls made from the
    submission's own files (the folder `folder`): they are what the sampling functions are checked
    against, so calling them (or pasting in the tests' oracles, which do) is not writing the
    function. The tests' own calls go through."""
    import functools
    import os
    import sys

    import transformers

    prefix = str(folder) + os.sep
    saved = []

    def guard(original, name):
        # functools.wraps keeps the signature, which generate()'s LogitsProcessorList inspects
        @functools.wraps(original)
        def guarded(self, *args, **kwargs):
            caller = sys._getframe(1)
            if caller.f_code.co_filename.startswith(prefix):
                where = f"{caller.f_code.co_name} ({os.path.basename(caller.f_code.co_filename)} line {caller.f_lineno})"
                raise RefusedCall(f"your code calls transformers' {name} in {where}, which your function is checked "
                                  f"against: write your own code for this step (the task's docstring: "
                                  f"transformers' logits warpers and processors are off limits)")
            return original(self, *args, **kwargs)
        return guarded

    for cls in (getattr(transformers, name) for name in LIBRARY_ANSWERS):
        original = vars(cls)["__call__"]
        saved.append((cls, original))
        cls.__call__ = guard(original, cls.__name__)
    try:
        yield
    finally:
        for cls, original in saved:
            cls.__call__ = original
