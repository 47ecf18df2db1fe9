"""Correct: perplexity with LEFT padding, made right by position_ids that start at 0 at each text's
first real token; masked positions are dropped with torch.where (never multiplied: 0 * nan is nan)."""
import torch

from ._reference import continuation_logprobs, token_logprobs  # noqa: F401


@torch.no_grad()
def perplexity(model, tokenizer, texts):
    if isinstance(texts, str):
        raise TypeError("perplexity takes a list of texts, not a str")
    if len(texts) == 0:
        return []
    rows = [tokenizer(t).input_ids for t in texts]
    for text, ids in zip(texts, rows):
        if len(ids) < 2:
            raise ValueError(f"{text!r} has {len(ids)} token(s); perplexity needs at least 2")
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=model.device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=model.device)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    # a target counts when it and the token before it are real (left padding: the first real
    # token has a padding position before it, and is never a target)
    counted = (mask[:, 1:] * mask[:, :-1]).bool()
    nll = torch.where(counted, -logp, torch.zeros_like(logp)).sum(dim=1) / counted.sum(dim=1)
    return nll.exp().tolist()
