"""Pads on the right (the tokenizer's default) instead of the left."""
import torch

from ._reference import decode, encode, pad_id, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    rows = [encode(tokenizer, t) for t in texts]
    length = max(len(r) for r in rows)
    ids = [r + [pad_id(tokenizer)] * (length - len(r)) for r in rows]
    mask = [[1] * len(r) + [0] * (length - len(r)) for r in rows]
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
