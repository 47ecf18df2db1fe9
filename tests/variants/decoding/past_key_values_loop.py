"""Correct: the deprecated `past_key_values=` name for the cache, full logits (no logits_to_keep),
EOS read from the generation config by hand, rows built as Python lists; the repetition penalty
from Python lists of the ids so far."""
import torch

from .sampling import check_temperature, repetition_penalty as penalise, sample_next_token


def _stops(model, tokenizer):
    eos = model.generation_config.eos_token_id  # None: no EOS, run to max_new_tokens as generate() does
    eos = set([eos] if isinstance(eos, int) else eos or [])
    pad = model.generation_config.pad_token_id
    if pad is None:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos, default=0)
    return eos, pad


def _prompt(tokenizer, prompt, device):
    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(device)
    if ids.shape[1] == 0:
        raise ValueError("the prompt is empty: it has no tokens to continue from")
    return ids


@torch.no_grad()
def _penalty(value):
    if value is not None and not (isinstance(value, (int, float)) and 0 < value < float("inf")):
        raise ValueError(f"repetition_penalty must be a finite number > 0, got {value!r}")
    return value


def greedy_decode(model, tokenizer, prompt, max_new_tokens, *, repetition_penalty=None):
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    _penalty(repetition_penalty)
    ids = _prompt(tokenizer, prompt, model.device)
    everything = ids[0].tolist()
    eos, _ = _stops(model, tokenizer)
    new, past = [], None
    while len(new) < max_new_tokens:
        out = model(input_ids=ids, past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = out.logits[:, -1].float()
        if repetition_penalty is not None:
            logits = penalise(logits, [everything + new], repetition_penalty)
        token = int(logits[0].argmax())
        new.append(token)
        if token in eos:
            break
        ids = torch.tensor([[token]], device=model.device)
    return new


@torch.no_grad()
def sample_decode(model, tokenizer, prompt, max_new_tokens, temperature, generator, *,
                  top_k=None, top_p=None, num_samples=1, repetition_penalty=None):
    check_temperature(temperature)
    _penalty(repetition_penalty)
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
        raise ValueError(f"top_k must be an int >= 0 (0: no filter), got {top_k!r}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an int >= 1, got {num_samples!r}")
    ids = _prompt(tokenizer, prompt, model.device).expand(num_samples, -1)
    eos, pad = _stops(model, tokenizer)
    rows = [[] for _ in range(num_samples)]
    history = [ids[0].tolist() for _ in range(num_samples)]  # what each row has seen, padding included
    done = [False] * num_samples
    past = None
    for _ in range(max_new_tokens):
        if all(done):
            break
        out = model(input_ids=ids, past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = out.logits[:, -1].float()
        if repetition_penalty is not None:
            logits = penalise(logits, history, repetition_penalty)
        drawn = sample_next_token(logits, temperature, generator, top_k=top_k, top_p=top_p).tolist()
        for r, token in enumerate(drawn):
            if done[r]:
                drawn[r] = pad
            else:
                rows[r].append(token)
                done[r] = token in eos
            history[r].append(drawn[r])
        ids = torch.tensor(drawn, device=model.device)[:, None]
    return rows
