"""Task 1, worked answers: tokenisation."""
from __future__ import annotations

import torch


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of `text`, exactly as the tokenizer gives them.

    >>> encode(tokenizer, "The movie")  # doctest: +SKIP
    [504, 7704]
    """
    return list(tokenizer(text)["input_ids"])


def tokens(tokenizer, text: str) -> list[str]:
    """Vocabulary spellings ('Ġmovie') of the ids of `text`."""
    return tokenizer.convert_ids_to_tokens(encode(tokenizer, text))


def decode(tokenizer, ids: list[int]) -> str:
    """Text of `ids` (special tokens kept)."""
    return tokenizer.decode(list(ids))


def pad_id(tokenizer) -> int:
    """The id used for padding: the pad token, or EOS when the tokenizer has none."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def batch_encode(tokenizer, texts: list[str]) -> dict[str, torch.Tensor]:
    """Left-padded batch: {"input_ids", "attention_mask"}, LongTensors [batch, length]."""
    if not texts:
        raise ValueError("batch_encode: texts is empty; pass at least one string")
    rows = [encode(tokenizer, text) for text in texts]
    length = max(len(row) for row in rows)
    pad = pad_id(tokenizer)
    # Padding goes on the LEFT, so that every row's last real token sits in the last column,
    # where a decoder-only model will predict the next token.
    input_ids = [[pad] * (length - len(row)) + row for row in rows]
    attention_mask = [[0] * (length - len(row)) + [1] * len(row) for row in rows]
    return {
        "input_ids": torch.tensor(input_ids, dtype=torch.long).reshape(len(rows), length),
        "attention_mask": torch.tensor(attention_mask, dtype=torch.long).reshape(len(rows), length),
    }
