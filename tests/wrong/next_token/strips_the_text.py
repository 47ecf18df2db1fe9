"""Encodes text.strip() (docstring step 1: the ids exactly as tokenizer(text) gives them): the chat prompt's final newline is lost."""
import torch

from ._reference import top_k_next_tokens  # noqa: F401
from ._reference import encode_prompt as _encode_prompt


def encode_prompt(tokenizer, text, device):
    return _encode_prompt(tokenizer, text.strip() if isinstance(text, str) and text.strip() else text, device)


@torch.no_grad()
def next_token_probs(model, tokenizer, text):
    ids = encode_prompt(tokenizer, text, model.device)
    return torch.softmax(model(input_ids=ids).logits[0, -1].float(), dim=-1)
