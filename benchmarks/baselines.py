"""What the benchmarks measure the kit's code against, in the same run, on the same model, dtype,
prompt and length: transformers' own `generate()`, with and without its KV cache.

The uncached loop is the baseline for what a KV cache saves: it re-reads the whole sequence at
every step, so step i reads P + i tokens and n tokens cost n*P + n*(n-1)/2 token positions in
all, against P + n - 1 with the cache (tests/kit/test_decoding_work.py counts both).
"""
from __future__ import annotations

import torch


def prompt_ids(model, tokenizer, prompt: str) -> torch.Tensor:
    """`[1, P]` ids of the prompt on the model's device, as the exercises encode it."""
    return tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)


def eos_ids(model, tokenizer) -> list[int]:
    """The ids `generate()` stops on: the generation config's EOS (int or list), else the tokenizer's."""
    eos = model.generation_config.eos_token_id
    eos = tokenizer.eos_token_id if eos is None else eos
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


def until_eos(ids: list[int], eos: list[int]) -> list[int]:
    """`ids` cut just after the first EOS (what follows it is padding)."""
    for i, token_id in enumerate(ids):
        if token_id in eos:
            return ids[:i + 1]
    return ids


@torch.inference_mode()
def uncached_greedy(model, tokenizer, prompt: str, max_new_tokens: int) -> list[int]:
    """`model.generate(do_sample=False, use_cache=False)`: greedy decoding with no KV cache, each step
    runs the model over the whole sequence so far."""
    ids = prompt_ids(model, tokenizer, prompt)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, use_cache=False,
                         max_new_tokens=max_new_tokens)
    return until_eos(out[0, ids.shape[1]:].tolist(), eos_ids(model, tokenizer))


@torch.inference_mode()
def generate_greedy(model, tokenizer, prompt: str, max_new_tokens: int) -> list[int]:
    """`model.generate(do_sample=False)`: the new ids, as `greedy_decode` returns them."""
    ids = prompt_ids(model, tokenizer, prompt)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         max_new_tokens=max_new_tokens)
    return until_eos(out[0, ids.shape[1]:].tolist(), eos_ids(model, tokenizer))


@torch.inference_mode()
def generate_samples(model, tokenizer, prompt: str, max_new_tokens: int, temperature: float,
                     seed: int, *, top_k: int | None = None, top_p: float | None = None,
                     num_samples: int = 1) -> list[list[int]]:
    """`model.generate(do_sample=True, ...)` seeded like `sample_decode` with a generator seeded `seed`."""
    ids = prompt_ids(model, tokenizer, prompt)
    torch.manual_seed(seed)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                         temperature=float(temperature), top_k=top_k or 0, top_p=top_p or 1.0,
                         num_return_sequences=num_samples, max_new_tokens=max_new_tokens)
    eos = eos_ids(model, tokenizer)
    return [until_eos(row, eos) for row in out[:, ids.shape[1]:].tolist()]
