"""grader/submission.py `call_apart`: under the grader the submission's code runs in a thread of its
own, so that no frame of the test lies above it; what comes back is plain data, its exceptions made
plain. (The adversarial cases reads_expected_from_frames and returns_objects_equal_to_anything grade
the same through the whole grader: tests/kit/test_isolation.py.)"""
from __future__ import annotations

import sys

import pytest
import torch
from torch.overrides import TorchFunctionMode

from grader.submission import NotPlainResult, _Apart, call_apart

pytestmark = pytest.mark.kit


def test_no_frame_of_the_caller_is_above_the_call():
    want = "the caller's expected value"  # noqa: F841 - what a frame walk would look for

    def walk():
        frame, seen = sys._getframe(), []
        while frame is not None:
            seen.append(frame.f_locals.get("want"))
            frame = frame.f_back
        return [s for s in seen if s is not None]

    assert walk() == ["the caller's expected value"]  # called here, it finds it
    assert call_apart(walk) == []


def test_results_must_be_plain_data():
    assert call_apart(lambda: {"input_ids": torch.ones(2), "ids": [1, (2.5, "a", None)]})["ids"] == [1, (2.5, "a", None)]

    class Yes(list):
        def __eq__(self, other):
            return True

    with pytest.raises(NotPlainResult, match=r"^encode returned a Yes \(.*a subclass of list\) in a list, not plain data"):
        call_apart(lambda: [Yes()], name="encode")
    with pytest.raises(NotPlainResult, match=r"a generator"):
        call_apart(lambda: (i for i in range(2)))


def test_an_exception_comes_back_as_a_class_that_is_not_the_submission_s():
    class Sneaky(ValueError):
        def __str__(self):
            return "max_new_tokens must be >= 0"

    with pytest.raises(ValueError, match="max_new_tokens must be >= 0") as caught:
        call_apart(lambda: (_ for _ in ()).throw(Sneaky()))
    assert type(caught.value) is ValueError
    plain = KeyError("input_ids")
    with pytest.raises(KeyError) as caught:
        call_apart(lambda: (_ for _ in ()).throw(plain))
    assert caught.value is plain  # Python's own class, plain args: itself
    with pytest.raises(NotImplementedError, match="encode: not yet"):
        call_apart(lambda: (_ for _ in ()).throw(NotImplementedError("encode: not yet")))


def test_the_caller_s_grad_mode_and_torch_function_modes_apply():
    class CountMultinomial(TorchFunctionMode):
        calls = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func is torch.multinomial:
                CountMultinomial.calls += 1
            return func(*args, **(kwargs or {}))

    probs = torch.ones(3, requires_grad=True)
    with torch.no_grad(), CountMultinomial():
        assert call_apart(lambda: torch.is_grad_enabled()) is False
        call_apart(lambda: torch.multinomial(probs, 1))
    assert CountMultinomial.calls == 1
    assert call_apart(lambda: torch.is_grad_enabled()) is True


def test_a_module_seen_apart_calls_the_function_it_holds_now():
    import types

    module = types.ModuleType("submission.sampling")
    module.f = lambda: [1]
    seen = _Apart(module)
    first = seen.f
    assert first is seen.f and first() == [1]  # one wrapper per function: call_once's keys stay the same
    module.f = lambda: [2]
    assert seen.f() == [2]
    module.table = {"a": object()}
    with pytest.raises(NotPlainResult, match=r"^sampling.table is a object in a dict"):
        seen.table


def test_a_cycle_of_causes_still_comes_back():
    first, second = ValueError("first"), ValueError("second")
    first.__cause__, second.__cause__ = second, first

    def cycle():
        raise first

    with pytest.raises(ValueError, match="first"):
        call_apart(cycle)
