"""Falls back to the tokenizer's EOS when generation_config.eos_token_id is None (generate() then has no EOS and runs to max_new_tokens)."""
from . import _reference
from ._reference import _check_count, _until_eos, stop_and_pad_ids as _stop_and_pad_ids  # noqa: F401


def stop_and_pad_ids(model, tokenizer):
    if model.generation_config.eos_token_id is None and tokenizer.eos_token_id is not None:
        return [tokenizer.eos_token_id], _stop_and_pad_ids(model, tokenizer)[1]
    return _stop_and_pad_ids(model, tokenizer)


_reference.stop_and_pad_ids = stop_and_pad_ids  # the reference's loops, with this EOS
greedy_decode, sample_decode = _reference.greedy_decode, _reference.sample_decode
