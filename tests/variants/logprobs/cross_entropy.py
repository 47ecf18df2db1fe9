"""Correct: written with torch.nn.functional.cross_entropy (labels -100 on padding are ignored),
and the continuation scored by slicing the targets off the sequence."""
import torch
import torch.nn.functional as F

from ._reference import token_logprobs  # noqa: F401


@torch.no_grad()
def continuation_logprobs(model, tokenizer, prompt, continuation_ids):
    prompt_ids = tokenizer(prompt).input_ids
    if not prompt_ids:
        raise ValueError("the prompt is empty: it has no token to score the continuation from")
    cont = [int(i) for i in torch.as_tensor(continuation_ids).reshape(-1).tolist()]
    seq = torch.tensor([prompt_ids + cont], device=model.device)
    logits = model(input_ids=seq).logits[0, :-1].float()  # row i predicts token i + 1
    targets = seq[0, 1:]
    nll = F.cross_entropy(logits, targets, reduction="none")
    return -nll[len(prompt_ids) - 1:]


@torch.no_grad()
def perplexity(model, tokenizer, texts):
    if isinstance(texts, str):
        raise TypeError("perplexity takes a list of texts, not a str")
    rows = [tokenizer(t).input_ids for t in texts]
    if not rows:
        return []
    short = [t for t, r in zip(texts, rows) if len(r) < 2]
    if short:
        raise ValueError(f"{short[0]!r} has fewer than 2 tokens: nothing to score")
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    labels = torch.full((len(rows), width), -100)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        labels[i, :len(r)] = torch.tensor(r)
    ids, labels = ids.to(model.device), labels.to(model.device)
    logits = model(input_ids=ids, attention_mask=(labels != -100).long()).logits.float()
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], reduction="none", ignore_index=-100)
    counts = (labels[:, 1:] != -100).sum(dim=1)
    return torch.exp(nll.sum(dim=1) / counts).tolist()
