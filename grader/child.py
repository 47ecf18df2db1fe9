"""A test process (started by grader/worker.py): isolate it, limit it, run pytest on one exercise.

Forked from the worker (which has loaded the model) on Linux with a CPU device, else a fresh
interpreter that loads the model itself. Either way it runs the kit's graded tests for one
exercise, with the kit's plugin reporting over the signed channel.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path

from . import devices, models
from .run import Options


def forked_child(args: list[str], keep: tuple[int, int], log: Path, options: Options) -> None:
    """In the forked test process: isolate it, run pytest, exit. Never returns."""
    code = 70
    try:
        os.setpgid(0, 0)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        # Keep only stdio and this process's two pipe ends: the worker's protocol, the other test
        # processes' pipes and everything else are closed.
        low, high = sorted(keep)
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, 1 << 16)
        sys.stdin = open(0, closefd=False)
        sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")
        sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
        os.chdir(log.parent)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code = run_pytest(args, options)
    except BaseException:  # noqa: BLE001 - report it in the log, whatever it was
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def spawned_child() -> None:
    """A fresh test process (spawn isolation): load the model, then run pytest."""
    config = json.loads(sys.argv[1])
    options = Options(**config["options"])
    load_model(options)
    sys.exit(run_pytest(config["args"], options))


def load_model(options: Options) -> None:
    """Load the model into this process's registry (grader.models), where the `lm` fixture finds it,
    and the tiny one beside it (the tests marked tiny_model run on it; it shares the tokenizer)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    models.loaded(options.model, options.device)
    if models.check_one(options.model) != "tiny":
        models.loaded("tiny", options.device)


def run_pytest(args: list[str], options: Options) -> int:
    import pytest
    import torch

    torch.set_num_threads(options.threads)
    if devices.resolve(options.device).type == "cpu":
        _limit_memory(options.memory_gb)
    sys.path.insert(0, options.tests_dir)  # tests' helpers (checks.py), also for hidden tests
    return int(pytest.main(args))


def _limit_memory(gigabytes: float) -> None:
    """Cap the address space at what the process holds now plus `gigabytes`, so that a runaway
    allocation fails with MemoryError in one test instead of exhausting the machine. Linux only
    (other systems do not enforce RLIMIT_AS); never on CUDA (its driver reserves huge ranges)."""
    try:
        import resource

        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (ImportError, OSError, ValueError, IndexError):
        return
    if gigabytes <= 0:
        return
    limit = pages * os.sysconf("SC_PAGE_SIZE") + int(gigabytes * 2**30)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

