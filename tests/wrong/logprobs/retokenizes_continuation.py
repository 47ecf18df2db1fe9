"""Decodes the continuation ids to text and tokenizes prompt + text again: ids that are not the
tokenizer's own split of their text (as sampling can produce) are scored as other tokens."""
import torch

from ._reference import perplexity, token_logprobs  # noqa: F401


@torch.no_grad()
def continuation_logprobs(model, tokenizer, prompt, continuation_ids):
    prompt_ids = tokenizer(prompt).input_ids
    if not prompt_ids:
        raise ValueError("empty prompt: give at least one token")
    text = tokenizer.decode(list(continuation_ids))
    ids = tokenizer(prompt + text).input_ids
    logits = model(input_ids=torch.tensor([ids], device=model.device)).logits[0]
    # the last len(ids) - len(prompt_ids) tokens are taken as the continuation
    n = len(ids) - len(prompt_ids)
    start = len(prompt_ids) - 1
    return token_logprobs(logits[start:start + n], torch.tensor(ids[len(prompt_ids):], device=model.device))
