"""torch.log(torch.softmax(x)) instead of torch.log_softmax(x): -inf once a probability underflows to 0."""
import torch

from ._reference import continuation_logprobs, perplexity  # noqa: F401


def token_logprobs(step_logits, token_ids):
    token_ids = torch.as_tensor(token_ids, dtype=torch.long, device=step_logits.device)
    if step_logits.dim() != 2 or token_ids.shape != step_logits.shape[:1]:
        raise ValueError(f"shape mismatch: {list(step_logits.shape)} and {list(token_ids.shape)}")
    logp = torch.log(torch.softmax(step_logits.float(), dim=-1))
    return logp.gather(-1, token_ids[:, None]).squeeze(-1)
