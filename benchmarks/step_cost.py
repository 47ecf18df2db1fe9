"""Where one sampled decoding step spends its time: the forward pass and the draw, for 1 and 8 rows.

Explains the `samples x8` ratio of `make bench` (how much of a batch of 8 is free on this machine):

    .venv/bin/python benchmarks/step_cost.py [--model default] [--device cpu] [--steps 20]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench import NEW_TOKENS, PROMPT
from grader.models import load
from solutions.sampling import sample_next_token


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that a timing covers it (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def step_costs(model, tokenizer, rows: int, steps: int) -> tuple[float, float]:
    """Median milliseconds of one cached forward step and of one draw (T=0.8, top-k 50, top-p 0.95)."""
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids.to(model.device).repeat(rows, 1)
    generator = torch.Generator(model.device).manual_seed(0)
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    forward, draw = [], []
    for _ in range(steps):
        start = time.perf_counter()
        next_ids = sample_next_token(out.logits[:, -1], 0.8, generator, top_k=50, top_p=0.95)
        synchronize(model.device)
        draw.append(time.perf_counter() - start)
        start = time.perf_counter()
        out = model(input_ids=next_ids[:, None], cache=out.cache, use_cache=True, logits_to_keep=1)
        synchronize(model.device)
        forward.append(time.perf_counter() - start)
    return 1000 * statistics.median(forward), 1000 * statistics.median(draw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=NEW_TOKENS)
    args = parser.parse_args()
    lm = load(args.model, args.device)
    single = None
    for rows in (1, 8):
        forward, draw = step_costs(lm.model, lm.tokenizer, rows, args.steps)
        single = single or forward + draw
        print(f"{rows} row(s): forward {forward:.1f} ms, draw {draw:.1f} ms per step; "
              f"tokens/s vs 1 row: {rows * single / (forward + draw):.2f}x")


if __name__ == "__main__":
    main()
