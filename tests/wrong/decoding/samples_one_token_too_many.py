"""Samples one step too many (range(max_new_tokens + 1)): a row that does not stop on EOS is one token longer than max_new_tokens allows."""
from ._reference import _check_count, greedy_decode, stop_and_pad_ids  # noqa: F401
from ._reference import sample_decode as _sample_decode


def sample_decode(model, tokenizer, prompt, max_new_tokens, temperature, generator, *, top_k=None, top_p=None,
                  num_samples=1, repetition_penalty=None):
    _check_count("max_new_tokens", max_new_tokens, 0)
    return _sample_decode(model, tokenizer, prompt, max_new_tokens + 1, temperature, generator, top_k=top_k,
                          top_p=top_p, num_samples=num_samples, repetition_penalty=repetition_penalty)
