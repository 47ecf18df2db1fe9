"""Decoding speed, in new tokens per second: greedy and sampled decoding against transformers'
`generate()`, a batch of 8 samples against 8 single runs, beam search (4 beams) against
`generate(num_beams=4)`, and the KV cache against re-reading the whole sequence at every step (16 to
128 new tokens: linear against quadratic growth)."""
import pytest
import torch

from baselines import eos_ids, generate_greedy, generate_samples, prompt_ids, uncached_greedy, until_eos
from bench import NEW_TOKENS, PROMPT, ROUNDS, SLOW_ROUNDS, measure, pick

TEMPERATURE, TOP_K, TOP_P, SEED = 0.8, 50, 0.95, 0
SAMPLES = 8
BEAMS = 4
CACHE_LENGTHS = [16, 32, 64, 128]


def tokens_in(rows: list[list[int]]) -> int:
    return sum(len(row) for row in rows)


@pytest.mark.benchmark(group="greedy")
@pytest.mark.parametrize("who", ["generate", "reference", "submission"])
def test_greedy(benchmark, warm_lm, impl, ref, who):
    model, tokenizer = warm_lm.model, warm_lm.tokenizer
    code = None if who == "generate" else pick(who, impl, ref)

    def run():
        decode = generate_greedy if code is None else code.decoding.greedy_decode
        return decode(model, tokenizer, PROMPT, NEW_TOKENS)

    measure(benchmark, run, unit="tokens", work=len, baseline=code is None, label=f"{who}")


@pytest.mark.benchmark(group="sample")
@pytest.mark.parametrize("who", ["generate", "reference", "submission"])
def test_sample(benchmark, warm_lm, impl, ref, who):
    model, tokenizer = warm_lm.model, warm_lm.tokenizer
    code = None if who == "generate" else pick(who, impl, ref)

    def run():
        if code is None:
            return generate_samples(model, tokenizer, PROMPT, NEW_TOKENS, TEMPERATURE, SEED,
                                    top_k=TOP_K, top_p=TOP_P)
        generator = torch.Generator(model.device).manual_seed(SEED)
        return code.decoding.sample_decode(model, tokenizer, PROMPT, NEW_TOKENS, TEMPERATURE, generator,
                                           top_k=TOP_K, top_p=TOP_P)

    measure(benchmark, run, unit="tokens", work=tokens_in, baseline=code is None, label=who,
            temperature=TEMPERATURE, top_k=TOP_K, top_p=TOP_P)


@pytest.mark.benchmark(group="samples x8")
@pytest.mark.parametrize("who", ["8 single runs", "reference", "submission"])
def test_eight_samples(benchmark, warm_lm, impl, ref, who):
    """num_samples=8 as one batch: 8 rows per forward pass instead of 8 passes."""
    model, tokenizer = warm_lm.model, warm_lm.tokenizer
    code = (ref or impl) if who == "8 single runs" else pick(who, impl, ref)

    def sample(num_samples, seed):
        generator = torch.Generator(model.device).manual_seed(seed)
        return code.decoding.sample_decode(model, tokenizer, PROMPT, NEW_TOKENS, TEMPERATURE, generator,
                                           top_k=TOP_K, top_p=TOP_P, num_samples=num_samples)

    if who == "8 single runs":  # the reference, one sample per call
        measure(benchmark, lambda: [row for i in range(SAMPLES) for row in sample(1, SEED + i)],
                unit="tokens", work=tokens_in, baseline=True, rounds=SLOW_ROUNDS,
                label="reference, 8 calls of num_samples=1")
    else:
        measure(benchmark, lambda: sample(SAMPLES, SEED), unit="tokens", work=tokens_in,
                label=f"{who}, num_samples=8 in one call")


@torch.inference_mode()
def generate_beams(model, tokenizer, prompt: str, max_new_tokens: int, num_beams: int) -> list[int]:
    """`model.generate(num_beams=..., do_sample=False)`: the best sequence's new ids, as `beam_search`
    returns them."""
    ids = prompt_ids(model, tokenizer, prompt)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=num_beams,
                         max_new_tokens=max_new_tokens)
    return until_eos(out[0, ids.shape[1]:].tolist(), eos_ids(model, tokenizer))


@pytest.mark.benchmark(group=f"beam search x{BEAMS}")
@pytest.mark.parametrize("who", ["generate", "reference", "submission"])
def test_beam_search(benchmark, warm_lm, impl, ref, who):
    """num_beams=4 rows per forward pass, the cache reordered every step; work: the best sequence's new
    tokens (both stop at the same step, as the graded tests check)."""
    model, tokenizer = warm_lm.model, warm_lm.tokenizer
    code = None if who == "generate" else pick(who, impl, ref)

    def run():
        if code is None:
            return generate_beams(model, tokenizer, PROMPT, NEW_TOKENS, BEAMS)
        return code.beam_search.beam_search(model, tokenizer, PROMPT, NEW_TOKENS, BEAMS)[0][0]

    measure(benchmark, run, unit="tokens", work=len, baseline=code is None, label=f"{who}, num_beams={BEAMS}",
            num_beams=BEAMS)


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
@pytest.mark.parametrize("n", CACHE_LENGTHS)
def test_cache(benchmark, warm_lm, impl, ref, n, cached):
    """The reference's KV-cache loop against the same greedy loop re-reading everything each step."""
    model, tokenizer = warm_lm.model, warm_lm.tokenizer
    benchmark.group = f"cache {n:03d} tokens"
    decode = (ref or impl).decoding.greedy_decode if cached else uncached_greedy
    measure(benchmark, lambda: decode(model, tokenizer, PROMPT, n), unit="tokens", work=len,
            baseline=not cached, rounds=SLOW_ROUNDS if n >= 128 else ROUNDS,
            label="KV cache (reference)" if cached else "no cache (re-reads the sequence)",
            new_tokens=n, cached=cached)
