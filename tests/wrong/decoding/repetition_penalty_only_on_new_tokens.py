"""Repetition penalty over the new tokens only: the prompt's ids are never penalised."""
import torch

from ._forward import forward
from ._reference import _check_count, _until_eos, sample_decode, stop_and_pad_ids  # noqa: F401
from .next_token import encode_prompt
from .sampling import check_repetition_penalty, check_temperature, check_top_k, check_top_p, sample_next_token
from .sampling import repetition_penalty as apply_repetition_penalty


@torch.no_grad()
def greedy_decode(model, tokenizer, prompt: str, max_new_tokens: int, *,
                  repetition_penalty: float | None = None) -> list[int]:
    _check_count("max_new_tokens", max_new_tokens, 0)
    if repetition_penalty is not None:
        check_repetition_penalty(repetition_penalty)
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)  # [1, prompt_len]
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    new_ids: list[int] = []
    cache = None
    step_input = prompt_ids  # the first step reads the whole prompt, later steps one token
    for _ in range(max_new_tokens):
        # one forward pass; with the cache, the model only needs the new token(s).
        # logits_to_keep=1: only the last position's logits are needed (generate() does the same)
        out, cache = forward(model, step_input, cache, logits_to_keep=1)
        # pluck the logits at the final step, in float32: [1, vocab]
        scores = out.logits[:, -1].float()
        # the penalty works on the raw logits, before choosing
        if repetition_penalty is not None and new_ids:  # the new ids only
            scores = apply_repetition_penalty(scores, torch.tensor([new_ids], device=model.device),
                                              repetition_penalty)
        # take the most likely token: [1]
        next_id = scores.argmax(dim=-1)
        new_ids.append(next_id.item())
        # stop once the model ends the sequence (the EOS id is kept)
        if new_ids[-1] in eos_ids:
            break
        step_input = next_id[:, None]  # [1, 1]
    return new_ids
