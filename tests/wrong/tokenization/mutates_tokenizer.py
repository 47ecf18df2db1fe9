"""Sets padding_side and pad_token on the caller's tokenizer to get left padding."""
from ._reference import decode, encode, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    out = tokenizer(texts, padding=True, return_tensors="pt")
    return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}
