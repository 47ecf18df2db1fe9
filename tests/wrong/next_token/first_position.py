"""Takes the probabilities at the FIRST position (logits[0, 0]), which predict the text's second token."""
import torch

from ._reference import encode_prompt, top_k_next_tokens  # noqa: F401


@torch.no_grad()
def next_token_probs(model, tokenizer, text):
    ids = encode_prompt(tokenizer, text, model.device)
    return torch.softmax(model(input_ids=ids).logits[0, 0].float(), dim=-1)
