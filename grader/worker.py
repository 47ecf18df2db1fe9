"""The grading worker (started by grader/run.py): runs every task, at most `jobs` test processes
at a time, and prints one JSON line per finished exercise on its stdout.

For each task it starts a test process (grader/child.py), reads the signed lines it reports
(grader/channel.py), restarts it after a crash, an exit or a hang without the tests already
reported, and scores the exercise (grader/result.py). With --deadline or on SIGTERM it stops the
test processes and reports every task at once.
"""
from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import KitError, devices, messages, sandbox
from .channel import Reader, new_key
from .child import forked_child, load_model
from .messages import (
    CUT_BY_DEADLINE,
    FORGED_NOTE,
    OUT_OF_TIME,
    describe_stop,
    last_line,
)
from .points import SHARES, exercise_of, graded_tests, weight_of
from .result import ExerciseResult, TestResult, score
from .run import Options, Task, pytest_args

# A spawned test process: its own temporary folder (its current folder, where `-c` would put it
# first on sys.path) is never on sys.path, so that nothing planted there is imported.
SPAWN_CODE = "import sys; sys.path.remove(''); from grader.child import spawned_child; spawned_child()"
MAX_RESTARTS = 5  # per exercise: restarts after a crash, an exit or a hang
STARTUP_LIMIT = 600  # seconds for a test process to load and collect its tests


def main() -> None:
    """The worker process: read the options and tasks on stdin, run them, print one JSON line per
    finished exercise."""
    config = json.loads(sys.stdin.read())
    # `-c` put the current folder first on sys.path; each forked test process works in its own
    # temporary folder, where nothing may be imported from (the kit comes from PYTHONPATH).
    while "" in sys.path:
        sys.path.remove("")
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever gets printed while grading goes to stderr, never into the protocol
    run(config, protocol)


@dataclass
class Preloaded:
    """What a worker has done before its first test process starts: the same for every grading
    with the same model, device and tests (a warm worker, grader/warm.py, keeps it)."""

    isolated: bool  # the test processes get namespaces (sandbox.prepare_worker)
    device: str  # the device resolved, e.g. "cpu"
    isolation: str  # fork or spawn
    files: dict[str, list[str]]  # exercise -> the test files that hold its tests (fork only)
    phases: dict[str, float]  # seconds of each step


def preload(options: Options, classmates: int) -> Preloaded:
    """Everything before the first test process: whether namespaces work, the device, and on the
    fork path the imports, the collected tests and the loaded models (`_preload`)."""
    isolated = sandbox.prepare_worker()  # before torch starts any thread
    phases: dict[str, float] = {}
    started = time.monotonic()
    target = devices.resolve(options.device)  # the first import of torch in this grading
    phases["worker: import torch"] = time.monotonic() - started
    # Fork from this preloaded process on Linux with a CPU device; elsewhere (macOS, CUDA, whose
    # state does not survive a fork) start a fresh interpreter per test process.
    options.isolation = options.isolation or (
        "fork" if sys.platform.startswith("linux") and target.type == "cpu" else "spawn")
    files: dict[str, list[str]] = {}
    if options.isolation == "fork":
        files = _preload(options, classmates, phases)
    elif options.extra_tests:  # the instructor's tests, checked once here (the fork path's preload does)
        _collect_graded_tests(options)
    return Preloaded(isolated=isolated, device=str(target), isolation=options.isolation, files=files, phases=phases)


