"""Takes the next token from the FIRST position's logits (logits[:, 0]) instead of the last."""
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
        next_id = out.logits[:, 0].argmax(dim=-1)
        new_ids.append(next_id.item())
        if new_ids[-1] in eos_ids:
            break
        step_input = next_id[:, None]
    return new_ids
