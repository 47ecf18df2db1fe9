"""Tokenisation throughput, in tokens per second, against the tokenizer's own batched call."""
import pytest

from bench import measure, pick

_WORDS = ("the movie was full of surprises and the audience loved every minute of it while critics "
          "praised the acting music photography though some found the plot thin").split()
# 256 texts of 4 to 35 words, the same every run.
TEXTS = [" ".join(_WORDS[(i * 7) % len(_WORDS):] + _WORDS)[: 20 + (i * 37) % 180] for i in range(256)]


def total_tokens(tokenizer) -> int:
    return sum(len(ids) for ids in tokenizer(TEXTS).input_ids)


@pytest.mark.benchmark(group="tokenize: encode")
@pytest.mark.parametrize("who", ["tokenizer", "reference", "submission"])
def test_encode(benchmark, lm, impl, ref, who):
    tokenizer = lm.tokenizer
    if who == "tokenizer":
        run = lambda: tokenizer(TEXTS).input_ids  # noqa: E731
    else:
        code = pick(who, impl, ref)
        run = lambda: [code.tokenization.encode(tokenizer, text) for text in TEXTS]  # noqa: E731
    measure(benchmark, run, unit="tokens", work=total_tokens(tokenizer), baseline=who == "tokenizer",
            rounds=None, label="tokenizer(texts), one batched call" if who == "tokenizer" else f"{who}: encode, one call per text")


@pytest.mark.benchmark(group="tokenize: batch_encode")
@pytest.mark.parametrize("who", ["tokenizer", "reference", "submission"])
def test_batch_encode(benchmark, lm, impl, ref, who):
    tokenizer = lm.tokenizer
    if who == "tokenizer":
        run = lambda: tokenizer(TEXTS, padding=True, padding_side="left", return_tensors="pt")  # noqa: E731
    else:
        code = pick(who, impl, ref)
        run = lambda: code.tokenization.batch_encode(tokenizer, TEXTS)  # noqa: E731
    measure(benchmark, run, unit="tokens", work=total_tokens(tokenizer), baseline=who == "tokenizer",
            rounds=None, label="tokenizer(texts, padding=True, padding_side='left')" if who == "tokenizer" else f"{who}: batch_encode")
