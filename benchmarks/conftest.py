"""Shared fixtures and machine info of the benchmarks. `make bench` runs them; `make test` never
does (pyproject's testpaths is tests/ only). See docs/benchmarks.md.

The options (--submission, --model, --device) and the fixtures (lm, impl, ref, device) are the
kit's own, from grader/plugin.py, exactly as for the tests; the helpers are in bench.py.
"""
from __future__ import annotations

import platform

import pytest
import torch

from bench import PROMPT
from grader import devices

_WARMED: set = set()


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what the figures depend on beside the CPU: device, threads, library versions."""
    import transformers

    device = devices.resolve(config.getoption("device"))
    machine_info["textgen_kit"] = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "dtype": str(devices.DTYPE),
        "model": config.getoption("model"),
        "submission": str(config.getoption("submission") or "exercises"),
    }


@pytest.fixture
def warm_lm(lm):
    """The model under --model, after one untimed forward pass (the first pass of a process pays
    for kernel set-up that no later one does)."""
    if id(lm) not in _WARMED:
        with torch.inference_mode():
            lm.model(input_ids=lm.tokenizer(PROMPT, return_tensors="pt").input_ids.to(lm.device))
        _WARMED.add(id(lm))
    return lm


@pytest.fixture(scope="session")
def ref():
    """The reference solutions, or None in a student release, which has none: the reference's rows
    are then skipped, and the submission stands in where the reference was a baseline."""
    from grader.submission import SOLUTIONS_DIR, Submission

    return Submission(SOLUTIONS_DIR) if SOLUTIONS_DIR.is_dir() else None
