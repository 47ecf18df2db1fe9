"""Greedy decoding after prompt.strip() (docstring step 1: the ids as tokenizer(prompt) gives them): the chat prompt's final newline is lost."""
from ._reference import _check_count, _until_eos, sample_decode, stop_and_pad_ids  # noqa: F401
from ._reference import greedy_decode as _greedy_decode


def greedy_decode(model, tokenizer, prompt, max_new_tokens, *, repetition_penalty=None):
    text = prompt.strip() if isinstance(prompt, str) and prompt.strip() else prompt
    return _greedy_decode(model, tokenizer, text, max_new_tokens, repetition_penalty=repetition_penalty)
