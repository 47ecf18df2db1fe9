"""Task 4, reference: greedy and sampled decoding, as a loop over the model's forward pass.

The loop: read the prompt once, then feed back one new token per step. The KV cache keeps the
keys and values of everything already read, so each step after the first costs one position,
not the whole sequence. Nothing here calls `model.generate`; the results equal it.

`repetition_penalty=` makes every token already in the sequence (prompt included) less likely,
applied to the raw logits before anything else, as generate() does.

`stop_and_pad_ids` is a helper; it is not part of the exercise contract.
"""
from __future__ import annotations

import torch

from .next_token import encode_prompt
from .sampling import check_repetition_penalty, check_temperature, check_top_k, check_top_p, sample_next_token
from .sampling import repetition_penalty as apply_repetition_penalty


def stop_and_pad_ids(model, tokenizer) -> tuple[list[int], int]:
    """The ids `generate()` stops on, and the id it writes once a row has stopped.

    EOS: `model.generation_config.eos_token_id` (an int or a list; SmolLM2: 2 = <|im_end|>); when
    it is None there is none, and decoding runs to max_new_tokens, as generate() does (which never
    reads the tokenizer's EOS). Pad: the generation config's pad id, else the tokenizer's, else
    the first EOS id (else 0: with no EOS no row ever finishes, so no pad is written).
    """
    config = model.generation_config
    eos = config.eos_token_id
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
def greedy_decode(model, tokenizer, prompt: str, max_new_tokens: int, *,
                  repetition_penalty: float | None = None) -> list[int]:
    """Always take the most likely next token, for up to `max_new_tokens` steps.

    Equals `model.generate(do_sample=False, repetition_penalty=...)`.

    Args:
        model: a causal LM in eval mode.
        tokenizer: its tokenizer.
        prompt: the text to continue (plain text or a chat-template string).
        max_new_tokens: the most tokens to add; 0 gives [].
        repetition_penalty: None (or 1.0) for none; else each step's logits go through
            `repetition_penalty(logits, ids so far, penalty)` before the argmax.

    Returns:
        The new token ids (prompt not included). If the model emits EOS, that id is the last one.

    Raises:
        ValueError: empty prompt, `max_new_tokens` not an int >= 0, or a bad repetition penalty.
    """
    _check_count("max_new_tokens", max_new_tokens, 0)
    if repetition_penalty is not None:
        check_repetition_penalty(repetition_penalty)
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)  # [1, prompt_len]
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    new_ids: list[int] = []
    cache = None
    step_input = prompt_ids  # the first step reads the whole prompt, later steps one token
    seen = prompt_ids  # every id so far, prompt included: what the repetition penalty looks at
    for _ in range(max_new_tokens):
        # one forward pass; with the cache, the model only needs the new token(s).
        # logits_to_keep=1: only the last position's logits are needed (generate() does the same)
        out = model(input_ids=step_input, cache=cache, use_cache=True, logits_to_keep=1)
        cache = out.cache
        # pluck the logits at the final step, in float32: [1, vocab]
        scores = out.logits[:, -1].float()
        # the penalty works on the raw logits, before choosing
        if repetition_penalty is not None:
            scores = apply_repetition_penalty(scores, seen, repetition_penalty)
        # take the most likely token: [1]
        next_id = scores.argmax(dim=-1)
        new_ids.append(next_id.item())
        # stop once the model ends the sequence (the EOS id is kept)
        if new_ids[-1] in eos_ids:
            break
        step_input = next_id[:, None]  # [1, 1]
        seen = torch.cat([seen, step_input], dim=1)  # [1, prompt_len + steps]
    return new_ids


@torch.no_grad()
def sample_decode(model, tokenizer, prompt: str, max_new_tokens: int, temperature: float,
                  generator: torch.Generator | None, *, top_k: int | None = None,
                  top_p: float | None = None, num_samples: int = 1,
                  repetition_penalty: float | None = None) -> list[list[int]]:
    """Sample `num_samples` continuations of `prompt` together, as one batch.

    Equals `torch.manual_seed(s); model.generate(do_sample=True, temperature=float(T),
    top_k=top_k or 0, top_p=top_p or 1.0, num_return_sequences=num_samples,
    repetition_penalty=repetition_penalty or 1.0)` when `generator` is seeded with `s`.

    Args:
        model, tokenizer, prompt, max_new_tokens: as for `greedy_decode`.
        temperature: a finite number > 0.
        generator: a `torch.Generator` on the model's device (None: torch's global one).
        top_k, top_p: optional filters, as in `sample_next_token`.
        num_samples: how many continuations, an int >= 1.
        repetition_penalty: None (or 1.0) for none; else applied to each row's raw logits with
            that row's ids so far (prompt, draws, and padding once it has finished), before the
            temperature, top-k and top-p.

    Returns:
        `num_samples` lists of new token ids; each stops after its first EOS (kept).
        `max_new_tokens=0` gives `num_samples` empty lists.

    Raises:
        ValueError: empty prompt, bad `max_new_tokens`, `num_samples`, temperature, top_k, top_p
            or repetition penalty.
    """
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
        out = model(input_ids=step_input, cache=cache, use_cache=True, logits_to_keep=1)
        cache = out.cache
        logits = out.logits[:, -1].float()  # [num_samples, vocab]
        # the penalty first, on the raw logits; temperature, top-k and top-p come after it
        if repetition_penalty is not None:
            logits = apply_repetition_penalty(logits, seen, repetition_penalty)
        # every row draws a token, finished rows too: that keeps the random stream in step with
        # generate(). One batched draw: [num_samples]
        next_ids = sample_next_token(logits, temperature, generator, top_k=top_k, top_p=top_p)
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


def _until_eos(ids: list[int], eos_ids: list[int]) -> list[int]:
    for i, token_id in enumerate(ids):
        if token_id in eos_ids:
            return ids[:i + 1]
    return ids