def run(config: dict, protocol, warm: Preloaded | None = None) -> None:
    """Grade `config`'s tasks with its options, saying each result on `protocol` (a text file).
    `warm`: what a warm worker preloaded (this process is a fork of it); else preload here."""
    options = Options(**config["options"])
    tasks = [Task(**t) for t in config["tasks"]]
    scheduler = _Scheduler(options)
    # SIGTERM (passed on by the caller): stop the test processes and report every task now.
    # SIGINT: stop everything at once (KeyboardInterrupt; the test processes are killed below).
    signal.signal(signal.SIGTERM, lambda *_: scheduler.request_stop())

    def say(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    say({"ready": True})
    _become_subreaper()
    try:
        if warm is None:
            loaded = preload(options, classmates=len({task.submission for task in tasks}))
        else:
            options.isolation = warm.isolation
            loaded = replace(warm, phases={"worker: forked from the warm worker": 0.0})
        say({"device": loaded.device})
        if not loaded.isolated:
            scheduler.watch = _watch(options, tasks)
        scheduler.files = loaded.files
        say({"phases": loaded.phases})
        for index, result in scheduler.run(tasks):
            say({"task": index, "result": asdict(result)})
    except KitError as err:
        scheduler.clean_up()  # first: the caller stops this process once it reads the error
        say({"error": str(err)})
    finally:
        scheduler.clean_up()


def _become_subreaper() -> None:
    """Linux: make the worker the subreaper of its test processes' descendants, so that a process a
    submission started and left behind (in its own session, outside the test's process group,
    started by any means, `_posixsubprocess.fork_exec` included) becomes the worker's child when its
    parent ends, instead of init's, and `_end_strays` ends it before any result is reported."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _watch(options: Options, tasks: list[Task]) -> sandbox.Watch:
    """What no test process may change, watched where no namespace makes it read-only."""
    import sysconfig

    from . import models
    from .submission import REPO, SOLUTIONS_DIR

    return sandbox.Watch([REPO / "grader", REPO / "pyproject.toml", SOLUTIONS_DIR, options.tests_dir,
                          options.extra_tests, models.cache_root(), *sorted({t.submission for t in tasks})],
                         packages={sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})


def _children() -> list[int]:
    """The worker's child processes (Linux /proc), zombies included."""
    me, found = str(os.getpid()), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] == me:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _end_strays(keep: set[int]) -> None:
    """Kill and reap every child of the worker but the test processes in `keep`: what a test process
    left behind, reparented to the worker (its subreaper). Until none is left, so that a stray
    that forks while it dies ends too."""
    if not sys.platform.startswith("linux"):
        return
    while strays := [pid for pid in _children() if pid not in keep]:
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in strays:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _preload(options: Options, classmates: int, phases: dict) -> dict[str, list[str]]:
    """Import what every test process needs and load the model once, before forking; for a batch of
    several submissions, also do the tests' own work for fixed inputs (`_warm_up`). Adds the
    seconds of each step to `phases`."""
    import torch

    started = time.monotonic()

    def took(phase: str) -> None:
        nonlocal started
        phases[phase] = time.monotonic() - started
        started = time.monotonic()

    # No OpenMP thread pool may exist before fork(): a forked process would hang on it. With one
    # thread, torch runs everything inline; each test process sets its own thread count.
    torch.set_num_threads(1)
    from importlib.metadata import entry_points

    import pytest  # noqa: F401

    for plugin in entry_points(group="pytest11"):  # pytest-timeout, hypothesis, anyio...
        try:
            plugin.load()
        except Exception:  # noqa: BLE001 - pytest itself will report a broken plugin
            pass
    # Import the test modules once, as pytest does (assertion rewriting included): each test
    # process then finds them in sys.modules instead of compiling them again, and collects only
    # the files that hold its exercise's tests (returned here: exercise -> files).
    took("worker: import pytest and its plugins")
    files: dict[str, list[str]] = {}
    _collect_graded_tests(options, files)
    took("worker: collect the tests (import the test modules)")
    load_model(options)
    took("worker: load the models")
    _warm_up(options, test_modules=classmates > 1)
    took("worker: warm up (fingerprints, the tests' fixed inputs)")
    return files


