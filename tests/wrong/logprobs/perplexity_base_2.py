"""Mixes bases: 2 ** (mean NLL measured in nats), instead of e ** (mean NLL in nats)."""
import torch

from ._reference import continuation_logprobs, token_logprobs  # noqa: F401


@torch.no_grad()
def perplexity(model, tokenizer, texts):
    if isinstance(texts, str):
        raise TypeError("pass a list of texts")
    encoded = [tokenizer(text).input_ids for text in texts]
    if not encoded:
        return []
    for text, ids in zip(texts, encoded):
        if len(ids) < 2:
            raise ValueError(f"{text!r} has fewer than 2 tokens")
    longest = max(len(ids) for ids in encoded)
    input_ids = torch.tensor([ids + [0] * (longest - len(ids)) for ids in encoded], device=model.device)
    mask = torch.tensor([[1] * len(ids) + [0] * (longest - len(ids)) for ids in encoded], device=model.device)
    logits = model(input_ids=input_ids, attention_mask=mask).logits
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    counted = mask[:, 1:]
    mean_nll = -(logp * counted).sum(dim=1) / counted.sum(dim=1)
    return (2.0 ** mean_nll).tolist()
