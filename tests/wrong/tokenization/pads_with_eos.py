"""Always pads with the EOS id, also when the tokenizer has a pad token of its own."""
import torch

from ._reference import decode, encode, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    if not texts:
        raise ValueError("batch_encode: texts is empty")
    rows = [encode(tokenizer, text) for text in texts]
    length = max(len(row) for row in rows)
    ids = [[tokenizer.eos_token_id] * (length - len(row)) + row for row in rows]
    mask = [[0] * (length - len(row)) + [1] * len(row) for row in rows]
    return {"input_ids": torch.tensor(ids, dtype=torch.long).reshape(len(rows), length),
            "attention_mask": torch.tensor(mask, dtype=torch.long).reshape(len(rows), length)}