def _warm_up(options: Options, test_modules: bool) -> None:
    """Work the tests do for fixed inputs, done once here for every test process that forks from
    this one: the loaded models' fingerprints (which recording applies), and, with `test_modules`,
    each graded test module's `warm_up(lm)` with each loaded model (the test's own greedy
    continuation, the logits after its prompts...: memoised helpers of the module). For a single
    submission the test processes, running side by side, compute what their exercise needs."""
    from . import expectations, models

    folders = tuple(str(Path(f).resolve()) + os.sep for f in (options.tests_dir, options.extra_tests) if f)
    modules = [m for m in list(sys.modules.values())
               if test_modules and str(getattr(m, "__file__", "") or "").startswith(folders)
               and callable(getattr(m, "warm_up", None))]
    for lm in models.loaded_models():
        expectations.model_fingerprint(lm)
        for module in modules:
            try:
                module.warm_up(lm)
            except Exception:  # noqa: BLE001 - the tests then compute it themselves
                traceback.print_exc()


@dataclass
class _State:
    """One task across its attempts (a restarted test process is a new attempt)."""

    task: Task
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
    reader: Reader  # checks the signed lines of this attempt's test process
    fd: int  # read end of the report pipe
    pid: int
    log: Path
    popen: subprocess.Popen | None
    last: float  # when the last signed line arrived
    collected: bool = False
    killed: str = ""  # why the worker stopped it
    status: tuple | None = None  # ("exit", code) or ("signal", number)
    status_fd: int | None = None  # with a PID namespace: where its init writes the test's status


