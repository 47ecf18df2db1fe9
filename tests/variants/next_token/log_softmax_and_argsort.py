"""Correct: probabilities as exp(log_softmax), a batched tokenizer call, top-k by argsort and batch_decode."""
import torch

from ._reference import encode_prompt  # noqa: F401


def next_token_probs(model, tokenizer, text):
    batch = tokenizer([text], return_tensors="pt")
    if batch["input_ids"].shape[1] == 0:
        raise ValueError(f"the text {text!r} has no tokens: nothing to predict from")
    with torch.inference_mode():
        logits = model(**{k: v.to(model.device) for k, v in batch.items()}).logits
    return torch.log_softmax(logits[:, -1, :].float(), dim=-1).exp()[0].clone()


def top_k_next_tokens(model, tokenizer, text, k=10):
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
        raise ValueError(f"k must be a positive integer, got k={k!r}")
    probs = next_token_probs(model, tokenizer, text)
    order = torch.argsort(probs, descending=True)[:k].tolist()
    texts = tokenizer.batch_decode([[i] for i in order])
    return [(t, float(probs[i])) for t, i in zip(texts, order)]
