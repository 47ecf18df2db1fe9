"""Correct: greedy with a DynamicCache made up front and filled in place, taking the argmax of the
probabilities (softmax keeps the order), stopping on a set of EOS ids; the repetition penalty over
a growing tensor of every id so far."""
import torch
from transformers import DynamicCache

from ._forward import forward
from ._reference import sample_decode  # noqa: F401
from .sampling import repetition_penalty as penalise


@torch.no_grad()
def greedy_decode(model, tokenizer, prompt, max_new_tokens, *, repetition_penalty=None):
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    if prompt_ids.numel() == 0:
        raise ValueError("empty prompt: nothing to continue")
    eos = model.generation_config.eos_token_id
    eos = set() if eos is None else {eos} if isinstance(eos, int) else set(eos)  # None: run to max_new_tokens
    cache = DynamicCache(config=model.config)
    if repetition_penalty is not None and not repetition_penalty > 0:
        raise ValueError(f"the repetition penalty must be > 0, got {repetition_penalty!r}")
    step, result, so_far = prompt_ids, [], prompt_ids
    for _ in range(max_new_tokens):
        logits = forward(model, step, cache)[0].logits[:, -1]  # the cache grows in place
        if repetition_penalty is not None:
            logits = penalise(logits.float(), so_far, repetition_penalty)
        probs = torch.softmax(logits, dim=-1)
        token = probs.argmax(dim=-1)
        result.append(token.item())
        if result[-1] in eos:
            break
        step = token.unsqueeze(0)
        so_far = torch.cat([so_far, step], dim=1)
    return result
