"""Grade submissions: every exercise in its own test process, so a crash costs one exercise at most.

How a grading runs:

- The caller (`python -m grader`, batch grading, the kit's tests) starts one *worker* process and
  hands it every (submission, exercise) pair. On Linux with a CPU device the worker imports torch,
  transformers and pytest and loads the model once, then forks one test process per pair, which
  starts in about a second instead of the ~7 s of a fresh interpreter. Elsewhere (CUDA, macOS) each
  test process is a fresh interpreter (forking after CUDA or macOS frameworks start is unsafe).
- A test process runs the kit's own graded tests for one exercise (tests/, and the instructor's
  hidden tests; never files from the submission) with a per-test time limit (pytest-timeout,
  DEFAULT_TIMEOUT s) and, on CPU, an address-space limit (RLIMIT_AS: what the process holds once
  the model is loaded, plus DEFAULT_MEMORY_GB GiB), so a runaway allocation is a MemoryError.
- It reports each test over a pipe, every line signed with a key that only it and the worker know
  (grader/plugin.py). A line that does not verify drops the exercise to 0.
- A test process that crashes, exits or stops answering is restarted without the tests already
  reported; the test that was running fails with a message that says what happened. After
  MAX_RESTARTS restarts the remaining tests of that exercise score 0.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import KitError, devices, models
from .points import EXERCISES, SHARES
from .submission import REPO, resolve_folder

TESTS = REPO / "tests"
DEFAULT_TIMEOUT = 60  # seconds per test (setup, call and teardown together); --timeout changes it
DEFAULT_MEMORY_GB = 4.0  # GiB of address space a test process may add after loading the model
MAX_RESTARTS = 5  # per exercise: restarts after a crash, an exit or a hang
# Test processes at a time: one per CPU (up to 4), each with CPUs / jobs torch threads. On a busy
# machine one thread per process is much faster than processes that share threads.
DEFAULT_JOBS = max(1, min(4, os.cpu_count() or 1))
STARTUP_LIMIT = 600  # seconds for a test process to load and collect its tests
KEY_BYTES = 32
# The whole-grading deadline (--deadline S): once it passes, or once the grading process receives
# SIGTERM, the test processes are stopped and every test without a result fails with this message.
OUT_OF_TIME = "not run: the grading time budget ran out"
CUT_BY_DEADLINE = "stopped: the grading time budget ran out while this test ran"
WRAP_UP_LIMIT = 60  # seconds the caller waits for the worker's last results after the deadline
SIGTERM_WRAP_UP_LIMIT = 20  # ... and after a SIGTERM


@dataclass
class TestResult:
    nodeid: str
    exercise: str
    weight: float
    outcome: str  # passed | failed | skipped
    message: str = ""
    detail: str = ""
    score: float = 0.0
    max_score: float = 0.0
    hidden: bool = False  # one of the instructor's hidden tests (--extra-tests)
    seconds: float = 0.0  # the test call's duration
    expectations: str = ""  # what it compared with: "recorded", or "live (why no recording applies)"

    @property
    def name(self) -> str:
        return self.nodeid.split("::", 1)[-1]


@dataclass
class ExerciseResult:
    name: str
    share: float
    tests: list[TestResult] = field(default_factory=list)
    note: str = ""  # set when the exercise's process crashed, hung or was tampered with
    seconds: float = 0.0

    @property
    def earned(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def passed(self) -> int:
        return sum(t.outcome == "passed" for t in self.tests)

    @classmethod
    def from_dict(cls, data: dict) -> "ExerciseResult":
        return cls(**{**data, "tests": [TestResult(**t) for t in data["tests"]]})


@dataclass
class GradeResult:
    submission: str
    model: str
    device: str
    exercises: list[ExerciseResult]
    seconds: float = 0.0
    dtype: str = str(devices.DTYPE).removeprefix("torch.")

    @property
    def total(self) -> float:
        return sum(e.earned for e in self.exercises)

    @property
    def possible(self) -> float:
        return sum(e.share for e in self.exercises)

    def exercise(self, name: str) -> ExerciseResult:
        return next(e for e in self.exercises if e.name == name)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _score(exercise: ExerciseResult) -> None:
    """Share the exercise's points between its tests in proportion to their weights. A skipped
    test (no recording and no live check for this model or device) leaves the total: the others
    share the exercise's points, and the exercise's note says so."""
    total_weight = sum(t.weight for t in exercise.tests if t.outcome != "skipped")
    for t in exercise.tests:
        counted = t.outcome != "skipped" and total_weight
        t.max_score = exercise.share * t.weight / total_weight if counted else 0.0
        t.score = t.max_score if t.outcome == "passed" else 0.0
    skipped = [t for t in exercise.tests if t.outcome == "skipped"]
    if skipped:
        why = skipped[0].message or "skipped"
        note = f"{len(skipped)} test(s) not graded here ({why}): their weight is left out"
        exercise.note = f"{exercise.note}; {note}" if exercise.note else note


# ----------------------------------------------------------------------------------------------
# The caller's side

def grade(submission=None, model: str = "default", device: str = "auto", exercises=None,
          timeout: int = DEFAULT_TIMEOUT, jobs: int = 1, tests_dir: Path = TESTS, extra_tests=None,
          memory_gb: float = DEFAULT_MEMORY_GB, expectations: str = "auto",
          deadline: float | None = None) -> GradeResult:
    """Grade `submission` (a folder laid out like exercises/) and return the scored results."""
    start = time.monotonic()
    result = grade_many([submission], model=model, device=device, exercises=exercises, timeout=timeout,
                        jobs=jobs, tests_dir=tests_dir, extra_tests=extra_tests, memory_gb=memory_gb,
                        expectations=expectations, deadline=deadline)[0]
    result.seconds = time.monotonic() - start
    return result


def grade_many(submissions, model: str = "default", device: str = "auto", exercises=None,
               timeout: int = DEFAULT_TIMEOUT, jobs: int = 1, tests_dir: Path = TESTS, extra_tests=None,
               memory_gb: float = DEFAULT_MEMORY_GB, on_result=None, expectations: str = "auto",
               deadline: float | None = None) -> list[GradeResult]:
    """Grade several submissions with one worker: at most `jobs` test processes at a time, whatever
    submission they belong to. `on_result(submission_index, ExerciseResult)` is called as each
    exercise ends. Each GradeResult's `seconds` is the sum of its exercises' process times.

    `deadline`: seconds for the whole grading, from this call. When they have passed, or when this
    process receives SIGTERM, the running tests are stopped, no more start, and every test without
    a result fails with OUT_OF_TIME; the results come back all the same, within seconds."""
    deadline_at = None if deadline is None else time.time() + float(deadline)
    if deadline is not None and not float(deadline) > 0:
        raise KitError(f"--deadline must be a positive number of seconds, got {deadline:g}")
    with _SigtermWatch() as sigterm:
        return _grade_many(submissions, model, device, exercises, timeout, jobs, tests_dir, extra_tests,
                           memory_gb, on_result, expectations, deadline_at, sigterm)


def _grade_many(submissions, model, device, exercises, timeout, jobs, tests_dir, extra_tests, memory_gb,
                on_result, expectations, deadline_at, sigterm) -> list[GradeResult]:
    folders = [resolve_folder(s) for s in submissions]
    chosen = list(exercises or EXERCISES)
    unknown = [e for e in chosen if e not in SHARES]
    if unknown:
        raise KitError(f"unknown exercise '{unknown[0]}'; choose from {', '.join(EXERCISES)}")
    if timeout <= 0:
        raise KitError(f"--timeout must be a positive number of seconds, got {timeout}")
    # Validate once here, so that a bad --model or --device is one line, not one error per test;
    # and convert the default model once, before any test process starts.
    target = devices.resolve(device)
    model = (model or "default").strip()
    models.check(model)
    if model in ("default", "tiny"):
        models.ensure_default_cached()
    tests_dir = Path(tests_dir).resolve()
    extra = _check_extra_tests(extra_tests, tests_dir)
    tasks = [_Task(i * len(chosen) + j, str(folder), name)
             for i, folder in enumerate(folders) for j, name in enumerate(chosen)]
    # The exercises worth most points have the most (and slowest) tests: starting them first
    # shortens the wall time when several run at once (decoding alone takes half of it).
    tasks.sort(key=lambda task: -SHARES[task.exercise])
    concurrent = max(1, min(jobs, len(tasks)))
    options = _Options(model=model, device=device, timeout=int(timeout), memory_gb=float(memory_gb),
                       tests_dir=str(tests_dir), extra_tests=extra, expectations=expectations,
                       threads=max(1, (os.cpu_count() or 1) // concurrent), deadline_at=deadline_at)
    # TEXTGEN_KIT_ISOLATION=spawn forces a fresh interpreter per test process (for debugging).
    isolation = os.environ.get("TEXTGEN_KIT_ISOLATION") or (
        "fork" if sys.platform.startswith("linux") and target.type == "cpu" else "spawn")
    if isolation not in ("fork", "spawn"):
        raise KitError(f"TEXTGEN_KIT_ISOLATION must be fork or spawn, got {isolation!r}")

    def report(task_index: int, result: ExerciseResult) -> None:
        if on_result is not None:
            on_result(task_index // len(chosen), result)

    found = _run_tasks(tasks, options, jobs, isolation, report, sigterm)
    return [GradeResult(submission=str(folder), model=model, device=str(target),
                        exercises=[found[i * len(chosen) + j] for j in range(len(chosen))],
                        seconds=sum(found[i * len(chosen) + j].seconds for j in range(len(chosen))))
            for i, folder in enumerate(folders)]


def _check_extra_tests(extra_tests, tests_dir: Path) -> str | None:
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


def _run_tasks(tasks: list, options, jobs: int, isolation: str, report, sigterm: _SigtermWatch) -> dict:
    """Start the worker, hand it the tasks, collect one ExerciseResult per task.

    A SIGTERM (`sigterm`) is passed on to the worker, which stops its test processes and reports
    every task at once (OUT_OF_TIME for the tests without a result); so does the worker by itself
    once options.deadline_at has passed. Should the worker not answer in time after either, the
    tasks it has not reported come back with no tests, OUT_OF_TIME as their note."""
    config = {"options": asdict(options), "jobs": max(1, jobs), "isolation": isolation,
              "tasks": [asdict(t) for t in tasks]}
    # OMP_WAIT_POLICY=PASSIVE: torch's OpenMP threads sleep instead of spinning while they wait,
    # which on a busy machine (shared CI runners, other jobs) makes a forward pass several times
    # faster, and keeps tests inside their time limit. A value set by the user wins.
    env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false",
           # the worker and its test processes import this very kit, wherever it is installed
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    found: dict[int, ExerciseResult] = {}
    with tempfile.TemporaryFile() as errors:
        worker = subprocess.Popen([sys.executable, "-c", "from grader.run import _worker_main; _worker_main()"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, cwd=REPO, env=env)
        sigterm.worker = worker
        try:
            worker.stdin.write(json.dumps(config).encode())
            worker.stdin.close()
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
                        sigterm.ready = True
                        sigterm.pass_on()  # a SIGTERM that came before
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
                           f"{_last_line(errors.read().decode(errors='replace'))}")
    return found


# ----------------------------------------------------------------------------------------------
# The worker's side

@dataclass
class _Task:
    index: int
    submission: str
    exercise: str


@dataclass
class _Options:
    model: str
    device: str
    timeout: int
    memory_gb: float
    tests_dir: str
    extra_tests: str | None
    threads: int
    expectations: str = "auto"
    deadline_at: float | None = None  # time.time() after which nothing more runs (--deadline)


def _worker_main() -> None:
    """The worker process: run every task, print one JSON line per finished exercise."""
    config = json.loads(sys.stdin.read())
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever gets printed while grading goes to stderr, never into the protocol
    options = _Options(**config["options"])
    scheduler = _Scheduler(options, config["isolation"], config["jobs"])
    # SIGTERM (passed on by the caller): stop the test processes and report every task now.
    # SIGINT: stop everything at once (KeyboardInterrupt; the test processes are killed below).
    signal.signal(signal.SIGTERM, lambda *_: scheduler.request_stop())
    protocol.write(json.dumps({"ready": True}) + "\n")
    protocol.flush()
    try:
        if config["isolation"] == "fork":
            _preload(options)
        for index, result in scheduler.run([_Task(**t) for t in config["tasks"]]):
            protocol.write(json.dumps({"task": index, "result": asdict(result)}) + "\n")
            protocol.flush()
    except KitError as err:
        protocol.write(json.dumps({"error": str(err)}) + "\n")
        protocol.flush()
    finally:
        scheduler.stop_all()


def _preload(options: _Options) -> None:
    """Import what every test process needs and load the model once, before forking."""
    import torch

    # No OpenMP thread pool may exist before fork(): a forked process would hang on it. With one
    # thread, torch runs everything inline; each test process sets its own thread count.
    torch.set_num_threads(1)
    from importlib.metadata import entry_points

    import pytest  # noqa: F401

    for plugin in entry_points(group="pytest11"):  # pytest-timeout, hypothesis, anyio...: ~2 s
        try:
            plugin.load()
        except Exception:  # noqa: BLE001 - pytest itself will report a broken plugin
            pass
    # Import the test modules once, as pytest does (assertion rewriting included): each test
    # process then finds them in sys.modules instead of compiling them again.
    tests_dir = Path(options.tests_dir)
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        pytest.main([str(tests_dir)] + ([options.extra_tests] if options.extra_tests else []) + [
            "--collect-only", "-q", "--ignore", str(tests_dir / "kit"), "--noconftest", "-p", "grader.plugin",
            "-c", str(REPO / "pyproject.toml"), f"--rootdir={REPO}", "-p", "no:cacheprovider"])
    _load_model(options)


def _load_model(options: _Options) -> None:
    """Put the model where the plugin's `lm` fixture finds it (grader.plugin._LOADED)."""
    from transformers.utils import logging as hf_logging

    from . import plugin

    hf_logging.disable_progress_bar()
    device = devices.resolve(options.device)
    plugin._LOADED[(options.model, str(device))] = models.load(options.model, str(device))


