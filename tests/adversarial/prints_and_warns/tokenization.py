"""Correct tokenisation that prints, warns and logs everywhere: noise never costs points."""
import logging
import sys
import warnings

import torch

print("importing tokenization: hello from the submission")
print("a line on stderr", file=sys.stderr)
warnings.warn("a warning at import time")
logging.getLogger("submission").warning("a log record at import time")


def _noise(name):
    print(f"{name} called")
    print(f"{name} on stderr", file=sys.stderr)
    warnings.warn(f"{name}: a UserWarning", UserWarning)
    warnings.warn(f"{name}: a DeprecationWarning", DeprecationWarning)
    logging.getLogger("submission").error("%s: an error-level log record", name)


def encode(tokenizer, text):
    _noise("encode")
    return list(tokenizer(text)["input_ids"])


def tokens(tokenizer, text):
    _noise("tokens")
    return tokenizer.convert_ids_to_tokens(encode(tokenizer, text))


def decode(tokenizer, ids):
    _noise("decode")
    return tokenizer.decode(list(ids))


def batch_encode(tokenizer, texts):
    _noise("batch_encode")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = [encode(tokenizer, text) for text in texts]
    length = max(len(row) for row in rows)
    ids = [[pad] * (length - len(row)) + row for row in rows]
    mask = [[0] * (length - len(row)) + [1] * len(row) for row in rows]
    return {"input_ids": torch.tensor(ids, dtype=torch.long).reshape(len(rows), length),
            "attention_mask": torch.tensor(mask, dtype=torch.long).reshape(len(rows), length)}
