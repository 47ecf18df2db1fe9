"""Falls back to the tokenizer's EOS when generation_config.eos_token_id is None (generate() then has no EOS: every beam runs to max_new_tokens)."""
from . import _reference
from ._reference import _check_args  # noqa: F401
from .decoding import stop_and_pad_ids as _stop_and_pad_ids


def _stops(model, tokenizer):
    if model.generation_config.eos_token_id is None and tokenizer.eos_token_id is not None:
        return [tokenizer.eos_token_id], _stop_and_pad_ids(model, tokenizer)[1]
    return _stop_and_pad_ids(model, tokenizer)


_reference.stop_and_pad_ids = _stops  # the reference's search, with this EOS
beam_search = _reference.beam_search
