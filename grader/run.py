"""Grade submissions: the caller's side (`python -m grader`, batch grading, the notebook, the kit's
tests). It checks the options, starts one worker process (grader/worker.py) with every
(submission, exercise) pair, and collects one scored ExerciseResult per pair; each exercise runs
in its own test process (grader/child.py), so a crash costs one exercise at most. The whole
sequence, process by process: docs/grader.md.
"""
from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from . import KitError, devices, models, subprocess_env
from .messages import OUT_OF_TIME, last_line
from .points import EXERCISES, SHARES
from .result import ExerciseResult, GradeResult
from .submission import REPO, TESTS_DIR, resolve_folder

# Seconds of each exercise's test process for the reference (default model, CPU, 2-core machine, a
# warm worker; `Graded in` of `python -m grader --submission solutions --json r.json`, per exercise,
# median of 3, 2026-12-07): the order in which the tasks start. With two at a time the wall time is
# 9.8 s in this order, 10.4 s in the order of the shares.
TYPICAL_SECONDS = {"decoding": 8.1, "beam_search": 4.0, "logprobs": 2.4, "next_token": 2.3, "sampling": 1.7,
                   "tokenization": 0.5}
DEFAULT_TIMEOUT = 60  # seconds per test (setup, call and teardown together); --timeout changes it
DEFAULT_MEMORY_GB = 4.0  # GiB of address space a test process may add after loading the model
# Test processes at a time: one per CPU (up to 4), each with CPUs / jobs torch threads. On a busy
# machine one thread per process is much faster than processes that share threads.
DEFAULT_JOBS = max(1, min(4, os.cpu_count() or 1))
WRAP_UP_LIMIT = 60  # seconds the caller waits for the worker's last results after the deadline
SIGTERM_WRAP_UP_LIMIT = 20  # ... and after a SIGTERM


@dataclass
class Task:
    """One exercise of one submission: what the caller hands the worker."""

    index: int
    submission: str
    exercise: str


@dataclass
class Options:
    """How to grade, the same for every submission: built once (from the command line, or by the
    caller's keywords), checked by `grade_many`, and handed as it is to the worker and to every test
    process (as JSON). The last three fields are filled in by `grade_many`."""

    model: str = "default"
    device: str = "auto"
    exercises: list[str] | None = None  # None: every exercise
    timeout: int = DEFAULT_TIMEOUT  # seconds per test
    jobs: int = 1  # test processes at a time
    memory_gb: float = DEFAULT_MEMORY_GB
    tests_dir: str = str(TESTS_DIR)
    extra_tests: str | None = None
    expectations: str = "auto"
    deadline: float | None = None  # seconds for the whole grading, from the start of grade_many
    threads: int = 0  # torch threads per test process
    deadline_at: float | None = None  # time.time() after which nothing more runs
    isolation: str = ""  # fork or spawn (decided by the worker when empty)
    warm: bool = False  # fork the worker from a warm one (grader/warm.py) where one can serve

    @classmethod
    def of(cls, options: "Options | None" = None, **fields) -> "Options":
        """`options` (or the defaults) with `fields` replacing some of them."""
        return replace(options or cls(), **fields)


def pytest_args(tests_dir, extra_tests=None, files=None) -> list[str]:
    """The start of every pytest command line that runs the kit's graded tests (the test processes,
    the worker's preloading and collecting, recording): the kit's tests and the instructor's hidden
    ones (or just `files` among them, where the worker knows which hold an exercise's tests), with
    the kit's own configuration (pyproject.toml: its addopts, markers) and plugin only, never a
    conftest.py or an ini file that a submission might ship."""
    tests_dir = Path(tests_dir)
    where = [str(f) for f in files] if files else [
        str(tests_dir), *([str(extra_tests)] if extra_tests else []), "--ignore", str(tests_dir / "kit")]
    return [*where, "--noconftest", "-p", "grader.plugin", "-c", str(REPO / "pyproject.toml"), f"--rootdir={REPO}"]


# ----------------------------------------------------------------------------------------------
# The caller's side. It never imports torch: the worker resolves the device and loads the model.

def grade(submission=None, options: Options | None = None, **fields) -> GradeResult:
    """Grade `submission` (a folder laid out like exercises/) and return the scored results.
    `options` (an Options), or its fields as keywords (`model="tiny", exercises=["sampling"]`)."""
    start = time.monotonic()
    result = grade_many([submission], options, **fields)[0]
    result.seconds = time.monotonic() - start
    return result


def grade_many(submissions, options: Options | None = None, on_result=None, **fields) -> list[GradeResult]:
    """Grade several submissions with one worker: at most `options.jobs` test processes at a time,
    whatever submission they belong to. An entry of `submissions` is a folder (graded in
    `options.exercises`), or a pair (folder, exercises) graded in those exercises only.
    `on_result(submission_index, ExerciseResult)` is called as each exercise ends. Each
    GradeResult's `seconds` is the sum of its exercises' process times.

    `options.deadline`: seconds for the whole grading, from this call. When they have passed, or
    when this process receives SIGTERM, the running tests are stopped, no more start, and every test
    without a result fails with OUT_OF_TIME; the results come back all the same, within seconds."""
    options = Options.of(options, **fields)
    if options.deadline is not None and not float(options.deadline) > 0:
        raise KitError(f"--deadline must be a positive number of seconds, got {options.deadline:g}")
    options.deadline_at = None if options.deadline is None else time.time() + float(options.deadline)
    with _SigtermWatch() as sigterm:
        return _grade_many(submissions, options, on_result, sigterm)


