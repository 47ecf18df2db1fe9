"""Draws from torch's global random state instead of the generator passed in."""
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
    eos_ids, pad_id = stop_and_pad_ids(model, tokenizer)
    eos = torch.tensor(eos_ids, device=model.device)
    step_input = encode_prompt(tokenizer, prompt, model.device).repeat(num_samples, 1)
    finished = torch.zeros(num_samples, dtype=torch.bool, device=model.device)
    columns, cache = [], None
    for _ in range(max_new_tokens):
        out, cache = forward(model, step_input, cache)
        next_ids = sample_next_token(out.logits[:, -1], temperature, None, top_k=top_k, top_p=top_p)
        next_ids = torch.where(finished, pad_id, next_ids)
        columns.append(next_ids)
        finished |= torch.isin(next_ids, eos)
        if finished.all():
            break
        step_input = next_ids[:, None]
    rows = torch.stack(columns, dim=1).tolist() if columns else [[] for _ in range(num_samples)]
    return [_until_eos(row, eos_ids) for row in rows]
