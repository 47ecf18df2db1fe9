"""Softmaxes over the positions (dim=1 of [1, length, vocab]) instead of the vocabulary."""
import torch

from ._reference import encode_prompt, top_k_next_tokens  # noqa: F401


@torch.no_grad()
def next_token_probs(model, tokenizer, text):
    ids = encode_prompt(tokenizer, text, model.device)
    return torch.softmax(model(input_ids=ids).logits.float(), dim=1)[0, -1]
