"""Device choice, dtype and tolerances: decided here and nowhere else.

Importing this module does not import torch (the grader's caller never needs it): `DTYPE` and
`resolve` import it when first used.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import KitError

if TYPE_CHECKING:
    import torch

# Every grading comparison runs in float32: bf16 cached and uncached decoding paths diverge after a
# few tokens, so equivalence is only asserted in fp32.
DTYPE_NAME = "float32"


def __getattr__(name: str):
    if name == "DTYPE":  # torch.float32, once torch is wanted
        import torch

        return getattr(torch, DTYPE_NAME)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def dtype_name() -> str:
    """DTYPE as results name it: "float32"."""
    return DTYPE_NAME


@dataclass(frozen=True)
class Tolerance:
    """How close two float results must be to count as equal (|got - want| <= atol + rtol*|want|)."""

    atol: float
    rtol: float

    def kwargs(self) -> dict:
        return {"atol": self.atol, "rtol": self.rtol}


@dataclass(frozen=True)
class Tolerances:
    prob: Tolerance  # probabilities (softmax outputs)
    logprob: Tolerance  # log-probabilities and entropies
    perplexity: Tolerance  # perplexities: exp of a mean, so relative
    # Greedy decoding: when the top two logits of a step are closer than this, cached and
    # uncached forward passes may legitimately pick different tokens (last-bit differences).
    greedy_tie: float


# Each tolerance is set from the spread of correct implementations, with a margin of 3x or more.
# Measured on the CPU, float32, SmolLM2-135M (the default model; the tiny one spreads less), torch
# 2.13, `.venv/bin/python benchmarks/tolerances.py`, largest absolute / relative difference from
# the reference's way:
# - probabilities (softmax, log_softmax().exp(), float64, logits_to_keep=1, 1 vs 2 threads):
#   2.9e-6 / 1.9e-5                                      -> prob: atol 1e-5, rtol 1e-4
# - softmax with temperature (shifted exp, logsumexp, float64): 2.7e-6 / 4.7e-6; entropy
#   (xlogy, Categorical, nansum, float64): 2.2e-7 / 3.1e-6
# - continuation log-probs (gather, cross_entropy flat and transposed, float64, KV cache step by
#   step): 1.4e-4 absolute (log-probs near 0 make the relative figure meaningless)
#                                                        -> logprob: atol 5e-4, rtol 1e-4
# - perplexity (cross_entropy over a transposed [batch, vocab, length] tensor, float64, each text
#   alone via the model's loss, left padding with position_ids): 1.7e-4 relative (the transposed
#   log-softmax sums in another order); the old logprob tolerance, 1e-4 relative, failed the first
#   of these                                             -> perplexity: atol 1e-3, rtol 1e-3
# CUDA (not measured here: no GPU was available) keeps ten times the CPU's, as before.
TOLERANCES = {
    "cpu": Tolerances(prob=Tolerance(1e-5, 1e-4), logprob=Tolerance(5e-4, 1e-4), perplexity=Tolerance(1e-3, 1e-3),
                      greedy_tie=1e-3),
    "cuda": Tolerances(prob=Tolerance(5e-5, 1e-3), logprob=Tolerance(2e-3, 1e-3), perplexity=Tolerance(1e-2, 1e-2),
                       greedy_tie=5e-3),
}


def check_name(name: str = "auto") -> str:
    """The device name, normalised, when it is one `resolve` knows (without importing torch)."""
    name = (name or "auto").strip().lower()
    if name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit()):
        return name
    if name.startswith("cuda:"):
        raise KitError(f"device '{name}' is not a valid device; use cpu, cuda or cuda:N")
    raise KitError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N")


def resolve(name: str = "auto") -> "torch.device":
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> a torch.device, or a one-line KitError."""
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise KitError(f"device '{name}' was asked for but this machine has no CUDA GPU "
                           f"(or torch was installed without CUDA); use --device cpu or auto")
        try:
            device = torch.device(name)
        except RuntimeError:
            raise KitError(f"device '{name}' is not a valid device; use cpu, cuda or cuda:N") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise KitError(f"device '{name}' does not exist: this machine has "
                           f"{torch.cuda.device_count()} GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return device
    raise KitError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N")


def tolerances(device: "torch.device") -> Tolerances:
    return TOLERANCES[device.type]