@dataclass
class _State:
    """One task across its attempts (a restarted test process is a new attempt)."""

    task: _Task
    tmp: Path
    started: float
    collected: list | None = None
    outcomes: dict = field(default_factory=dict)
    restarts: int = 0
    forged: bool = False
    stops: list = field(default_factory=list)  # why each attempt ended early
    cut: bool = False  # its test process was stopped by the deadline while a test ran


@dataclass
class _Attempt:
    state: _State
    key: bytes
    fd: int  # read end of the report pipe
    pid: int
    log: Path
    popen: subprocess.Popen | None
    last: float  # when the last signed line arrived
    buffer: bytes = b""
    seq: int = 0
    collected: bool = False
    killed: str = ""  # why the worker stopped it
    status: tuple | None = None  # ("exit", code) or ("signal", number)


class _Scheduler:
    def __init__(self, options: _Options, isolation: str, jobs: int):
        self.options, self.isolation, self.jobs = options, isolation, jobs
        self.active: dict[int, _Attempt] = {}
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True

    def out_of_time(self) -> bool:
        deadline = self.options.deadline_at
        return self.stop_requested or (deadline is not None and time.time() >= deadline)

    def run(self, tasks: list[_Task]):
        """Yield (task index, ExerciseResult) as each task ends."""
        queue = deque(_State(task=t, tmp=Path(tempfile.mkdtemp(prefix="textgen-grade-")), started=0.0)
                      for t in tasks)
        while queue or self.active:
            if self.out_of_time():
                yield from self._wrap_up(queue)
                return
            while queue and len(self.active) < self.jobs:
                attempt = self._start(queue.popleft())
                self.active[attempt.fd] = attempt
            ready, _, _ = select.select(list(self.active), [], [], 0.5)
            for fd in ready:
                self._read(self.active[fd])
            for fd, attempt in list(self.active.items()):
                self._poll(attempt)
                if attempt.status is None:
                    continue
                self._read(attempt)
                os.close(fd)
                del self.active[fd]
                result = self._finish(attempt)
                if result is None:
                    queue.appendleft(attempt.state)
                else:
                    _remove_tree(attempt.state.tmp)
                    yield attempt.state.task.index, result

    def stop_all(self) -> None:
        for attempt in self.active.values():
            _kill_group(attempt.pid)

    # -- out of time (--deadline, or SIGTERM)

    def _wrap_up(self, queue: deque):
        """Stop every test process; yield a result for every task not reported yet, in which each
        test without a result fails with OUT_OF_TIME (CUT_BY_DEADLINE for the one that was running)."""
        states = []
        for fd, attempt in list(self.active.items()):
            running = attempt.status is None
            if running:
                _kill_group(attempt.pid)
                stop_waiting = time.monotonic() + 10
                while attempt.status is None and time.monotonic() < stop_waiting:
                    attempt.status = _ended(attempt.pid)
                    time.sleep(0 if attempt.status else 0.02)
                if attempt.popen is not None:
                    attempt.popen.returncode = -1  # reaped by _ended
            self._read(attempt)
            os.close(fd)
            del self.active[fd]
            if not running and attempt.status is not None:  # it ended by itself: score it as usual
                result = self._finish(attempt)
                if result is not None:
                    _remove_tree(attempt.state.tmp)
                    yield attempt.state.task.index, result
                    continue
            elif attempt.collected:
                attempt.state.cut = True
            states.append(attempt.state)
        states += queue
        queue.clear()
        graded_tests = None
        if any(state.collected is None and not state.forged for state in states):
            graded_tests = _collect_graded_tests(self.options)
        for state in states:
            _remove_tree(state.tmp)
            yield state.task.index, self._out_of_time_result(state, graded_tests or {})

    def _out_of_time_result(self, state: _State, graded_tests: dict) -> ExerciseResult:
        name = state.task.exercise
        result = ExerciseResult(name=name, share=SHARES[name])
        if state.forged:
            result.note = FORGED_NOTE
            state.outcomes = {}
        tests = state.collected if state.collected is not None else graded_tests.get(name, [])
        remaining = [t["nodeid"] for t in tests if t["nodeid"] not in state.outcomes]
        cut = bool(remaining) and state.cut  # the first test without a result was running
        for number, nodeid in enumerate([] if state.forged else remaining):
            message = CUT_BY_DEADLINE if cut and number == 0 else OUT_OF_TIME
            state.outcomes[nodeid] = {"outcome": "failed", "message": message}
        if not state.forged:
            budget = (f"the grading time budget ran out: {len(remaining) - cut} of {len(tests)} tests not run"
                      + (", 1 stopped while it ran" if cut else "")
                      if tests else f"{OUT_OF_TIME} before this exercise started")
            stops = (f"the test process stopped {len(state.stops)} time(s) (last: {state.stops[-1]}); "
                     if state.stops else "")
            result.note = stops + budget
        self._add_tests(result, state, tests)
        return result

    # -- one attempt

    def _start(self, state: _State) -> _Attempt:
        if not state.started:
            state.started = time.monotonic()
        key = secrets.token_bytes(KEY_BYTES)
        key_r, key_w = os.pipe()
        report_r, report_w = os.pipe()
        skip = state.tmp / f"skip-{state.restarts}.json"
        skip.write_text(json.dumps(sorted(state.outcomes)))
        log = state.tmp / f"output-{state.restarts}.log"
        args = self._pytest_args(state.task, f"{key_r},{report_w}", skip)
        popen = None
        if self.isolation == "fork":
            pid = os.fork()
            if pid == 0:
                _forked_child(args, (key_r, report_w), log, self.options)  # never returns
        else:
            with log.open("wb") as out:
                popen = subprocess.Popen(
                    [sys.executable, "-c", "from grader.run import _spawned_child; _spawned_child()",
                     json.dumps({"args": args, "options": asdict(self.options)})],
                    pass_fds=(key_r, report_w), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    cwd=state.tmp, start_new_session=True)
            pid = popen.pid
        os.close(key_r)
        os.close(report_w)
        os.write(key_w, key)  # 32 bytes always fit in the pipe: never blocks
        os.close(key_w)
        os.set_blocking(report_r, False)
        return _Attempt(state=state, key=key, fd=report_r, pid=pid, log=log, popen=popen, last=time.monotonic())

    def _pytest_args(self, task: _Task, channel: str, skip: Path) -> list[str]:
        o = self.options
        tests_dir = Path(o.tests_dir)
        args = [str(tests_dir)] + ([o.extra_tests] if o.extra_tests else []) + [
            "--ignore", str(tests_dir / "kit"), "-m", f"{task.exercise} and points", "-q",
            # The kit's own configuration and plugin only: never a conftest.py or an ini file that
            # a submission might ship.
            "--noconftest", "-p", "grader.plugin", "-c", str(REPO / "pyproject.toml"), f"--rootdir={REPO}",
            "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:unraisableexception", "-p", "no:threadexception",
            f"--submission={task.submission}", f"--model={o.model}", f"--device={o.device}",
            f"--grader-channel={channel}", f"--grader-skip={skip}", f"--expectations={o.expectations}",
            f"--timeout={o.timeout}", "--timeout-disable-debugger-detection"]
        if o.extra_tests:
            args.append(f"--grader-hidden={o.extra_tests}")
        return args

    def _read(self, attempt: _Attempt) -> None:
        while True:
            try:
                chunk = os.read(attempt.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            attempt.buffer += chunk
            *lines, attempt.buffer = attempt.buffer.split(b"\n")
            for line in lines:
                self._accept(attempt, line)
            if len(attempt.buffer) > 1 << 24:  # 16 MiB without a newline: not the plugin's
                attempt.state.forged, attempt.buffer = True, b""

    def _accept(self, attempt: _Attempt, line: bytes) -> None:
        """Take a line only if it carries this attempt's signature and the next sequence number."""
        state = attempt.state
        try:
            payload, mac = line.decode("utf-8").rsplit("\t", 1)
            good = hmac.compare_digest(hmac.new(attempt.key, payload.encode(), hashlib.sha256).hexdigest(), mac)
            record = json.loads(payload) if good else {}
        except (ValueError, UnicodeDecodeError):
            good, record = False, {}
        if not good or record.get("seq") != attempt.seq:
            state.forged = True
            return
        attempt.seq += 1
        attempt.last = time.monotonic()
        if record["event"] == "collected":
            attempt.collected = True
            if state.collected is None:
                state.collected = record["tests"]
        elif record["event"] == "result":
            state.outcomes.setdefault(record["nodeid"], record)

    def _poll(self, attempt: _Attempt) -> None:
        """Notice that the test process ended, or stop it when it hangs."""
        attempt.status = _ended(attempt.pid)
        if attempt.status is not None:
            if attempt.popen is not None:
                attempt.popen.returncode = -1  # reaped by _ended
            return
        limit = STARTUP_LIMIT if not attempt.collected else 2 * self.options.timeout + 5
        if time.monotonic() - attempt.last > limit and not attempt.killed:
            attempt.killed = (f"ran for more than {limit} s without finishing, past the {self.options.timeout} s "
                              f"limit: look for a loop that never ends (the grader stopped it)")
            _kill_group(attempt.pid)

    def _finish(self, attempt: _Attempt) -> ExerciseResult | None:
        """Score the task, or return None to run its remaining tests in a new test process."""
        state, name = attempt.state, attempt.state.task.exercise
        kind, value = attempt.status
        output = attempt.log.read_text(errors="replace") if attempt.log.exists() else ""
        if state.collected is None and not state.forged:
            if kind == "exit" and value == 5:
                raise KitError(f"no graded tests were found for exercise '{name}' in {self.options.tests_dir}")
            if kind == "exit" and value in (0, 1, 2, 3, 4):
                raise KitError(f"grading {name} could not run (pytest exit code {value}): {_last_line(output)}")
        if state.collected == []:
            raise KitError(f"no graded tests were found for exercise '{name}' in {self.options.tests_dir}")
        result = ExerciseResult(name=name, share=SHARES[name])
        if state.forged:
            result.note = FORGED_NOTE
            state.outcomes = {}
        elif state.collected is None:
            result.note = f"the test process died before running any test: {_last_line(output)}"
        else:
            remaining = [t["nodeid"] for t in state.collected if t["nodeid"] not in state.outcomes]
            if remaining:
                why = attempt.killed or _describe_stop(kind, value)
                state.stops.append(why)
                state.outcomes[remaining[0]] = {"outcome": "failed", "message": why}
                if len(remaining) > 1 and state.restarts < MAX_RESTARTS:
                    state.restarts += 1
                    return None
                for nodeid in remaining[1:]:
                    state.outcomes[nodeid] = {"outcome": "failed", "message": (
                        f"not run: the test process stopped {len(state.stops)} times; fix that first")}
            if state.stops:
                result.note = (f"the test process stopped {len(state.stops)} time(s) (last: {state.stops[-1]}); "
                               f"the test running each time scored 0")
        self._add_tests(result, state, state.collected or [])
        return result

    @staticmethod
    def _add_tests(result: ExerciseResult, state: _State, tests: list) -> None:
        """One TestResult per collected test, from what its test processes reported; then score."""
        for test in tests:
            got = state.outcomes.get(test["nodeid"], {"outcome": "failed", "message": f"not run: {result.note}"})
            result.tests.append(TestResult(nodeid=test["nodeid"], exercise=result.name, weight=test["weight"],
                                           outcome=got["outcome"], message=got.get("message", ""),
                                           detail=got.get("detail", ""), hidden=bool(test.get("hidden")),
                                           seconds=float(got.get("duration", 0.0)),
                                           expectations=got.get("expectations", "")))
        _score(result)
        result.seconds = time.monotonic() - state.started if state.started else 0.0


FORGED_NOTE = ("the grader received a result line it did not sign: the submission wrote to the grader's "
               "channel, so this exercise scores 0")


def _collect_graded_tests(options: _Options) -> dict[str, list[dict]]:
    """Exercise -> its graded tests (as a test process reports them when collected), collected here
    in the worker: for the tasks that had not collected their tests when the time ran out."""
    import pytest

    from .plugin import exercise_of, weight_of

    tests_dir = Path(options.tests_dir)
    hidden = Path(options.extra_tests).resolve() if options.extra_tests else None
    found: dict[str, list[dict]] = {}

    class Collector:
        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(self, session):
            for item in session.items:
                if weight_of(item) is not None:
                    found.setdefault(exercise_of(item), []).append({
                        "nodeid": item.nodeid, "exercise": exercise_of(item), "weight": weight_of(item),
                        "hidden": hidden is not None and hidden in Path(str(item.path)).resolve().parents})

    args = [str(tests_dir)] + ([options.extra_tests] if options.extra_tests else []) + [
        "--collect-only", "-q", "--ignore", str(tests_dir / "kit"), "-m", "points", "--noconftest",
        "-p", "grader.plugin", "-c", str(REPO / "pyproject.toml"), f"--rootdir={REPO}", "-p", "no:cacheprovider",
        f"--model={options.model}", f"--device={options.device}", f"--expectations={options.expectations}"]
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
            pytest.main(args, plugins=[Collector()])
    except Exception:  # noqa: BLE001 - without the list, each exercise still gets its note
        traceback.print_exc()
    return found


def _describe_stop(kind: str, value: int) -> str:
    if kind == "signal":
        name = signal.Signals(value).name if value in signal.Signals._value2member_map_ else str(value)
        if value == signal.SIGKILL:
            return f"the test process was killed ({name}), e.g. for using too much memory"
        return f"crashed the test process ({name}, e.g. a segmentation fault in a C extension)"
    return (f"ended the test process (exit code {value}): never call sys.exit, os._exit, quit or "
            f"pytest.exit in your functions")


def _ended(pid: int) -> tuple | None:
    """("exit", code) or ("signal", number) once the test process `pid` has ended, else None.
    Its process group (whatever the submission started) is killed before it is reaped, so that
    its id cannot be reused in between."""
    try:
        if hasattr(os, "waitid"):  # Linux: look without reaping
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is None:
                return None
            _kill_group(pid)
            os.waitpid(pid, 0)
            return ("exit", info.si_status) if info.si_code == os.CLD_EXITED else ("signal", info.si_status)
        done, status = os.waitpid(pid, os.WNOHANG)  # macOS has no waitid
    except ChildProcessError:
        return ("exit", -1)
    if not done:
        return None
    _kill_group(pid)
    return ("exit", os.WEXITSTATUS(status)) if os.WIFEXITED(status) else ("signal", os.WTERMSIG(status))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# The test process's side

def _forked_child(args: list[str], keep: tuple[int, int], log: Path, options: _Options) -> None:
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
        code = _run_pytest(args, options)
    except BaseException:  # noqa: BLE001 - report it in the log, whatever it was
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _spawned_child() -> None:
    """A fresh test process (spawn isolation): load the model, then run pytest."""
    config = json.loads(sys.argv[1])
    options = _Options(**config["options"])
    _load_model(options)
    sys.exit(_run_pytest(config["args"], options))


def _run_pytest(args: list[str], options: _Options) -> int:
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
