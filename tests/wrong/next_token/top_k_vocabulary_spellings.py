"""Lists the vocabulary spellings (convert_ids_to_tokens, 'Ġcache') instead of the decoded text (' cache')."""
import torch

from ._reference import encode_prompt, next_token_probs  # noqa: F401


def top_k_next_tokens(model, tokenizer, text, k=10):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    probs = next_token_probs(model, tokenizer, text)
    top = torch.topk(probs, min(k, probs.numel()))
    spellings = tokenizer.convert_ids_to_tokens(top.indices.tolist())
    return list(zip(spellings, top.values.tolist()))
