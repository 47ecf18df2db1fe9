"""Applies the repetition penalty last, after the temperature, top-k and top-p (generate() applies it first)."""
import torch

from ._forward import forward
from ._reference import _check_count, _until_eos, greedy_decode, stop_and_pad_ids  # noqa: F401
from .next_token import encode_prompt
from .sampling import check_repetition_penalty, check_temperature, check_top_k, check_top_p, sample_next_token
from .sampling import repetition_penalty as apply_repetition_penalty
from .sampling import top_k_filter, top_p_filter


@torch.no_grad()
def sample_decode(model, tokenizer, prompt: str, max_new_tokens: int, temperature: float,
                  generator: torch.Generator | None, *, top_k: int | None = None,
                  top_p: float | None = None, num_samples: int = 1,
                  repetition_penalty: float | None = None) -> list[list[int]]:
    _check_count("max_new_tokens", max_new_tokens, 0)
    _check_count("num_samples", num_samples, 1)
    check_temperature(temperature)
    if top_k is not None and top_k != 0:
        check_top_k(top_k)
    if top_p is not None:
        check_top_p(top_p)
    if repetition_penalty is not None:
        check_repetition_penalty(repetition_penalty)
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)  # [1, prompt_len]
    eos_ids, pad_id = stop_and_pad_ids(model, tokenizer)
    eos = torch.tensor(eos_ids, dtype=torch.long, device=model.device)

    # num_samples copies of the prompt, one per row: [num_samples, prompt_len]. Every row has the
    # same length, so there is no padding and no attention mask is needed.
    step_input = prompt_ids.repeat(num_samples, 1)
    seen = step_input  # each row's ids so far, for the repetition penalty: [num_samples, prompt_len + steps]
    finished = torch.zeros(num_samples, dtype=torch.bool, device=model.device)
    columns = []  # one [num_samples] tensor of new ids per step
    cache = None
    for _ in range(max_new_tokens):
        out, cache = forward(model, step_input, cache, logits_to_keep=1)
        logits = out.logits[:, -1].float()  # [num_samples, vocab]
        # the penalty first, on the raw logits; temperature, top-k and top-p come after it
        # every row draws a token, finished rows too: that keeps the random stream in step with
        # generate(). One batched draw: [num_samples]
        scores = logits / float(temperature)
        if top_k:
            scores = top_k_filter(scores, top_k)
        if top_p is not None and top_p < 1.0:
            scores = top_p_filter(scores, top_p)
        if repetition_penalty is not None:
            scores = apply_repetition_penalty(scores, seen, repetition_penalty)
        next_ids = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator).squeeze(-1)
        # a finished row gets padding instead of its draw
        next_ids = torch.where(finished, pad_id, next_ids)
        columns.append(next_ids)
        finished |= torch.isin(next_ids, eos)
        if finished.all():
            break
        step_input = next_ids[:, None]  # [num_samples, 1]
        seen = torch.cat([seen, step_input], dim=1)

    rows = torch.stack(columns, dim=1).tolist() if columns else [[] for _ in range(num_samples)]
    # cut each row just after its first EOS (what follows is padding)
    return [_until_eos(row, eos_ids) for row in rows]
