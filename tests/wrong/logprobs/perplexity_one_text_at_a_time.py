"""Scores each text with its own forward pass: right values, but len(texts) passes instead of one batch."""
import torch

from ._reference import continuation_logprobs, token_logprobs  # noqa: F401


@torch.no_grad()
def perplexity(model, tokenizer, texts):
    if isinstance(texts, str):
        raise TypeError("pass a list of texts")
    result = []
    for text in texts:
        ids = tokenizer(text, return_tensors="pt").input_ids.to(model.device)
        if ids.shape[1] < 2:
            raise ValueError(f"{text!r} has fewer than 2 tokens")
        result.append(torch.exp(model(input_ids=ids, labels=ids).loss).item())
    return result
