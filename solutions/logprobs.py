"""Task 5, reference: per-token log-probabilities, and perplexity.

The logits at position i score the token at position i + 1. So the log-probability of a text's
token i + 1 is log_softmax(logits[i])[token i + 1], and the first token of a text is never
scored (nothing comes before it).
"""
from __future__ import annotations

import torch

from .next_token import encode_prompt


def token_logprobs(step_logits: torch.Tensor, token_ids) -> torch.Tensor:
    """Log-probability of the token taken at each step.

    Args:
        step_logits: `[N, vocab]`, the logits of N steps.
        token_ids: `[N]` (LongTensor or list of ints), the token taken at each step.

    Returns:
        float32 Tensor `[N]`: log_softmax(step_logits[i])[token_ids[i]].

    Raises:
        ValueError: the shapes do not match.

    >>> token_logprobs(torch.tensor([[2.0, 0.0], [0.0, 0.0]]), [0, 1])
    tensor([-0.1269, -0.6931])
    """
    token_ids = torch.as_tensor(token_ids, dtype=torch.long, device=step_logits.device)
    if step_logits.dim() != 2 or token_ids.shape != step_logits.shape[:1]:
        raise ValueError(f"expected step_logits [N, vocab] and token_ids [N], got "
                         f"{list(step_logits.shape)} and {list(token_ids.shape)}")
    # log-softmax each step's logits: log-probabilities over the vocabulary, [N, vocab]
    logp = torch.log_softmax(step_logits.float(), dim=-1)
    # pick out the token actually taken at each step: [N, 1] -> [N]
    return logp.gather(-1, token_ids[:, None]).squeeze(-1)


@torch.no_grad()
def continuation_logprobs(model, tokenizer, prompt: str, continuation_ids) -> torch.Tensor:
    """log p(continuation token j | prompt and continuation tokens before j), in one forward pass.

    Args:
        model, tokenizer: a causal LM and its tokenizer.
        prompt: the text before the continuation (at least one token).
        continuation_ids: `[N]` token ids (list or LongTensor), e.g. what greedy_decode returned.

    Returns:
        float32 Tensor `[N]` on the model's device; empty when N == 0.

    Raises:
        ValueError: empty prompt.
    """
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)[0]  # [P]
    cont = torch.as_tensor(continuation_ids, dtype=torch.long, device=model.device).reshape(-1)
    # one pass over prompt + continuation: [P + N, vocab]
    logits = model(input_ids=torch.cat([prompt_ids, cont])[None]).logits[0]
    # continuation token j sits at position P + j, so the logits at P + j - 1 predict it
    start = prompt_ids.numel() - 1
    return token_logprobs(logits[start:start + cont.numel()], cont)


@torch.no_grad()
def perplexity(model, tokenizer, texts: list[str]) -> list[float]:
    """Perplexity of each text: exp(mean negative log-likelihood of its tokens 2..n).

    One forward pass over the batch, right-padded: every real token keeps the position it has when
    the text is alone, and a causal model never looks to the right, so real tokens never see the
    padding. The attention mask marks the padding, and padded targets are left out of the mean.
    Each result equals the text scored alone, and `exp(model(ids, labels=ids).loss)`.

    Args:
        model, tokenizer: a causal LM and its tokenizer.
        texts: a list of texts; `[]` gives `[]`.

    Returns:
        One float per text, in order.

    Raises:
        TypeError: `texts` is a single str (wrap it: `[text]`).
        ValueError: a text has fewer than 2 tokens (no token has a context to be predicted from);
            the message names the text.
    """
    if isinstance(texts, str):
        raise TypeError("perplexity takes a list of texts; wrap a single text as [text]")
    encoded = [tokenizer(text).input_ids for text in texts]  # each text alone, as-is
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
