"""Never stops at EOS: always generates max_new_tokens tokens."""
import torch

from ._forward import forward
from ._reference import sample_decode  # noqa: F401
from .next_token import encode_prompt


@torch.no_grad()
def greedy_decode(model, tokenizer, prompt, max_new_tokens):
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    step_input = encode_prompt(tokenizer, prompt, model.device)
    new_ids, cache = [], None
    for _ in range(max_new_tokens):
        out, cache = forward(model, step_input, cache)
        next_id = out.logits[:, -1].argmax(dim=-1)
        new_ids.append(next_id.item())
        step_input = next_id[:, None]
    return new_ids
