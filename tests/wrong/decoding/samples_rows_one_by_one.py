"""Samples the continuations one after another (a Python loop over rows) instead of as one batch."""
import torch

from ._forward import forward
from ._reference import _until_eos, greedy_decode, stop_and_pad_ids  # noqa: F401
from .next_token import encode_prompt
from .sampling import check_temperature, sample_next_token


@torch.no_grad()
def sample_decode(model, tokenizer, prompt, max_new_tokens, temperature, generator, *,
                  top_k=None, top_p=None, num_samples=1):
    if max_new_tokens < 0 or num_samples < 1:
        raise ValueError(f"bad max_new_tokens={max_new_tokens} or num_samples={num_samples}")
    check_temperature(temperature)
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    rows = []
    for _ in range(num_samples):
        step_input, cache, row = prompt_ids, None, []
        for _ in range(max_new_tokens):
            out, cache = forward(model, step_input, cache)
            next_id = sample_next_token(out.logits[:, -1], temperature, generator, top_k=top_k, top_p=top_p)
            row.append(next_id.item())
            if row[-1] in eos_ids:
                break
            step_input = next_id[:, None]
        rows.append(row)
    return rows
