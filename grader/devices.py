"""Device choice, dtype and tolerances: decided here and nowhere else."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import KitError

# Every grading comparison runs in float32: bf16 cached and uncached decoding paths diverge after a
# few tokens, so equivalence is only asserted in fp32.
DTYPE = torch.float32


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
    logprob: Tolerance  # log-probabilities, entropies, perplexities (relative)
    # Greedy decoding: when the top two logits of a step are closer than this, cached and
    # uncached forward passes may legitimately pick different tokens (last-bit differences).
    greedy_tie: float


# fp32 logits differ by up to 3e-5 between thread counts and between cached and uncached passes;
# the tolerances leave an order of magnitude above that.
TOLERANCES = {
    "cpu": Tolerances(prob=Tolerance(1e-5, 1e-4), logprob=Tolerance(5e-4, 1e-4), greedy_tie=1e-3),
    "cuda": Tolerances(prob=Tolerance(5e-5, 1e-3), logprob=Tolerance(2e-3, 1e-3), greedy_tie=5e-3),
}


def resolve(name: str = "auto") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> a torch.device, or a one-line KitError."""
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


def tolerances(device: torch.device) -> Tolerances:
    return TOLERANCES[device.type]
