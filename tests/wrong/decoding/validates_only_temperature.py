"""Checks the temperature but returns early for max_new_tokens=0, so a bad top_k or top_p is
accepted there."""
from ._reference import _until_eos, greedy_decode, stop_and_pad_ids  # noqa: F401
from ._reference import sample_decode as _sample_decode
from .sampling import check_temperature


def sample_decode(model, tokenizer, prompt, max_new_tokens, temperature, generator, *, top_k=None, top_p=None,
                  num_samples=1, **kwargs):
    check_temperature(temperature)
    if max_new_tokens == 0 and isinstance(num_samples, int) and num_samples >= 1 and prompt:
        return [[] for _ in range(num_samples)]
    return _sample_decode(model, tokenizer, prompt, max_new_tokens, temperature, generator, top_k=top_k,
                          top_p=top_p, num_samples=num_samples, **kwargs)
