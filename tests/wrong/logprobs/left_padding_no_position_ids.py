"""Pads on the left (as for generation), with a mask but no position_ids: shorter texts sit at shifted positions."""
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
    batch = tokenizer(texts, padding=True, padding_side="left", return_tensors="pt").to(model.device)
    input_ids, mask = batch.input_ids, batch.attention_mask
    logits = model(input_ids=input_ids, attention_mask=mask).logits
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    counted = mask[:, 1:]
    mean_nll = -(logp * counted).sum(dim=1) / counted.sum(dim=1)
    return torch.exp(mean_nll).tolist()
