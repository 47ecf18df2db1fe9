"""Count the work a function makes the model do: forward calls, and the tokens each call reads.

Tests assert counted work, never seconds. A loop with a KV cache reads the prompt once and then one
new token per step, so greedy decoding of n tokens after a P-token prompt feeds P + n - 1 tokens
through n forward calls (the last new token is never fed back); without the cache every step
re-reads the whole sequence, n*P + n*(n-1)/2 tokens.

    with count_forward_tokens(model) as seen:
        greedy_decode(model, tokenizer, "The movie was full of", 8)
    seen.calls, seen.tokens, seen.shapes   # 8, 12, [(1, 5), (1, 1), ...]

Several tests check different things about one call of the student's function (its ids, its
forward work): `call_once` makes that call once per test process and hands each test the result
and the work it did, so grading a class repeats none of it.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class ForwardCount:
    calls: int = 0  # forward passes
    tokens: int = 0  # token positions read, summed over calls (batch * length per call)
    shapes: list[tuple[int, ...]] = field(default_factory=list)  # [batch, length] of each call


@contextmanager
def count_forward_tokens(model):
    """Count every call of `model`'s forward inside the block, however it is reached (directly,
    `model(...)`, or `model.generate`). Yields a ForwardCount, filled in as the calls happen."""
    seen = ForwardCount()

    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:  # called with embeddings instead of ids: count their positions
            embeds = kwargs.get("inputs_embeds")
            shape = tuple(embeds.shape[:-1]) if embeds is not None else ()
        else:
            shape = tuple(ids.shape)
        seen.calls += 1
        seen.shapes.append(shape)
        n = 1
        for size in shape:
            n *= size
        seen.tokens += n if shape else 0

    handle = model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


_ONCE: dict = {}


def call_once(model, key: tuple, call):
    """The student's `call()`, made once per test process for one `key` (the function and its
    arguments; the model and its EOS ids are added here). Returns a copy of the result and the
    ForwardCount of that one call; an error it raised is raised again for each test that asks."""
    key = (id(model), repr(model.generation_config.eos_token_id), *key)
    if key not in _ONCE:
        with count_forward_tokens(model) as seen:
            try:
                _ONCE[key] = (call(), seen, None)
            except Exception as err:  # noqa: BLE001 - the student's error, for every test that asks
                _ONCE[key] = (None, seen, err)
    result, seen, err = _ONCE[key]
    if err is not None:
        raise err
    return copy.deepcopy(result), seen