def _grade_many(submissions, options: Options, on_result, sigterm) -> list[GradeResult]:
    start = time.monotonic()
    entries = [entry if isinstance(entry, tuple) else (entry, None) for entry in submissions]
    folders = [resolve_folder(folder) for folder, _ in entries]
    chosen_of = [list(exercises or options.exercises or EXERCISES) for _, exercises in entries]
    unknown = [e for chosen in chosen_of for e in chosen if e not in SHARES]
    if unknown:
        raise KitError(f"unknown exercise '{unknown[0]}'; choose from {', '.join(EXERCISES)}")
    if options.timeout <= 0:
        raise KitError(f"--timeout must be a positive number of seconds, got {options.timeout}")
    # Validate once here, so that a bad --model or --device is one line, not one error per test;
    # and convert the default model once, before any test process starts.
    device = devices.check_name(options.device)
    model = models.check_one(options.model)
    if model in models.BUILT_IN:
        models.ensure_default_cached()
    tests_dir = Path(options.tests_dir).resolve()
    pairs = [(i, name) for i, chosen in enumerate(chosen_of) for name in chosen]
    owner = [i for i, _ in pairs]  # task index -> submission index
    tasks = [Task(t, str(folders[i]), name) for t, (i, name) in enumerate(pairs)]
    # The longest exercises first: with several test processes at a time the short ones then fill
    # the gaps, which shortens the wall time (the longest alone takes most of it).
    tasks.sort(key=lambda task: -TYPICAL_SECONDS[task.exercise])
    concurrent = max(1, min(options.jobs, len(tasks)))
    # TEXTGEN_KIT_ISOLATION=spawn forces a fresh interpreter per test process (for debugging).
    isolation = os.environ.get("TEXTGEN_KIT_ISOLATION", "")
    if isolation not in ("", "fork", "spawn"):
        raise KitError(f"TEXTGEN_KIT_ISOLATION must be fork or spawn, got {isolation!r}")
    every = [e for e in EXERCISES if any(e in chosen for chosen in chosen_of)]
    options = Options.of(options, model=model, device=device, exercises=every, timeout=int(options.timeout),
                         jobs=max(1, int(options.jobs)), memory_gb=float(options.memory_gb), tests_dir=str(tests_dir),
                         extra_tests=check_extra_tests(options.extra_tests, tests_dir),
                         threads=max(1, (os.cpu_count() or 1) // concurrent), isolation=isolation)

    def report(task_index: int, result: ExerciseResult) -> None:
        if on_result is not None:
            on_result(owner[task_index], result)

    phases: dict[str, float] = {}
    found, target = _run_tasks(tasks, options, report, sigterm, start, phases)
    results = []
    for i, folder in enumerate(folders):
        exercises = [found[t] for t in range(len(owner)) if owner[t] == i]
        results.append(GradeResult(submission=str(folder), model=model, device=target, dtype=devices.dtype_name(),
                                   exercises=exercises, seconds=sum(e.seconds for e in exercises), phases=phases))
    return results


def not_graded(submission: str, model: str, device: str, exercises: list[str], why: str) -> GradeResult:
    """0 points for a submission that could not be graded; `why` is the note of its first exercise.
    `device`: the device the class was graded on (or the one asked for, where none was graded)."""
    return GradeResult(submission=submission, model=models.canonical(model), device=device,
                       dtype=devices.dtype_name(),
                       exercises=[ExerciseResult(name=e, share=SHARES[e], note=why if i == 0 else "")
                                  for i, e in enumerate(exercises)])


def check_extra_tests(extra_tests, tests_dir: Path) -> str | None:
    """The instructor's hidden tests: a folder of test_*.py files, none named like a kit test file."""
    if not extra_tests:
        return None
    folder = Path(extra_tests).expanduser().resolve()
    files = sorted(folder.rglob("test_*.py")) if folder.is_dir() else []
    if not files:
        raise KitError(f"--extra-tests '{extra_tests}' is not a folder with test_*.py files")
    taken = {p.name for p in tests_dir.glob("test_*.py")}
    clash = next((p.name for p in files if p.name in taken), None)
    if clash:
        raise KitError(f"hidden test file {clash} has the name of a kit test file in {tests_dir}; "
                       f"rename it (e.g. test_hidden_{clash.removeprefix('test_')})")
    return str(folder)


class _SigtermWatch:
    """While grading (a `with` block; only the main thread can install signal handlers): a SIGTERM
    is noted, and passed on to the worker as soon as the worker can take it (it says "ready" once
    its own handler is in place), so that the worker wraps up instead of dying. After a SIGTERM,
    further ones are ignored, so that the caller can write the results (python -m grader --json)."""

    def __init__(self):
        self.at: float | None = None  # when a SIGTERM arrived
        self.worker: subprocess.Popen | None = None
        self.ready = False
        self.installed = False
        self.previous = None

    def __enter__(self) -> "_SigtermWatch":
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._received)
            self.installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self.installed:
            signal.signal(signal.SIGTERM, signal.SIG_IGN if self.at is not None else self.previous)

    def _received(self, signum, frame) -> None:
        if self.at is None:
            self.at = time.time()
            self.pass_on()

    def pass_on(self) -> None:
        if self.at is not None and self.ready and self.worker is not None and self.worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.worker.send_signal(signal.SIGTERM)


def _run_tasks(tasks: list, options: Options, report, sigterm: _SigtermWatch, start: float,
               phases: dict) -> tuple[dict, str]:
    """Start the worker, hand it the options and the tasks, collect one ExerciseResult per task;
    also return the device the worker resolved (e.g. "cpu"), and fill in `phases` (seconds of the
    start-up and of the worker's preloading; `start`: when grade_many began, time.monotonic()).

    A SIGTERM (`sigterm`) is passed on to the worker, which stops its test processes and reports
    every task at once (OUT_OF_TIME for the tests without a result); so does the worker by itself
    once options.deadline_at has passed. Should the worker not answer in time after either, the
    tasks it has not reported come back with no tests, OUT_OF_TIME as their note."""
    config = {"options": asdict(options), "tasks": [asdict(t) for t in tasks]}
    target = options.device
    # OMP_WAIT_POLICY=PASSIVE: torch's OpenMP threads sleep instead of spinning while they wait,
    # which on a busy machine (shared CI runners, other jobs) makes a forward pass several times
    # faster, and keeps tests inside their time limit. A value set by the user wins.
    # The worker and its test processes import this very kit, wherever it is installed.
    env = {"OMP_WAIT_POLICY": "PASSIVE", **subprocess_env(REPO), "PYTHONDONTWRITEBYTECODE": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    found: dict[int, ExerciseResult] = {}
    with tempfile.TemporaryFile() as errors:
        worker = _start_worker(options, config, env, errors)
        sigterm.worker = worker
        try:
            buffer = b""
            while True:
                limits = [t for t in (None if options.deadline_at is None else options.deadline_at + WRAP_UP_LIMIT,
                                      None if sigterm.at is None else sigterm.at + SIGTERM_WRAP_UP_LIMIT) if t]
                if limits and time.time() > min(limits):
                    break  # the worker did not wrap up in time: what it reported is what we have
                if not select.select([worker.stdout], [], [], 0.5)[0]:
                    continue
                chunk = os.read(worker.stdout.fileno(), 1 << 16)
                if not chunk:
                    break
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    message = json.loads(line)
                    if "error" in message:
                        raise KitError(message["error"])
                    if "ready" in message:
                        phases["caller: checks and the worker's start, until it runs"] = time.monotonic() - start
                        sigterm.ready = True
                        sigterm.pass_on()  # a SIGTERM that came before
                        continue
                    if "device" in message:
                        target = message["device"]
                        continue
                    if "phases" in message:
                        phases.update(message["phases"])
                        continue
                    result = ExerciseResult.from_dict(message["result"])
                    found[message["task"]] = result
                    report(message["task"], result)
            if worker.poll() is None and len(found) == len(tasks):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(10)
        finally:
            sigterm.worker = None
            if worker.poll() is None:
                # SIGINT: stop at once (the worker kills its test processes); SIGTERM would wrap up.
                worker.send_signal(signal.SIGINT)
                try:
                    worker.wait(10)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
        out_of_time = sigterm.at is not None or (options.deadline_at is not None and time.time() > options.deadline_at)
        if len(found) != len(tasks) and out_of_time:
            for task in tasks:
                if task.index not in found:
                    found[task.index] = ExerciseResult(name=task.exercise, share=SHARES[task.exercise], note=(
                        f"{OUT_OF_TIME} (the grader could not report this exercise's tests in time)"))
                    report(task.index, found[task.index])
        if len(found) != len(tasks):
            errors.seek(0)
            raise KitError(f"the grading worker stopped unexpectedly (exit code {worker.returncode}): "
                           f"{last_line(errors.read().decode(errors='replace'))}")
    return found, target


def _start_worker(options: Options, config: dict, env: dict, errors):
    """The grading's worker, its options and tasks handed over: forked by a warm worker where
    `options.warm` asks for one and one can serve (grader/warm.py), else a fresh process."""
    if options.warm:
        from . import warm

        if warm.usable(options, env):
            forked = warm.fork(options, config, env, errors)
            if forked is not None:
                return forked
    worker = subprocess.Popen([sys.executable, "-c", "from grader.worker import main; main()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, cwd=REPO, env=env)
    worker.stdin.write(json.dumps(config).encode())
    worker.stdin.close()
    return worker

