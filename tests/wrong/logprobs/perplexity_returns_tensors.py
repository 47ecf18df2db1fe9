"""Returns a list of 0-d tensors (list(tensor)), not of Python floats as the docstring's Returns says."""
import torch

from ._reference import continuation_logprobs, perplexity as _perplexity, token_logprobs  # noqa: F401


def perplexity(model, tokenizer, texts):
    values = _perplexity(model, tokenizer, texts)
    return list(torch.tensor(values, dtype=torch.float64))
