"""Scores the continuation in float64 (.double()): the docstring's Returns says a float32 Tensor [N]."""
import torch

from ._reference import encode_prompt, perplexity, token_logprobs  # noqa: F401


@torch.no_grad()
def continuation_logprobs(model, tokenizer, prompt, continuation_ids):
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)[0]
    cont = torch.as_tensor(continuation_ids, dtype=torch.long, device=model.device).reshape(-1)
    logits = model(input_ids=torch.cat([prompt_ids, cont])[None]).logits[0]
    start = prompt_ids.numel() - 1
    logp = torch.log_softmax(logits[start:start + cont.numel()].double(), dim=-1)
    return logp.gather(-1, cont[:, None]).squeeze(-1)
