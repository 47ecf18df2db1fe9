"""Feeds the whole sequence again at every step WITH the cache (the pitfall: it reads the prompt twice, and the positions run on)."""
import torch

from ._forward import forward
from ._reference import _check_count, sample_decode, stop_and_pad_ids  # noqa: F401
from .next_token import encode_prompt
from .sampling import check_repetition_penalty, repetition_penalty as penalise


@torch.no_grad()
def greedy_decode(model, tokenizer, prompt, max_new_tokens, *, repetition_penalty=None):
    _check_count("max_new_tokens", max_new_tokens, 0)
    if repetition_penalty is not None:
        check_repetition_penalty(repetition_penalty)
    seen = encode_prompt(tokenizer, prompt, model.device)
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    new_ids, cache = [], None
    for _ in range(max_new_tokens):
        out, cache = forward(model, seen, cache, logits_to_keep=1)  # the whole sequence, every step
        scores = out.logits[:, -1].float()
        if repetition_penalty is not None:
            scores = penalise(scores, seen, repetition_penalty)
        next_id = scores.argmax(dim=-1)
        new_ids.append(next_id.item())
        if new_ids[-1] in eos_ids:
            break
        seen = torch.cat([seen, next_id[:, None]], dim=1)
    return new_ids
