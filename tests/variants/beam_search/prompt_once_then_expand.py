"""Correct: reads the prompt ONCE ([1, P]) and copies its cache to num_beams rows
(batch_repeat_interleave), picks the first beams from that one row, keeps the hypotheses in a heap,
reorders the cache with batch_select_indices, and uses the reference's checks."""
import heapq
import itertools

import torch

from ._forward import forward
from ._reference import _check_args  # noqa: F401
from .decoding import stop_and_pad_ids
from .next_token import encode_prompt


@torch.no_grad()
def beam_search(model, tokenizer, prompt, max_new_tokens, num_beams, *, length_penalty=1.0, early_stopping=False,
                num_return_sequences=1):
    _check_args(max_new_tokens, num_beams, length_penalty, early_stopping, num_return_sequences)
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    eos = torch.tensor(eos_ids, dtype=torch.long, device=model.device)
    keep = max(2, 1 + len(eos_ids)) * num_beams
    heap = []  # min-heap of (score, -order, ids): the worst kept hypothesis on top
    order = itertools.count()
    out, cache = forward(model, prompt_ids, None, logits_to_keep=1)
    logp = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # [1, vocab]: every beam starts here
    sums = torch.zeros(1, device=model.device)
    beams = torch.zeros(1, 0, dtype=torch.long, device=model.device)
    improving = True
    for step in range(max_new_tokens):
        if step > 0:
            out, cache = forward(model, beams[:, -1:], cache, logits_to_keep=1)
            logp = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        vocab = logp.shape[-1]
        top, flat = (sums[:, None] + logp).reshape(-1).topk(keep)
        parent, token = flat // vocab, flat % vocab
        grown = torch.cat([beams[parent], token[:, None]], dim=1)
        last = step + 1 == max_new_tokens
        ending = torch.isin(token, eos) | last
        if improving and not (early_stopping and len(heap) == num_beams):
            for i in range(num_beams):
                if ending[i]:
                    item = ((top[i] / (step + 1) ** length_penalty).item(), -next(order), grown[i].tolist())
                    heapq.heappush(heap, item) if len(heap) < num_beams else heapq.heappushpop(heap, item)
        if last:
            break
        alive = (~ending).nonzero()[:num_beams, 0]
        beams, sums = grown[alive], top[alive]
        if len(heap) == num_beams:
            improving = improving and (sums[0] / (step + 1) ** length_penalty).item() > heap[0][0]
            if early_stopping or not improving:
                break
        if step == 0:
            cache.batch_repeat_interleave(num_beams)  # one row -> num_beams copies; the parents index them
        cache.batch_select_indices(parent[alive])
    best = sorted(heap, reverse=True)[:num_return_sequences]
    return [(ids, score) for score, _, ids in best]
