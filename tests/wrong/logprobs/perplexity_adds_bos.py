"""Puts a BOS token of its own before each text (docstring step 1: add no BOS of your own): every text is scored after a token it never had."""
import torch

from ._reference import continuation_logprobs, token_logprobs  # noqa: F401


@torch.no_grad()
def perplexity(model, tokenizer, texts: list[str]) -> list[float]:
    if isinstance(texts, str):
        raise TypeError("perplexity takes a list of texts; wrap a single text as [text]")
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = [[bos] + tokenizer(text).input_ids for text in texts]  # a BOS of its own first
    if not encoded:
        return []
    for text, ids in zip(texts, encoded):
        if len(ids) < 2:
            raise ValueError(f"perplexity needs at least 2 tokens, but {text!r} has {len(ids)}")

    # right-pad into one batch: [batch, longest]. The pad id does not matter: it is masked out.
    longest = max(len(ids) for ids in encoded)
    input_ids = torch.zeros(len(encoded), longest, dtype=torch.long)
    attention_mask = torch.zeros(len(encoded), longest, dtype=torch.long)
    for row, ids in enumerate(encoded):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        attention_mask[row, :len(ids)] = 1
    input_ids, attention_mask = input_ids.to(model.device), attention_mask.to(model.device)

    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # [batch, longest, vocab]
    # the logits at position i predict token i + 1: drop the last step and the first token
    step_logits, targets = logits[:, :-1], input_ids[:, 1:]  # [batch, longest - 1, (vocab)]
    logp = token_logprobs(step_logits.reshape(-1, step_logits.shape[-1]), targets.reshape(-1))
    logp = logp.view(targets.shape)
    # a target counts only if it is a real token, not padding
    counts = attention_mask[:, 1:].float()
    mean_nll = -(logp * counts).sum(dim=1) / counts.sum(dim=1)
    # perplexity: exp of the mean negative log-likelihood per predicted token
    return torch.exp(mean_nll).tolist()
