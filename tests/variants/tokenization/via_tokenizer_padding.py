"""Correct: lets the tokenizer pad, on a copy, with padding_side passed per call."""
import copy

from ._reference import decode, encode, tokens  # noqa: F401


def batch_encode(tokenizer, texts):
    if not texts:
        raise ValueError("no texts")
    work = copy.copy(tokenizer) if tokenizer.pad_token is not None else copy.deepcopy(tokenizer)
    if work.pad_token is None:
        work.pad_token = work.eos_token
    out = work(texts, padding=True, padding_side="left", return_tensors="pt")
    return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}
