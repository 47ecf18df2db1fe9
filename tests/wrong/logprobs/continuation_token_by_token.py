"""Scores the continuation one token at a time: right values, but one forward pass per token."""
import torch

from ._reference import perplexity, token_logprobs  # noqa: F401
from .next_token import encode_prompt


@torch.no_grad()
def continuation_logprobs(model, tokenizer, prompt, continuation_ids):
    ids = encode_prompt(tokenizer, prompt, model.device)
    cont = torch.as_tensor(continuation_ids, dtype=torch.long, device=model.device).reshape(-1)
    scores = []
    for token in cont:
        last = model(input_ids=ids).logits[:, -1]
        scores.append(token_logprobs(last, token[None])[0])
        ids = torch.cat([ids, token.view(1, 1)], dim=1)
    return torch.stack(scores) if scores else torch.zeros(0, device=model.device)
