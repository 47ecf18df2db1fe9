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
from .sandbox import Sandbox, split_init

# The largest file a test process may write (its log, pytest's capture of a test's output...):
# past it, a write fails (OSError: File too large), so that a flood of output fills neither the
# disk nor, through the log, the worker's memory.
FILE_LIMIT = 128 * 2**20


def forked_child(args: list[str], keep: tuple[int, int], log: Path, options: Options, box: Sandbox) -> None:
    """In the forked test process: isolate it, run pytest, exit. Never returns."""
    code = 70
    try:
        os.setpgid(0, 0)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        # Keep only stdio and this process's pipe ends: the worker's protocol, the other test
        # processes' pipes and everything else are closed.
        start = 3
        for fd in sorted(keep + ((box.status_fd,) if box.status_fd is not None else ())):
            os.closerange(start, fd)
            start = fd + 1
        os.closerange(start, 1 << 16)
        sys.stdin = open(0, closefd=False)
        sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")
        sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
        os.chdir(log.parent)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _temporary_files_in(box)
        box.enter()
        split_init(box.status_fd)  # process 1 of the PID namespace stays behind, as its init
        code = run_pytest(args, options, box)
    except BaseException:  # noqa: BLE001 - report it in the log, whatever it was
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def spawned_child() -> None:
    """A fresh test process (spawn isolation): isolate it, load the model, then run pytest. Its
    namespaces are locked at once (loading the model starts threads, after which the kernel allows
    no user namespace), so that the mounts that hide the hidden tests and the recordings could be
    undone."""
    config = json.loads(sys.argv[1])
    options = Options(**config["options"])
    box = Sandbox(**config["sandbox"])
    _temporary_files_in(box)  # first: importing torch and loading the model may write a cache in TMPDIR
    box.enter()
    split_init(box.status_fd)
    box.lock()
    load_model(options)
    sys.exit(run_pytest(config["args"], options, box))


def load_model(options: Options) -> None:
    """Load the model into this process's registry (grader.models), where the `lm` fixture finds it,
    and the tiny one beside it (the tests marked tiny_model run on it; it shares the tokenizer)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    models.loaded(options.model, options.device)
    if models.check_one(options.model) != "tiny":
        models.loaded("tiny", options.device)


def run_pytest(args: list[str], options: Options, box: Sandbox) -> int:
    import resource

    import pytest
    import torch

    torch.set_num_threads(options.threads)
    if devices.resolve(options.device).type == "cpu":
        _limit_memory(options.memory_gb)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past FILE_LIMIT fails, never kills
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    sys.path.insert(0, options.tests_dir)  # tests' helpers (checks.py), also for hidden tests
    _tell(box)
    return int(pytest.main(args, plugins=[_Seal(box, options)]))


def _temporary_files_in(box: Sandbox) -> None:
    """Everything temporary (pytest's tmp_path, tempfile, torch's kernel cache) goes in the task's own
    folder: the only one a test process may write, removed with the task. Before the namespaces (the
    rest of the file system is read-only from then on) and before the first import of torch."""
    import tempfile

    os.environ["TMPDIR"] = tempfile.tempdir = str(box.writable)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(box.writable / "torchinductor")


def _tell(box: Sandbox) -> None:
    """Say in the test process's log what could not be isolated (the instructor's detail)."""
    for problem in box.problems:
        print(f"grader: isolation: {problem}", file=sys.stderr)
    box.problems.clear()


class _Seal:
    """Once pytest has collected the tests, before any of the submission's code runs: read this
    exercise's recordings (the only ones it needs), then hide every recording, the hidden tests'
    folder and the reference from the test process, and lock its namespaces (grader/sandbox.py).
    (The kernel allows a user namespace to no threaded process: torch starts its threads later,
    at the first computation of a test.)"""

    def __init__(self, box: Sandbox, options: Options):
        self.box, self.options = box, options

    def pytest_collection_finish(self, session) -> None:
        from .expectations import FOLDER, model_slug
        from .plugin import _RECORDINGS
        from .submission import SOLUTIONS_DIR

        recordings = session.config.stash.get(_RECORDINGS, None)
        slugs = {None, *(model_slug(lm.name) for lm in models.loaded_models())}
        for path in {item.path for item in session.items} if recordings is not None else ():
            for slug in slugs:
                recordings.file(path, slug)
        tests = [Path(f) for f in (self.options.tests_dir, self.options.extra_tests) if f]
        self.box.seal(hide=[tests[0] / FOLDER, *tests[1:], SOLUTIONS_DIR])
        _tell(self.box)


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

