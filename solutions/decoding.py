"""Task 4, reference: greedy and sampled decoding, as a loop over the model's forward pass.

The loop: read the prompt once, then feed back one new token per step. The KV cache keeps the
keys and values of everything already read, so each step after the first costs one position,
not the whole sequence. Nothing here calls `model.generate`; the results equal it.

`stop_and_pad_ids` is a helper; it is not part of the exercise contract.
"""
from __future__ import annotations

import torch

from .next_token import encode_prompt
from .sampling import check_temperature, check_top_k, check_top_p, sample_next_token


def stop_and_pad_ids(model, tokenizer) -> tuple[list[int], int]:
    """The ids `generate()` stops on, and the id it writes once a row has stopped.

    EOS: `model.generation_config.eos_token_id` (an int or a list; SmolLM2: 2 = <|im_end|>),
    else the tokenizer's EOS. Pad: the generation config's pad id, else the tokenizer's, else
    the first EOS id.
    """
    config = model.generation_config
    eos = config.eos_token_id if config.eos_token_id is not None else tokenizer.eos_token_id
    eos_ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    pad = config.pad_token_id
    if pad is None:
        pad = tokenizer.pad_token_id
    if pad is None:
        pad = eos_ids[0] if eos_ids else 0
    return eos_ids, pad


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


@torch.no_grad()
def greedy_decode(model, tokenizer, prompt: str, max_new_tokens: int) -> list[int]:
    """Always take the most likely next token, for up to `max_new_tokens` steps.

    Args:
        model: a causal LM in eval mode.
        tokenizer: its tokenizer.
        prompt: the text to continue (plain text or a chat-template string).
        max_new_tokens: the most tokens to add; 0 gives [].

    Returns:
        The new token ids (prompt not included). If the model emits EOS, that id is the last one.

    Raises:
        ValueError: empty prompt, or `max_new_tokens` not an int >= 0.
    """
    _check_count("max_new_tokens", max_new_tokens, 0)
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)  # [1, prompt_len]
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    new_ids: list[int] = []
    cache = None
    step_input = prompt_ids  # the first step reads the whole prompt, later steps one token
    for _ in range(max_new_tokens):
        # one forward pass; with the cache, the model only needs the new token(s).
        # logits_to_keep=1: only the last position's logits are needed (generate() does the same)
        out = model(input_ids=step_input, cache=cache, use_cache=True, logits_to_keep=1)
        cache = out.cache
        # pluck the logits at the final step and take the most likely token: [1]
        next_id = out.logits[:, -1].float().argmax(dim=-1)
        new_ids.append(next_id.item())
        # stop once the model ends the sequence (the EOS id is kept)
        if new_ids[-1] in eos_ids:
            break
        step_input = next_id[:, None]  # [1, 1]
    return new_ids


@torch.no_grad()
def sample_decode(model, tokenizer, prompt: str, max_new_tokens: int, temperature: float,
                  generator: torch.Generator | None, *, top_k: int | None = None,
                  top_p: float | None = None, num_samples: int = 1) -> list[list[int]]:
    """Sample `num_samples` continuations of `prompt` together, as one batch.

    Equals `torch.manual_seed(s); model.generate(do_sample=True, temperature=float(T),
    top_k=top_k or 0, top_p=top_p or 1.0, num_return_sequences=num_samples)` when `generator`
    is seeded with `s`.

    Args:
        model, tokenizer, prompt, max_new_tokens: as for `greedy_decode`.
        temperature: a finite number > 0.
        generator: a `torch.Generator` on the model's device (None: torch's global one).
        top_k, top_p: optional filters, as in `sample_next_token`.
        num_samples: how many continuations, an int >= 1.

    Returns:
        `num_samples` lists of new token ids; each stops after its first EOS (kept).
        `max_new_tokens=0` gives `num_samples` empty lists.

    Raises:
        ValueError: empty prompt, bad `max_new_tokens`, `num_samples`, temperature, top_k or top_p.
    """
    _check_count("max_new_tokens", max_new_tokens, 0)
    _check_count("num_samples", num_samples, 1)
    check_temperature(temperature)
    if top_k is not None and top_k != 0:
        check_top_k(top_k)
    if top_p is not None:
        check_top_p(top_p)
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)  # [1, prompt_len]
    eos_ids, pad_id = stop_and_pad_ids(model, tokenizer)
    eos = torch.tensor(eos_ids, dtype=torch.long, device=model.device)

    # num_samples copies of the prompt, one per row: [num_samples, prompt_len]. Every row has the
    # same length, so there is no padding and no attention mask is needed.
    step_input = prompt_ids.repeat(num_samples, 1)
    finished = torch.zeros(num_samples, dtype=torch.bool, device=model.device)
    columns = []  # one [num_samples] tensor of new ids per step
    cache = None
    for _ in range(max_new_tokens):
        out = model(input_ids=step_input, cache=cache, use_cache=True, logits_to_keep=1)
        cache = out.cache
        # every row draws a token, finished rows too: that keeps the random stream in step with
        # generate(). One batched draw: [num_samples]
        next_ids = sample_next_token(out.logits[:, -1], temperature, generator,
                                     top_k=top_k, top_p=top_p)
        # a finished row gets padding instead of its draw
        next_ids = torch.where(finished, pad_id, next_ids)
        columns.append(next_ids)
        finished |= torch.isin(next_ids, eos)
        if finished.all():
            break
        step_input = next_ids[:, None]  # [num_samples, 1]

    rows = torch.stack(columns, dim=1).tolist() if columns else [[] for _ in range(num_samples)]
    # cut each row just after its first EOS (what follows is padding)
    return [_until_eos(row, eos_ids) for row in rows]


def _until_eos(ids: list[int], eos_ids: list[int]) -> list[int]:
    for i, token_id in enumerate(ids):
        if token_id in eos_ids:
            return ids[:i + 1]
    return ids