class _Scheduler:
    def __init__(self, options: Options):
        self.options = options
        self.files: dict[str, list[str]] = {}  # exercise -> the test files that hold its tests
        self.active: dict[int, _Attempt] = {}
        self.folders: list[Path] = []  # every task's temporary folder
        self.tasks: list[Task] = []
        self.watch: sandbox.Watch | None = None  # without namespaces: what must not change
        self.stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True

    def out_of_time(self) -> bool:
        deadline = self.options.deadline_at
        return self.stop_requested or (deadline is not None and time.time() >= deadline)

    def run(self, tasks: list[Task]):
        """Yield (task index, ExerciseResult) as each task ends."""
        # mkdtemp: a private folder (mode 0700) per task; main() removes them all, whatever happened
        queue = deque(_State(task=t, tmp=Path(tempfile.mkdtemp(prefix="textgen-grade-")), started=0.0)
                      for t in tasks)
        self.folders = [state.tmp for state in queue]
        self.tasks = tasks
        scanned = 0.0
        while queue or self.active:
            if time.monotonic() - scanned > 0.5:  # a scan of /proc: twice a second, and before each result
                _end_strays(keep={attempt.pid for attempt in self.active.values()})
                scanned = time.monotonic()
            if self.out_of_time():
                yield from self._wrap_up(queue)
                return
            while queue and len(self.active) < self.options.jobs:
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
                    _end_strays(keep={a.pid for a in self.active.values()})
                    self._check_unchanged(attempt.state, result)
                    yield attempt.state.task.index, result

    def _check_unchanged(self, state: _State, result: ExerciseResult) -> None:
        """Without namespaces: a task during which a file the grading depends on changed scores 0,
        its note naming the files."""
        if self.watch is None:
            return
        # A submission may write its own folder: a change there is no one's fault while that submission's
        # test process ran (this one's, or one running beside it, which cannot be told apart here).
        running = {state.task.submission, *(a.state.task.submission for a in self.active.values())}
        changed = [path for path in self.watch.changed()
                   if not any(path.startswith(folder + os.sep) for folder in running)]
        if not changed:
            return
        beside = len(self.active)  # test processes that ran at the same time: suspects too
        result.note = (f"tampering: while its tests ran, files the grading depends on changed "
                       f"({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''}): 0 points"
                       + (f" (or one of the {beside} test processes running beside it did)" if beside else ""))
        for test in result.tests:
            test.outcome, test.message = "failed", result.note
        score(result)

    def stop_all(self) -> None:
        for attempt in self.active.values():
            _kill_group(attempt.pid)

    def clean_up(self) -> None:
        """Stop every test process and whatever they left behind, and remove every task's temporary
        folder, also after an abort."""
        self.stop_all()
        _end_strays(keep=set())
        for folder in self.folders:
            _remove_tree(folder)

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
                    attempt.status = _status_of(attempt)
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
        _end_strays(keep=set())
        states += queue
        queue.clear()
        by_exercise = None
        if any(state.collected is None and not state.forged for state in states):
            by_exercise = _collect_graded_tests(self.options)
        for state in states:
            _remove_tree(state.tmp)
            yield state.task.index, self._out_of_time_result(state, by_exercise or {})

    def _out_of_time_result(self, state: _State, by_exercise: dict) -> ExerciseResult:
        name = state.task.exercise
        result = ExerciseResult(name=name, share=SHARES[name])
        if state.forged:
            result.note = FORGED_NOTE
            state.outcomes = {}
        tests = state.collected if state.collected is not None else by_exercise.get(name, [])
        remaining = [t["nodeid"] for t in tests if t["nodeid"] not in state.outcomes]
        cut = bool(remaining) and state.cut  # the first test without a result was running
        for number, nodeid in enumerate([] if state.forged else remaining):
            message = CUT_BY_DEADLINE if cut and number == 0 else OUT_OF_TIME
            state.outcomes[nodeid] = {"outcome": "failed", "message": message}
        if not state.forged:
            budget = messages.out_of_time_note(len(remaining) - cut, len(tests), cut)
            result.note = f"{messages.stops(state.stops)}; {budget}" if state.stops else budget
        self._add_tests(result, state, tests)
        return result

    # -- one attempt

    def _start(self, state: _State) -> _Attempt:
        if not state.started:
            state.started = time.monotonic()
        key = new_key()
        key_r, key_w = os.pipe()
        report_r, report_w = os.pipe()
        skip = state.tmp / f"skip-{state.restarts}.json"
        skip.write_text(json.dumps(sorted(state.outcomes)))
        log = state.tmp / f"output-{state.restarts}.log"
        args = self._test_process_args(state.task, f"{key_r},{report_w}", skip)
        args.append(f"--grader-imports={_import_marker(state)}")  # written while a module of the submission is imported
        popen = None
        status_r, status_w = os.pipe() if sandbox.available() else (None, None)
        box = self._sandbox(state, status_w)
        if self.options.isolation == "fork":
            # Whatever exists now stays out of the test process's garbage collections, which would
            # otherwise write to every object (the model's, torch's, the tests'): page copies.
            gc.freeze()
            with sandbox.new_pid_namespace():
                pid = os.fork()
                if pid == 0:
                    forked_child(args, (key_r, report_w), log, self.options, box)  # never returns
        else:
            config = {"args": args, "options": asdict(self.options), "sandbox": box.spec()}
            with log.open("wb") as out, sandbox.new_pid_namespace():
                popen = subprocess.Popen(
                    [sys.executable, "-c", SPAWN_CODE, json.dumps(config)],
                    pass_fds=tuple(fd for fd in (key_r, report_w, status_w) if fd is not None),
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    cwd=state.tmp, start_new_session=True)
            pid = popen.pid
        os.close(key_r)
        os.close(report_w)
        if status_w is not None:
            os.close(status_w)
        os.write(key_w, key)  # KEY_BYTES always fit in the pipe: never blocks
        os.close(key_w)
        os.set_blocking(report_r, False)
        return _Attempt(state=state, reader=Reader(key), fd=report_r, pid=pid, log=log, popen=popen,
                        last=time.monotonic(), status_fd=status_r)

    def _sandbox(self, state: _State, status_fd: int | None) -> sandbox.Sandbox:
        """The namespaces of the task's test process: it writes its own temporary folder only, and
        sees neither the classmates' submissions nor the other gradings' temporary folders (the
        kit, its tests, the environment and the model stay visible, where they lie there too).
        `status_fd`: where its PID namespace's init writes how it ended."""
        from . import models
        from .submission import REPO

        own = Path(state.task.submission)
        others = sorted({Path(t.submission) for t in self.tasks} - {own})
        keep = [own, REPO, Path(self.options.tests_dir), *([Path(self.options.extra_tests)] if self.options.extra_tests
                                                          else []),
                Path(sys.prefix), Path(sys.base_prefix), models.cache_root()]
        return sandbox.Sandbox(writable=state.tmp, hide=others, keep=keep,
                               private={Path("/tmp"), Path("/var/tmp"), Path(tempfile.gettempdir())},
                               replace_dev=devices.resolve(self.options.device).type == "cpu", status_fd=status_fd)

    def _test_process_args(self, task: Task, channel: str, skip: Path) -> list[str]:
        o = self.options
        # --tb=native: the instructor's detail of a failure is Python's own traceback, much cheaper to
        # make than pytest's (which reads the source of every frame) and what the student never reads.
        args = _graded_run(o, "-m", f"{task.exercise} and points", "-q", "--tb=native",
                           "-p", "no:randomly", "-p", "no:unraisableexception", "-p", "no:threadexception",
                           f"--submission={task.submission}", f"--grader-channel={channel}", f"--grader-skip={skip}",
                           f"--timeout={o.timeout}", "--timeout-disable-debugger-detection",
                           "-p", "no:cacheprovider",  # nothing to write in the kit's folder
                           files=self.files.get(task.exercise))
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
            for record in attempt.reader.feed(chunk):
                self._accept(attempt, record)
        if attempt.reader.forged:
            attempt.state.forged = True

    def _accept(self, attempt: _Attempt, record: dict) -> None:
        """Take a record that the attempt's Reader verified."""
        state = attempt.state
        attempt.last = time.monotonic()
        if record["event"] == "collected":
            attempt.collected = True
            if state.collected is None:
                state.collected = record["tests"]
        elif record["event"] == "result":
            state.outcomes.setdefault(record["nodeid"], record)

    def _poll(self, attempt: _Attempt) -> None:
        """Notice that the test process ended, or stop it when it hangs."""
        attempt.status = _status_of(attempt)
        if attempt.status is not None:
            if attempt.popen is not None:
                attempt.popen.returncode = -1  # reaped by _ended
            return
        limit = STARTUP_LIMIT if not attempt.collected else 2 * self.options.timeout + 5
        if time.monotonic() - attempt.last > limit and not attempt.killed:
            attempt.killed = messages.stopped_by_the_grader(limit, self.options.timeout)
            _kill_group(attempt.pid)

    def _finish(self, attempt: _Attempt) -> ExerciseResult | None:
        """Score the task, or return None to run its remaining tests in a new test process."""
        state, name = attempt.state, attempt.state.task.exercise
        kind, value = attempt.status
        output = _output_of(attempt.log)
        if state.collected is None and not state.forged:
            if kind == "exit" and value == 5:
                raise KitError(f"no graded tests were found for exercise '{name}' in {self.options.tests_dir}")
            if kind == "exit" and value in (0, 1, 2, 3, 4):
                raise KitError(f"grading {name} could not run (pytest exit code {value}): {last_line(output)}")
        if state.collected == []:
            raise KitError(f"no graded tests were found for exercise '{name}' in {self.options.tests_dir}")
        result = ExerciseResult(name=name, share=SHARES[name])
        if state.forged:
            result.note = FORGED_NOTE
            state.outcomes = {}
        elif state.collected is None:
            result.note = messages.died_before_any_test(output)
        else:
            remaining = [t["nodeid"] for t in state.collected if t["nodeid"] not in state.outcomes]
            not_run = 0
            if remaining:
                why = attempt.killed or describe_stop(kind, value)
                importing = _importing(state)
                if importing:  # a new test process would stop in the same import: not restarted
                    why = messages.stopped_while_importing(importing, why)
                state.stops.append(why)
                state.outcomes[remaining[0]] = {"outcome": "failed", "message": why}
                if len(remaining) > 1 and state.restarts < MAX_RESTARTS and not importing:
                    state.restarts += 1
                    return None
                rest = (messages.not_run_after_import(importing) if importing
                        else messages.too_many_stops(len(state.stops)))
                not_run = len(remaining) - 1
                for nodeid in remaining[1:]:
                    state.outcomes[nodeid] = {"outcome": "failed", "message": rest}
            if state.stops:
                result.note = messages.stops_note(state.stops, not_run)
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
        score(result)
        result.seconds = time.monotonic() - state.started if state.started else 0.0


