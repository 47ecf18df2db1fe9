"""Counted work, never seconds: the reference decoding loops read the prompt once and then one
token per row per step, as generate() does; the benchmarks' uncached baseline re-reads the whole
sequence at every step (quadratic). The counter (tests/counting.py) is also what the graded
decoding tests use."""
import pytest
import torch

from benchmarks.baselines import generate_greedy, generate_samples, uncached_greedy
from tests.counting import count_forward_tokens

pytestmark = pytest.mark.kit

PROMPT = "The movie was full of"
N = 8


def prompt_length(tokenizer) -> int:
    return len(tokenizer(PROMPT).input_ids)


def test_reference_greedy_reads_the_prompt_once_then_one_token_per_step(ref, model, tokenizer):
    p = prompt_length(tokenizer)
    with count_forward_tokens(model) as seen:
        ids = ref.decoding.greedy_decode(model, tokenizer, PROMPT, N)
    n = len(ids)
    assert n >= 1
    assert seen.shapes == [(1, p)] + [(1, 1)] * (n - 1)
    assert (seen.calls, seen.tokens) == (n, p + n - 1)  # the last new token is never fed back


def test_generate_does_the_same_work_as_the_reference(ref, model, tokenizer):
    """The counter sees generate()'s forward calls too, and the reference does no more than they do."""
    with count_forward_tokens(model) as ours:
        ref.decoding.greedy_decode(model, tokenizer, PROMPT, N)
    with count_forward_tokens(model) as theirs:
        generate_greedy(model, tokenizer, PROMPT, N)
    assert theirs.calls >= 1
    assert (ours.calls, ours.tokens) == (theirs.calls, theirs.tokens)


def test_reference_sampling_reads_every_row_once_per_step(ref, model, tokenizer):
    p, rows = prompt_length(tokenizer), 4
    generator = torch.Generator(model.device).manual_seed(0)
    with count_forward_tokens(model) as seen:
        samples = ref.decoding.sample_decode(model, tokenizer, PROMPT, N, 1.0, generator, num_samples=rows)
    steps = max(len(s) for s in samples)  # the loop stops once every row has ended
    assert seen.shapes == [(rows, p)] + [(rows, 1)] * (steps - 1)
    with count_forward_tokens(model) as theirs:
        generate_samples(model, tokenizer, PROMPT, N, 1.0, 0, num_samples=rows)
    assert (seen.calls, seen.tokens) == (theirs.calls, theirs.tokens)


def test_uncached_baseline_rereads_the_whole_sequence(model, tokenizer):
    p = prompt_length(tokenizer)
    with count_forward_tokens(model) as seen:
        ids = uncached_greedy(model, tokenizer, PROMPT, N)
    n = len(ids)
    assert seen.shapes == [(1, p + i) for i in range(n)]
    assert seen.tokens == n * p + n * (n - 1) // 2
