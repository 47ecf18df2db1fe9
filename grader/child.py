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
    """A fresh test process (spawn isolation): isolate it, then run pytest, which loads the model
    once the tests are collected and the namespaces locked (`_Seal`)."""
    config = json.loads(sys.argv[1])
    options = Options(**config["options"])
    box = Sandbox(**config["sandbox"])
    _temporary_files_in(box)  # first: importing torch and loading the model may write a cache in TMPDIR
    # numpy's OpenBLAS (which torch imports) would start a thread per CPU at once: one thread,
    # started by none, keeps this process without threads until the lock (`_Seal`).
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    box.enter()
    split_init(box.status_fd)
    box.lock()  # now, whatever an import starts: the seal locks its own mounts again
    sys.exit(run_pytest(config["args"], options, box, spawned=True))


def load_model(options: Options) -> None:
    """Load the models into this process's registry (grader.models), where the `lm` fixture finds them."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    for name in model_names(options):
        models.loaded(name, options.device)


def model_names(options: Options) -> list[str]:
    """The model graded with, and the tiny one beside it (the tests marked tiny_model run on it; it
    shares the tokenizer)."""
    name = models.check_one(options.model)
    return [name] if name == "tiny" else [name, "tiny"]


def run_pytest(args: list[str], options: Options, box: Sandbox, spawned: bool = False) -> int:
    """`spawned`: a fresh interpreter, which loads the model after the collection (`_Seal`)."""
    import resource

    import pytest
    import torch

    torch.set_num_threads(options.threads)
    if not spawned:
        _limit_memory(options)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past FILE_LIMIT fails, never kills
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    sys.path.insert(0, options.tests_dir)  # tests' helpers (checks.py), also for hidden tests
    _tell(box)
    return int(pytest.main(args, plugins=[_Seal(box, options, load=spawned)]))


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
    The kernel gives a user namespace to no threaded process, and loading the model starts threads:
    a spawned test process (`load`) loads it here, after the lock, then caps its memory."""

    def __init__(self, box: Sandbox, options: Options, load: bool = False):
        self.box, self.options, self.load = box, options, load

    def pytest_collection_finish(self, session) -> None:
        from .expectations import FOLDER, model_slug
        from .plugin import _RECORDINGS
        from .submission import SOLUTIONS_DIR

        recordings = session.config.stash.get(_RECORDINGS, None)
        slugs = {None, *map(model_slug, model_names(self.options))}
        for path in {item.path for item in session.items} if recordings is not None else ():
            for slug in slugs:
                recordings.file(path, slug)
        tests = [Path(f) for f in (self.options.tests_dir, self.options.extra_tests) if f]
        self.box.seal(hide=[tests[0] / FOLDER, *tests[1:], SOLUTIONS_DIR])
        if self.load:
            load_model(self.options)
            _limit_memory(self.options)
        _tell(self.box)


def _limit_memory(options: Options) -> None:
    """Cap the address space at what the process holds now (the model loaded) plus
    `options.memory_gb`, so that a runaway allocation fails with MemoryError in one test instead of
    exhausting the machine. Linux only (other systems do not enforce RLIMIT_AS); never on CUDA (its
    driver reserves huge ranges)."""
    gigabytes = options.memory_gb
    if devices.resolve(options.device).type != "cpu":
        return
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