def _import_marker(state: _State) -> Path:
    """The file the plugin writes while the attempt's test process imports a module of the submission."""
    return state.tmp / f"importing-{state.restarts}"


def _importing(state: _State) -> str:
    """The submission's module (a file name) its last test process was importing when it stopped, or ""."""
    try:
        return _import_marker(state).read_text(encoding="utf-8", errors="replace")[:100]
    except OSError:
        return ""


def _graded_run(options: Options, *more: str, files=None) -> list[str]:
    """run.pytest_args for this grading's tests (or `files` among them), with its model, device and
    expectations, then `more`."""
    return pytest_args(options.tests_dir, options.extra_tests, files) + [
        f"--model={options.model}", f"--device={options.device}", f"--expectations={options.expectations}", *more]


def _collect_graded_tests(options: Options, files: dict | None = None) -> dict[str, list[dict]]:
    """Exercise -> its graded tests (as a test process reports them when collected), collected here
    in the worker: for the tasks that had not collected their tests when the time ran out. Fills
    `files` with exercise -> the files that hold its graded tests."""
    import pytest

    found: dict[str, list[dict]] = {}

    class Collector:
        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(self, session):
            for test in graded_tests(session.items, options.extra_tests):
                found.setdefault(test["exercise"], []).append(test)
            if files is not None:
                for item in session.items:
                    exercise = exercise_of(item)
                    if exercise and weight_of(item) is not None and str(item.path) not in files.get(exercise, []):
                        files.setdefault(exercise, []).append(str(item.path))

    args = _graded_run(options, "--collect-only", "-q", "-m", "points")
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
            pytest.main(args, plugins=[Collector()])
    except Exception:  # noqa: BLE001 - without the list, each exercise still gets its note
        traceback.print_exc()
    unmarked = [test["nodeid"] for test in found.pop(None, [])]
    if unmarked:  # it would never run: each test process runs `-m "<exercise> and points"`
        raise KitError(f"{unmarked[0]}{f' (and {len(unmarked) - 1} more)' if len(unmarked) > 1 else ''} has "
                       f"@pytest.mark.points but no exercise marker, so no exercise would grade it: add one "
                       f"(@pytest.mark.sampling, or pytestmark = pytest.mark.<exercise> in the module)")
    return found


OUTPUT_KEPT = 64 * 1024  # bytes of a test process's output read from each end of its log


def _output_of(log: Path) -> str:
    """What a test process printed (the worker reads it for a crash's last line), at most
    OUTPUT_KEPT bytes of its start and of its end: a submission that prints gigabytes costs the
    worker no memory."""
    try:
        with log.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= 2 * OUTPUT_KEPT:
                return f.read().decode(errors="replace")
            head = f.read(OUTPUT_KEPT)
            f.seek(size - OUTPUT_KEPT)
            tail = f.read(OUTPUT_KEPT)
    except OSError:
        return ""
    return (head.decode(errors="replace") + f"\n[... {size - 2 * OUTPUT_KEPT} bytes left out ...]\n"
            + tail.decode(errors="replace"))


def _status_of(attempt: _Attempt) -> tuple | None:
    """How the attempt's test process ended (see `_ended`), None while it runs. With a PID
    namespace, the process the worker started is the namespace's init, which says how the test
    process it forked ended."""
    status = _ended(attempt.pid)
    if status is not None and attempt.status_fd is not None:
        status = sandbox.read_status(attempt.status_fd) or status
        os.close(attempt.status_fd)
        attempt.status_fd = None
    return status


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

