"""Perplexity of several texts: one padded forward pass against one pass per text."""
import pytest

from bench import measure, pick

# The exercise set's sentence, its ungrammatical variants, and longer texts so that padding matters.
TEXTS = [
    "The movie was full of surprises",
    "The movie were full of surprises",
    "The movie was full of surprise",
    "Surprises the of full was movie",
    "The movie was full of surprises, and the audience loved every minute of it.",
    "I expected a quiet evening, but the film kept twisting until the very last scene.",
    "Critics praised the acting, the music and the photography, though some found the plot thin.",
    "Nobody in the theatre saw the ending coming.",
]


@pytest.mark.benchmark(group="perplexity")
@pytest.mark.parametrize("who", ["one text at a time", "reference", "submission"])
def test_perplexity(benchmark, warm_lm, impl, ref, who):
    model, tokenizer = warm_lm.model, warm_lm.tokenizer
    if who == "one text at a time":  # the reference, called once per text
        run = lambda: [(ref or impl).logprobs.perplexity(model, tokenizer, [text])[0] for text in TEXTS]  # noqa: E731
        label = "reference, one call per text"
    else:
        code = pick(who, impl, ref)
        run = lambda: code.logprobs.perplexity(model, tokenizer, TEXTS)  # noqa: E731
        label = f"{who}, all texts in one call"
    measure(benchmark, run, unit="texts", work=len(TEXTS), baseline=who == "one text at a time",
            rounds=None, label=label)
