"""Greedy decoding without the KV cache: every step re-reads the whole sequence (same ids, quadratic work)."""
import torch

from ._reference import sample_decode, stop_and_pad_ids  # noqa: F401
from .next_token import encode_prompt


@torch.no_grad()
def greedy_decode(model, tokenizer, prompt, max_new_tokens):
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    ids = encode_prompt(tokenizer, prompt, model.device)
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    new_ids = []
    for _ in range(max_new_tokens):
        next_id = model(input_ids=ids).logits[:, -1].argmax(dim=-1)
        new_ids.append(next_id.item())
        if new_ids[-1] in eos_ids:
            break
        ids = torch.cat([ids, next_id[:, None]], dim=1)
    return new_ids
