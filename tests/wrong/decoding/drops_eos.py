"""Stops at EOS but leaves the EOS id out of the result."""
import torch

from ._forward import forward
from ._reference import sample_decode, stop_and_pad_ids  # noqa: F401
from .next_token import encode_prompt


@torch.no_grad()
def greedy_decode(model, tokenizer, prompt, max_new_tokens):
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    step_input = encode_prompt(tokenizer, prompt, model.device)
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    new_ids, cache = [], None
    for _ in range(max_new_tokens):
        out, cache = forward(model, step_input, cache)
        next_id = out.logits[:, -1].argmax(dim=-1)
        if next_id.item() in eos_ids:
            break
        new_ids.append(next_id.item())
        step_input = next_id[:, None]
    return new_ids
