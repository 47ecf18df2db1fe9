"""Off by one: scores continuation token j with the logits at its own position P + j (they predict the NEXT token)."""
import torch

from ._reference import perplexity, token_logprobs  # noqa: F401
from .next_token import encode_prompt


@torch.no_grad()
def continuation_logprobs(model, tokenizer, prompt, continuation_ids):
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)[0]
    cont = torch.as_tensor(continuation_ids, dtype=torch.long, device=model.device).reshape(-1)
    logits = model(input_ids=torch.cat([prompt_ids, cont])[None]).logits[0]
    start = prompt_ids.numel()
    return token_logprobs(logits[start:start + cont.numel()], cont)
