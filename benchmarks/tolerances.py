"""How far apart correct implementations land: the measurements behind grader/devices.py's tolerances.

For each quantity the tests compare, several legitimate ways of computing it (other layouts, float64
paths, fused ops, `logits_to_keep`, batched vs alone, the KV cache, 1 vs 2 threads) are compared
with the reference's way; the table gives the largest absolute and relative difference seen.

    .venv/bin/python benchmarks/tolerances.py [--model default] [--device cpu]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import models  # noqa: E402

PROMPTS = ["The movie was full of", "Hi", "映画は驚きに", "<|im_start|>user\nName a colour.<|im_end|>\n"]
TEXTS = ["The movie was full of surprises", "The movie was full of surprise", "surprises of full was movie The",
         "Hi there",
         "The movie was full of surprises, and the ending left the whole audience speechless for minutes."]


def spread(want: torch.Tensor, *others: torch.Tensor) -> tuple[float, float]:
    """Largest |other - want| and |other - want| / |want| over all `others`."""
    want = want.double().cpu()
    worst_abs = worst_rel = 0.0
    for other in others:
        diff = (other.double().cpu() - want).abs()
        worst_abs = max(worst_abs, diff.max().item())
        rel = diff / want.abs().clamp_min(1e-30)
        worst_rel = max(worst_rel, rel[want.abs() > 1e-6].max().item() if (want.abs() > 1e-6).any() else 0.0)
    return worst_abs, worst_rel


def with_threads(n: int, fn):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def next_token_probs(model, tokenizer) -> tuple[float, float]:
    rows = []
    for text in PROMPTS:
        ids = tokenizer(text, return_tensors="pt").input_ids.to(model.device)
        logits = model(input_ids=ids).logits[0, -1].float()
        ref = torch.softmax(logits, -1)
        rows.append((ref, [
            torch.log_softmax(logits, -1).exp(),
            torch.softmax(logits.double(), -1),
            torch.softmax(model(input_ids=ids, logits_to_keep=1).logits[0, -1].float(), -1),
            torch.softmax(with_threads(1, lambda: model(input_ids=ids).logits[0, -1].float()), -1),
        ]))
    return tuple(max(vals) for vals in zip(*(spread(r, *o) for r, o in rows)))


def softmax_with_temperature() -> tuple[float, float]:
    found = []
    for seed in range(4):
        logits = 3 * torch.randn(4, 50, generator=torch.Generator().manual_seed(seed))
        for t in (1, 0.5, 2, 0.1, 10, 0.7):
            ref = torch.softmax(logits / t, -1)
            shifted = logits - logits.amax(-1, keepdim=True)
            found.append(spread(ref, torch.log_softmax(logits / t, -1).exp(), torch.softmax(logits.double() / t, -1),
                                (shifted / t).exp() / (shifted / t).exp().sum(-1, keepdim=True),
                                torch.exp(logits / t - torch.logsumexp(logits / t, -1, keepdim=True))))
    return tuple(max(vals) for vals in zip(*found))


def entropy() -> tuple[float, float]:
    probs = torch.softmax(4 * torch.randn(5, 30, generator=torch.Generator().manual_seed(4)), -1)
    probs[:, ::3] = 0
    probs = probs / probs.sum(-1, keepdim=True)
    ref = -torch.special.xlogy(probs, probs).sum(-1)
    logp = torch.log(probs)
    return spread(ref, torch.distributions.Categorical(probs=probs).entropy(), -(probs * logp).nansum(-1),
                  -torch.special.xlogy(probs.double(), probs.double()).sum(-1),
                  -(probs * torch.where(probs > 0, logp, 0)).sum(-1))


@torch.no_grad()
def continuation_logprobs(model, tokenizer) -> tuple[float, float]:
    prompt = tokenizer(PROMPTS[0]).input_ids
    cont = tokenizer(" surprises and twists, and the ending left us speechless").input_ids
    ids = torch.tensor([prompt + cont], device=model.device)
    target = ids[0, len(prompt):]
    logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1].float()
    ref = torch.log_softmax(logits, -1).gather(-1, target[:, None])[:, 0]
    # the same scores through the KV cache, one token at a time
    cached, cache = [], None
    step = ids[:, :len(prompt)]
    for i in range(len(cont)):
        out = model(input_ids=step, cache=cache, use_cache=True)
        cache = out.cache
        cached.append(torch.log_softmax(out.logits[0, -1].float(), -1)[cont[i]])
        step = ids[:, len(prompt) + i:len(prompt) + i + 1]
    return spread(ref, -F.cross_entropy(logits, target, reduction="none"),
                  torch.log_softmax(logits.double(), -1).gather(-1, target[:, None])[:, 0],
                  torch.stack(cached),
                  -F.cross_entropy(logits[None].transpose(1, 2), target[None], reduction="none")[0])


@torch.no_grad()
def perplexity(model, tokenizer) -> tuple[float, float]:
    encoded = [tokenizer(t).input_ids for t in TEXTS]
    longest = max(map(len, encoded))
    right = torch.zeros(len(encoded), longest, dtype=torch.long)
    mask = torch.zeros_like(right)
    for row, ids in enumerate(encoded):
        right[row, :len(ids)] = torch.tensor(ids)
        mask[row, :len(ids)] = 1
    right, mask = right.to(model.device), mask.to(model.device)
    logits = model(input_ids=right, attention_mask=mask).logits[:, :-1].float()
    targets, counts = right[:, 1:], mask[:, 1:].float()
    logp = torch.log_softmax(logits, -1).gather(-1, targets[..., None])[..., 0]
    ref = torch.exp(-(logp * counts).sum(1) / counts.sum(1))
    # the variants that students write
    nll_t = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # log-softmax over dim 1
    transposed = torch.exp((nll_t * counts).sum(1) / counts.sum(1))
    logp64 = torch.log_softmax(logits.double(), -1).gather(-1, targets[..., None])[..., 0]
    float64 = torch.exp(-(logp64 * counts).sum(1) / counts.sum(1))
    alone = torch.tensor([torch.exp(model(input_ids=torch.tensor([ids], device=model.device),
                                          labels=torch.tensor([ids], device=model.device)).loss).item()
                          for ids in encoded])
    left = torch.zeros_like(right)
    left_mask = torch.zeros_like(right)
    for row, ids in enumerate(encoded):
        left[row, longest - len(ids):] = torch.tensor(ids)
        left_mask[row, longest - len(ids):] = 1
    positions = (left_mask.cumsum(-1) - 1).clamp_min(0)
    left_logits = model(input_ids=left, attention_mask=left_mask, position_ids=positions).logits[:, :-1].float()
    left_logp = torch.log_softmax(left_logits, -1).gather(-1, left[:, 1:, None])[..., 0]
    left_counts = (left_mask[:, 1:] * left_mask[:, :-1]).float()  # a target and the token before it are real
    left_ppl = torch.exp(-(left_logp * left_counts).sum(1) / left_counts.sum(1))
    return spread(ref, transposed, float64, alone, left_ppl)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    lm = models.load(args.model, args.device)
    rows = [
        ("next-token probabilities (softmax, log_softmax.exp, float64, logits_to_keep, 1 thread)",
         next_token_probs(lm.model, lm.tokenizer)),
        ("softmax with temperature (shifted exp, log_softmax.exp, logsumexp, float64)", softmax_with_temperature()),
        ("entropy (xlogy, Categorical, nansum, float64)", entropy()),
        ("continuation log-probs (gather, cross_entropy flat and transposed, float64, KV cache)",
         continuation_logprobs(lm.model, lm.tokenizer)),
        ("perplexity (cross_entropy transposed, float64, each text alone, left padding + position_ids)",
         perplexity(lm.model, lm.tokenizer)),
    ]
    print(f"model {args.model}, device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'quantity':<100} {'max abs':>10} {'max rel':>10}")
    for name, (worst_abs, worst_rel) in rows:
        print(f"{name:<100} {worst_abs:>10.2e} {worst_rel:>10.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
