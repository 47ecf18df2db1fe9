"""Count the work a function makes the model do: forward calls, and the tokens each call reads.

Tests assert counted work, never seconds. A loop with a KV cache reads the prompt once and then one
new token per step, so greedy decoding of n tokens after a P-token prompt feeds P + n - 1 tokens
through n forward calls (the last new token is never fed back); without the cache every step
re-reads the whole sequence, n*P + n*(n-1)/2 tokens.

    with count_forward_tokens(model) as seen:
        greedy_decode(model, tokenizer, "The movie was full of", 8)
    seen.calls, seen.tokens, seen.shapes   # 8, 12, [(1, 5), (1, 1), ...]
"""
from __future__ import annotations

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
