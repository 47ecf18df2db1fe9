"""Task 1: tokenisation - text to ids and back, token spellings, batching with padding.

A causal language model never sees text, only integer ids from the tokenizer's vocabulary.
Check your work with `pytest -m tokenization` (tests/test_tokenization.py).
"""
from __future__ import annotations

import torch


def encode(tokenizer, text: str) -> list[int]:
    """Turn `text` into token ids, exactly as `tokenizer(text)` gives them.

    Args:
        tokenizer: a Hugging Face tokenizer (do not change it).
        text: any string, possibly empty, with leading spaces or non-ASCII characters.

    Returns:
        A plain Python `list[int]` (not a tensor, not a dict).

    Pitfall: `tokenizer(text)` returns a dict-like object; you want its "input_ids".

    Checked by: pytest -m tokenization
        tests/test_tokenization.py::test_encode_matches_tokenizer
        tests/test_tokenization.py::test_encode_returns_list_of_ints
    """
    raise NotImplementedError("encode: call the tokenizer on the text and return its input_ids "
                              "as a list of ints. Task 1.1 - run: pytest -m tokenization")


def tokens(tokenizer, text: str) -> list[str]:
    """The vocabulary spellings of the ids of `text`, e.g. `['The', 'Ġmovie', 'Ġwas']`.

    'Ġ' is how byte-level BPE vocabularies spell a leading space; non-ASCII characters appear as
    their UTF-8 bytes in that same alphabet (so Japanese text looks like mojibake - that is right).

    Returns:
        `list[str]`, one spelling per id of `encode(tokenizer, text)`.

    Pitfall: `tokenizer.decode` of each id gives readable text (' movie'), not the spelling.

    Checked by: pytest -m tokenization
        tests/test_tokenization.py::test_tokens_are_vocabulary_spellings
    """
    raise NotImplementedError("tokens: map each id of encode(tokenizer, text) to its vocabulary "
                              "spelling (convert_ids_to_tokens). Task 1.2 - run: pytest -m tokenization")


def decode(tokenizer, ids: list[int]) -> str:
    """Turn ids back into text, as `tokenizer.decode(ids)` does (special tokens kept).

    Returns:
        A Python `str`: all ids decoded together, special tokens such as "<|im_end|>" included.

    Checked by: pytest -m tokenization
        tests/test_tokenization.py::test_decode_round_trip
        tests/test_tokenization.py::test_decode_matches_tokenizer
    """
    raise NotImplementedError("decode: turn the ids back into a string with the tokenizer. "
                              "Task 1.3 - run: pytest -m tokenization")


def batch_encode(tokenizer, texts: list[str]) -> dict[str, torch.Tensor]:
    """Encode several texts into one rectangular, LEFT-padded batch.

    A decoder-only model generates after the last position of each row, so the padding must go on
    the left: every row's real tokens end at the last column.

    Args:
        texts: a non-empty list of strings (some may be empty).

    Returns:
        {"input_ids": LongTensor[batch, length], "attention_mask": LongTensor[batch, length]}
        where length is the longest text's number of tokens (texts with no tokens at all give
        shape [batch, 0], still LongTensors), the mask is 1 on real tokens and 0 on padding, and
        padding uses `tokenizer.pad_token_id`, or `tokenizer.eos_token_id` when the tokenizer has
        no pad token. A real token may have the pad id (a chat turn ends with <|im_end|>, which is
        also SmolLM2's pad token): the mask says where YOU padded, not which ids equal the pad id.

    Pitfalls: padding on the right (the tokenizer's default); setting `tokenizer.padding_side` or
    `tokenizer.pad_token` on the caller's tokenizer - never change what you were given.
    Raises: ValueError for an empty list.
    Checked by: pytest -m tokenization
        tests/test_tokenization.py::test_batch_encode_left_padding
        tests/test_tokenization.py::test_batch_encode_pad_is_eos_without_pad_token
        tests/test_tokenization.py::test_batch_encode_pads_with_the_pad_id_not_eos
        tests/test_tokenization.py::test_batch_encode_pad_id_inside_a_text
        tests/test_tokenization.py::test_batch_encode_texts_without_tokens
        tests/test_tokenization.py::test_batch_encode_empty_list_raises
        tests/test_tokenization.py::test_batch_encode_matches_reference
        tests/test_tokenization.py::test_tokenizer_not_changed
    """
    raise NotImplementedError("batch_encode: encode each text, then pad every row on the LEFT to the "
                              "longest length and build the attention mask. Task 1.4 - run: pytest -m tokenization")
