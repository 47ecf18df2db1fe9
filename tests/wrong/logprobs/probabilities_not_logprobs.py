"""Returns the probabilities of the tokens (softmax, then gather), not their log-probabilities."""
import torch

from ._reference import continuation_logprobs, perplexity  # noqa: F401


def token_logprobs(step_logits, token_ids):
    token_ids = torch.as_tensor(token_ids, dtype=torch.long, device=step_logits.device)
    if step_logits.dim() != 2 or token_ids.shape != step_logits.shape[:1]:
        raise ValueError(f"shape mismatch: {list(step_logits.shape)} and {list(token_ids.shape)}")
    probs = torch.softmax(step_logits.float(), dim=-1)
    return probs.gather(-1, token_ids[:, None]).squeeze(-1)
