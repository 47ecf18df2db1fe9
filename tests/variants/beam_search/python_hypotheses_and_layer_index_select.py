"""Correct: beams and finished hypotheses as Python lists, the deprecated `past_key_values=` name,
full logits (no logits_to_keep), log-probs as logits minus logsumexp, the cache reordered by hand
(index_select on every layer's keys and values), arguments checked on their own."""
import math

import torch


def _eos(model, tokenizer):
    eos = model.generation_config.eos_token_id  # None: no EOS, run to max_new_tokens as generate() does
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


def _check(max_new_tokens, num_beams, length_penalty, num_return_sequences):
    for name, value in (("max_new_tokens", max_new_tokens), ("num_beams", num_beams),
                        ("num_return_sequences", num_return_sequences)):
        if type(value) is not int or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if num_return_sequences > num_beams:
        raise ValueError(f"num_return_sequences={num_return_sequences} is more than num_beams={num_beams}")
    if not isinstance(length_penalty, (int, float)) or not math.isfinite(length_penalty):
        raise ValueError(f"length_penalty must be finite, got {length_penalty!r}")


def _select_rows(cache, rows):
    for layer in cache.layers:
        layer.keys = layer.keys.index_select(0, rows)
        layer.values = layer.values.index_select(0, rows)


@torch.no_grad()
def beam_search(model, tokenizer, prompt, max_new_tokens, num_beams, *, length_penalty=1.0, early_stopping=False,
                num_return_sequences=1):
    _check(max_new_tokens, num_beams, length_penalty, num_return_sequences)
    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    if ids.shape[1] == 0:
        raise ValueError("empty prompt: it has no tokens to continue")
    eos = _eos(model, tokenizer)
    keep = max(2, 1 + len(eos)) * num_beams
    beams = [[] for _ in range(num_beams)]  # new ids of each running beam
    sums = torch.tensor([0.0] + [float("-inf")] * (num_beams - 1), device=model.device)
    done = []  # (score, ids), best first
    hopeful = True
    past, step_input = None, ids.expand(num_beams, -1)
    for step in range(max_new_tokens):
        out = model(input_ids=step_input, past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = out.logits[:, -1].float()
        logp = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
        vocab = logp.shape[1]
        values, where = (sums[:, None] + logp).view(-1).topk(keep)
        last = step == max_new_tokens - 1
        cand = [(v, int(w) // vocab, int(w) % vocab) for v, w in zip(values, where)]
        if hopeful and not (early_stopping and len(done) == num_beams):
            for v, beam, token in cand[:num_beams]:
                if last or token in eos:
                    done.append(((v / (step + 1) ** length_penalty).item(), beams[beam] + [token]))
            done = sorted(done, key=lambda d: d[0], reverse=True)[:num_beams]
        if last:
            break
        nxt = [(v, beam, token) for v, beam, token in cand if token not in eos][:num_beams]
        beams = [beams[beam] + [token] for _, beam, token in nxt]
        sums = torch.stack([v for v, _, _ in nxt])
        if len(done) == num_beams:
            if early_stopping:
                break
            hopeful = (sums[0] / (step + 1) ** length_penalty).item() > done[-1][0]
            if not hopeful:
                break
        _select_rows(past, torch.tensor([beam for _, beam, _ in nxt], device=model.device))
        step_input = torch.tensor([[token] for _, _, token in nxt], device=model.device)
    return [(ids, score) for score, ids in done[:num_return_sequences]]
