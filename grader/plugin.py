"""The pytest plugin behind `pytest` and the grader (loaded by tests/conftest.py).

Options: ``--submission PATH`` (the implementation under test, default exercises/),
``--model NAMES`` (comma-separated: the model fixtures are parametrised over them),
``--device D``. Fixtures: ``impl`` (the submission), ``ref`` (the reference solutions), ``lm`` /
``model`` / ``tokenizer`` (session-scoped, loaded once per process), ``tol`` (tolerances).
With ``--grader-report FILE`` every graded test's outcome and a one-line, student-readable
message are appended to FILE as JSON lines, as soon as each test ends (a crash loses nothing
already written).

The grader (grader/run.py) uses ``--grader-channel KEY_FD,REPORT_FD`` instead: the plugin reads a
secret key from KEY_FD and closes it before any submission code is imported, then signs every
line it writes to REPORT_FD, and guards the process while the submission's code runs (see
"Tamper guard" below): grading trusts only signed lines, and a test during which the submission
changed what the tests rely on fails.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import operator
import os
import sys
import sysconfig
import traceback
import types
from pathlib import Path

import pytest

from . import KitError, devices, expectations, models
from .points import EXERCISES
from .submission import SOLUTIONS_DIR, Submission, SubmissionImportError

try:  # property tests: deterministic, no deadlines (the machines are shared and noisy)
    from hypothesis import settings

    settings.register_profile("kit", derandomize=True, deadline=None, print_blob=False)
    settings.load_profile("kit")
except ImportError:  # pragma: no cover
    pass


def pytest_addoption(parser):
    group = parser.getgroup("textgen-kit")
    group.addoption("--submission", default=None, metavar="PATH",
                    help="folder laid out like exercises/ to test (default: exercises/; "
                         "solutions/ tests the reference)")
    group.addoption("--model", default="default", metavar="NAMES",
                    help="model(s) to test with, comma-separated: default, tiny, a local folder "
                         "or a locally cached Hugging Face id (default: default)")
    group.addoption("--device", default="auto", metavar="D", help="auto, cpu, cuda or cuda:N (default: auto)")
    group.addoption("--expectations", default="auto", choices=expectations.MODES,
                    help="what graded tests compare with: recorded (the recordings in tests/expectations), "
                         "live (transformers' own pieces), check (recompute with the reference and "
                         "compare with the recordings), record (write them); auto: check when testing "
                         "the reference itself, else recorded where a recording applies, else live")
    group.addoption("--grader-report", default=None, metavar="FILE", help="(used by the grader) JSON-lines results")
    group.addoption("--grader-channel", default=None, metavar="KEY_FD,REPORT_FD",
                    help="(used by the grader) read the signing key from KEY_FD, write signed results to REPORT_FD")
    group.addoption("--grader-hidden", default=None, metavar="DIR",
                    help="(used by the grader) tests under DIR are the instructor's hidden tests")
    group.addoption("--grader-skip", default=None, metavar="FILE",
                    help="(used by the grader) a JSON list of node ids not to run (already graded)")


def pytest_configure(config):
    channel = config.getoption("grader_channel")
    report = config.getoption("grader_report")
    submission = config.getoption("submission")
    if not channel:  # a folder that is not there is one line, not one error per test
        try:
            from .submission import resolve_folder

            resolve_folder(submission)
        except KitError as err:
            raise pytest.UsageError(str(err)) from None
    if submission and config.inipath is None and config.rootpath == Path(submission).expanduser().resolve():
        # Before it knows the kit's options, pytest reads `--submission PATH` as an option it does not
        # know followed by a test path, and settles on PATH as its root folder.
        raise pytest.UsageError(f"pytest took {submission} for a test folder: write --submission={submission} "
                                f"(with '='), e.g. pytest -m sampling --submission={submission}")
    recordings = config.stash[_RECORDINGS] = expectations.Recordings(
        config.getoption("expectations"), under_grader=bool(channel),
        submission_is_reference=bool(submission) and Path(submission).expanduser().resolve() == SOLUTIONS_DIR)
    if recordings.compares_with_the_reference:
        # Recordings are made, and checked, with one torch thread: the same last bits on every
        # machine, and those of the grader's test processes (one thread each on 2 CPUs).
        import torch

        torch.set_num_threads(1)
    if channel:
        # Runs before collection, so before any submission module can be imported.
        sink = SignedChannel(channel)
        alarms = install_audit_hook(config)
        config.pluginmanager.register(GraderReport(sink, alarms=alarms), "textgen-kit-report")
    elif report:
        config.pluginmanager.register(GraderReport(FileSink(Path(report))), "textgen-kit-report")


# ----------------------------------------------------------------------------------------------
# Fixtures

_LOADED: dict = {}
_RECORDINGS = pytest.StashKey["expectations.Recordings"]()


def pytest_generate_tests(metafunc):
    if "lm" in metafunc.fixturenames:
        names = [n.strip() for n in metafunc.config.getoption("model").split(",") if n.strip()]
        metafunc.parametrize("lm", names or ["default"], indirect=True, scope="session")


def pytest_collection_modifyitems(config, items):
    """Leave out the anchors where there is no reference to anchor (a student release); under the
    grader, the tests a previous test process already reported (exact node ids; pytest's own
    --deselect matches prefixes)."""
    if not SOLUTIONS_DIR.is_dir():
        anchors = [item for item in items if item.get_closest_marker("anchor")]
        if anchors:
            config.hook.pytest_deselected(items=anchors)
            items[:] = [item for item in items if not item.get_closest_marker("anchor")]
    skip_file = config.getoption("grader_skip")
    if not skip_file:
        return
    skip = set(json.loads(Path(skip_file).read_text()))
    kept = [item for item in items if item.nodeid not in skip]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid in skip])
        items[:] = kept


@pytest.fixture(scope="session")
def device(request):
    return devices.resolve(request.config.getoption("device"))


@pytest.fixture(scope="session")
def lm(request, device) -> models.LoadedModel:
    """The model and tokenizer under the name in --model, loaded once per process."""
    key = (request.param, str(device))
    if key not in _LOADED:
        _LOADED[key] = models.load(request.param, str(device))
    return _LOADED[key]


@pytest.fixture
def model(lm):
    return lm.model


# What a submission might change on the shared tokenizer (padding_side = "left" is the classic).
_TOKENIZER_STATE = ("padding_side", "truncation_side", "pad_token", "eos_token", "bos_token", "model_max_length")


@pytest.fixture
def tokenizer(lm):
    """The session's tokenizer, put back as it was after each test, so that one test's mutation
    cannot hide a mistake from (or cause a failure in) another."""
    before = {name: getattr(lm.tokenizer, name) for name in _TOKENIZER_STATE}
    yield lm.tokenizer
    for name, value in before.items():
        if getattr(lm.tokenizer, name) != value:
            setattr(lm.tokenizer, name, value)


@pytest.fixture(scope="session")
def tol(device) -> devices.Tolerances:
    return devices.tolerances(device)


@pytest.fixture(scope="session")
def impl(request) -> Submission:
    """The implementation under test (--submission)."""
    return Submission(request.config.getoption("submission"))


def _reference(config) -> Submission:
    """The reference solutions, for the anchors, the kit's own tests and recording: never while
    grading (the graded process must not hold the answers), and not in a student release."""
    if config.getoption("grader_channel"):
        raise KitError("the reference solutions are not available while grading; graded tests "
                       "compare with the `expected` fixture (recordings or live checks)")
    if not SOLUTIONS_DIR.is_dir():
        pytest.skip("the reference solutions are not part of this copy of the kit")
    return Submission(SOLUTIONS_DIR)


@pytest.fixture(scope="session")
def ref(request) -> Submission:
    """The reference solutions (anchors and kit tests only; see _reference)."""
    return _reference(request.config)


@pytest.fixture
def expected(request, device) -> expectations.Expected:
    """What a graded test compares with: `expected(lambda ref: ..., oracle=lambda: ..., tol=...)`
    (grader/expectations.py): the recording for this test, or the live oracle where none applies."""
    lm = request.getfixturevalue("lm") if "lm" in request.fixturenames else None
    found = expectations.Expected(request.config.stash[_RECORDINGS], request.node, lm, device,
                                  reference=lambda: _reference(request.config))
    request.node.user_properties.append(("expectations", found.mode if found.mode != "live" else
                                         f"live ({found.reason})"))
    return found


def pytest_sessionfinish(session, exitstatus):
    """In record mode, write the recordings, but only when every test passed."""
    recordings = session.config.stash.get(_RECORDINGS, None)
    if recordings is None or recordings.requested != "record":
        return
    if exitstatus != 0:
        print(f"\nrecordings not written: the reference failed (pytest exit status {int(exitstatus)})",
              file=sys.stderr)
        return
    for path in recordings.write():
        print(f"wrote {path}", file=sys.stderr)


# ----------------------------------------------------------------------------------------------
# One readable line per failure

def exercise_of(item) -> str | None:
    for name in EXERCISES:
        if item.get_closest_marker(name):
            return name
    return None


def weight_of(item) -> float | None:
    marker = item.get_closest_marker("points")
    return float(marker.args[0]) if marker else None


def describe_failure(excinfo, submission_folder: Path | None = None) -> str:
    """One line for the student: what went wrong and, where it helps, where in their code."""
    err = excinfo.value
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(err, NotImplementedError):
        return f"not implemented yet: {first}" if first else "not implemented yet"
    if "from pytest-timeout" in first:  # also when it stopped an import: "could not import ..."
        return f"took too long ({first}): look for a loop that never ends"
    if isinstance(err, (SubmissionImportError, KitError)):
        return first
    if isinstance(err, AssertionError):
        return first or "assertion failed"
    where = ""
    if submission_folder is not None:
        frames = [f for f in traceback.extract_tb(excinfo.tb)
                  if Path(f.filename).resolve().parent == submission_folder]
        if frames:
            where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"
    return f"{type(err).__name__}: {first}{where}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the one-line message to every failed report; "not implemented yet" and import errors
    show that line alone instead of a traceback through the stub's docstring."""
    report = yield
    if call.excinfo is not None and report.failed:
        from .submission import resolve_folder

        try:
            folder = resolve_folder(item.config.getoption("submission"))
        except KitError:
            folder = None
        report.student_message = describe_failure(call.excinfo, folder)
        if call.excinfo.errisinstance((NotImplementedError, SubmissionImportError, KitError)):
            report.longrepr = report.student_message
    return report


# ----------------------------------------------------------------------------------------------
# Results: one JSON line per graded test, as each test ends

class FileSink:
    """Plain JSON lines appended to a file (``--grader-report``)."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, record: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


class SignedChannel:
    """Signed JSON lines on a pipe (``--grader-channel KEY_FD,REPORT_FD``).

    The key is read and its pipe closed here, at configure time: before any submission code is
    imported. Each line is ``{"seq": n, ...}<TAB>hmac-sha256(key, json)``; the grader rejects a
    line whose signature or sequence number is wrong, so text that the submission writes to the
    pipe (or anywhere else) never counts.
    """

    KEY_BYTES = 32

    def __init__(self, spec: str):
        try:
            key_fd, self._fd = (int(part) for part in spec.split(","))
        except ValueError:
            raise KitError(f"--grader-channel takes KEY_FD,REPORT_FD, got {spec!r}") from None
        key = b""
        while len(key) < self.KEY_BYTES:
            chunk = os.read(key_fd, self.KEY_BYTES - len(key))
            if not chunk:
                raise KitError("the grader's key pipe closed before the key was read")
            key += chunk
        os.close(key_fd)
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        del key
        # Bound now: replacing json.dumps or os.write later does not reach this writer.
        self._dumps, self._os_write, self._seq = json.dumps, os.write, 0

    def write(self, record: dict) -> None:
        payload = self._dumps({"seq": self._seq, **record}, sort_keys=True)
        mac = self._mac.copy()
        mac.update(payload.encode())
        data = f"{payload}\t{mac.hexdigest()}\n".encode()
        while data:
            data = data[self._os_write(self._fd, data):]
        self._seq += 1


def _is_hidden(item, hidden: Path | None) -> bool:
    return hidden is not None and hidden in Path(str(item.path)).resolve().parents


TIMEOUTS_IN_A_ROW = 3  # under the grader, the rest of the exercise is not run after this many


class GraderReport:
    """Writes the collected graded tests, then one record per graded test as each one ends.

    A test counts as passed only when pytest's reports say so, this plugin saw the test function
    itself return, and (under the grader) the tamper guard found nothing changed. Under the
    grader, after TIMEOUTS_IN_A_ROW tests in a row took too long (a loop that runs on every call,
    or at import), the remaining tests fail without running, instead of each taking the limit.
    """

    def __init__(self, sink, alarms: list | None = None):
        self.sink = sink
        self.alarms = alarms  # None: not guarded (plain --grader-report)
        self.guard: Guard | None = None
        self.outcomes: dict[str, dict] = {}
        self.returned: set[str] = set()
        self.tampered = ""
        self.timeouts = 0  # tests in a row that took too long

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        hidden_dir = session.config.getoption("grader_hidden")
        hidden = Path(hidden_dir).resolve() if hidden_dir else None
        items = [item for item in session.items if weight_of(item) is not None]
        if self.alarms is not None:
            self.guard = Guard(session, self.alarms)
        self.sink.write({"event": "collected", "tests": [
            {"nodeid": item.nodeid, "exercise": exercise_of(item), "weight": weight_of(item),
             "hidden": _is_hidden(item, hidden)} for item in items]})

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.guard is None or self.timeouts < TIMEOUTS_IN_A_ROW:
            return None  # run the test as usual
        self.sink.write({"event": "result", "nodeid": item.nodeid, "outcome": "failed", "message": (
            f"not run: {self.timeouts} tests in a row took too long; look for a loop that never ends, "
            f"also at import time")})
        return True

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem):
        result = yield  # re-raises whatever the test function raised
        self.returned.add(pyfuncitem.nodeid)
        return result

    def pytest_runtest_logreport(self, report):
        state = self.outcomes.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
        if report.failed and state["outcome"] == "passed":
            state["outcome"] = "failed"
            state["message"] = getattr(report, "student_message", "") or report.longreprtext.splitlines()[-1:][0]
            state["detail"] = report.longreprtext[-2000:]
        elif report.skipped and state["outcome"] == "passed":
            state["outcome"] = "skipped"
            state["message"] = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        if report.when == "call":
            state["duration"] = round(report.duration, 3)
        compared = dict(report.user_properties).get("expectations")
        if compared:
            state["expectations"] = compared
        if report.when == "teardown":
            state = self.outcomes.pop(report.nodeid)
            if self.guard is not None:
                self._judge(report.nodeid, state)
            self.timeouts = self.timeouts + 1 if state["message"].startswith("took too long") else 0
            self.sink.write({"event": "result", "nodeid": report.nodeid, **state})

    def _judge(self, nodeid: str, state: dict) -> None:
        """Under the grader: fail the test when the process can no longer be trusted."""
        if not self.tampered:
            problem = self.guard.check()
            if problem:
                self.tampered = problem
                state.update(outcome="failed", message=f"tampering: {problem}; this test and the rest of "
                                                       f"the exercise score 0 - write your own code, and leave "
                                                       f"the grader and the kit's files alone", detail="")
                return
        if self.tampered:
            state.update(outcome="failed", message=f"not graded: {self.tampered} (earlier in this exercise)",
                         detail="")
        elif state["outcome"] == "passed" and nodeid not in self.returned:
            state.update(outcome="failed", message="the test did not run to its end", detail="")

    def pytest_sessionfinish(self, session, exitstatus):
        self.sink.write({"event": "done", "exitstatus": int(exitstatus)})


# ----------------------------------------------------------------------------------------------
# Tamper guard (only under the grader, i.e. with --grader-channel)
#
# The submission runs inside the test process, so nothing here is a sandbox; these are layers
# that make the known ways of changing a score fail, each one proven by a submission under
# tests/adversarial/:
# 1. an audit hook (which Python never lets anyone remove) refuses, from the submission's code,
#    the tools for reaching into the grader: gc.get_objects/get_referrers/get_referents, trace
#    and profile functions, rewriting a function's __code__, raw memory through ctypes, signals
#    to other processes, starting processes, and opening the kit's own files (reference, tests,
#    grader); and, from anyone, rewriting the code of a function the Guard watches;
# 2. after each test, the Guard compares what the tests rely on with a snapshot taken before any
#    submission code ran: the functions and classes of pytest, pluggy, pytest-timeout, the kit
#    (grader, reference, tests and their helpers), torch, the transformers classes of the model
#    and tokenizer, builtins, json, hmac, os; pytest's registered hook implementations; the
#    model's weights (identity, storage and version counter), hooks and methods.
# (grader/submission.py refuses a submission that imports the reference solutions.)

_AUDITED = {
    "gc.get_objects": "look through the grader's memory (gc.get_objects)",
    "gc.get_referrers": "look through the grader's memory (gc.get_referrers)",
    "gc.get_referents": "look through the grader's memory (gc.get_referents)",
    "sys._current_frames": "inspect the grader's frames (sys._current_frames)",
    "sys.settrace": "install a trace function (sys.settrace)",
    "sys.setprofile": "install a profile function (sys.setprofile)",
    "ctypes.string_at": "read raw memory with ctypes",
    "ctypes.wstring_at": "read raw memory with ctypes",
    "ctypes.cdata": "read raw memory with ctypes",
    "ctypes.addressof": "read raw memory with ctypes",
    # C functions (libc's open and read...) would reach the kit's files past the "open" event.
    "ctypes.dlopen": "load a C library with ctypes",
    "ctypes.dlsym": "load a C library with ctypes",
    # A process it started could outlive the test process and rewrite the results afterwards.
    "os.fork": "start another process",
    "os.forkpty": "start another process",
    "os.posix_spawn": "start another process",
    "os.spawn": "start another process",
    "os.exec": "start another process",
    "os.system": "start another process",
    "subprocess.Popen": "start another process",
}


def _kit_folders(config) -> tuple[str, ...]:
    from .submission import REPO

    folders = [REPO / "grader", REPO / "solutions", REPO / "tests"]
    hidden = config.getoption("grader_hidden")
    if hidden:
        folders.append(Path(hidden))
    return tuple(str(f.resolve()) + os.sep for f in folders)


class Alarms(list):
    """The refusals of the audit hook, in order; `watched` holds the ids of the functions whose
    code and defaults nobody may rewrite (filled in by the Guard)."""

    watched: set[int]


def install_audit_hook(config) -> Alarms:
    """Refuse the tools for reaching into the grader when the submission's code asks for them.
    Returns the list to which each refusal is appended (the Guard reports them)."""
    from .submission import resolve_folder

    prefix = str(resolve_folder(config.getoption("submission"))) + os.sep
    kit = tuple(k for k in _kit_folders(config) if not prefix.startswith(k))
    own_pid = os.getpid()
    # Frames of Python's own library (not its site-packages), and of code without a file
    # (importlib's frozen modules, exec'd strings).
    stdlib = (sysconfig.get_paths()["stdlib"] + os.sep, "<")

    # Importers that load a module for whoever imports it: pytest's assertion-rewriting hook (which
    # claims every package of an installed pytest plugin's distribution, the kit's own included)
    # and setuptools' editable-install finder. Like Python's own importlib, they never decide.
    importers = (os.sep + os.path.join("_pytest", "assertion", "rewrite.py"), os.sep + "__editable__")

    def in_stdlib(filename: str) -> bool:
        if importers[0] in filename or importers[1] in filename:
            return True
        return filename.startswith(stdlib) and "-packages" + os.sep not in filename

    getframe, alarms = sys._getframe, Alarms()
    alarms.watched = set()

    def forbidden(event: str, args: tuple) -> str:
        if event in _AUDITED:
            return _AUDITED[event]
        if event == "object.__setattr__" and len(args) > 1 and args[1] in ("__code__", "__defaults__", "__kwdefaults__"):
            return f"rewrite a function's {args[1]}"
        if event in ("os.kill", "os.killpg") and (event == "os.killpg" or args[0] != own_pid):
            return "send a signal to another process"
        if event == "open" and isinstance(args[0], str):
            path = os.path.abspath(args[0])
            if path.startswith(kit):
                return f"open the kit's file {os.path.relpath(path, os.path.dirname(kit[0].rstrip(os.sep)))}"
        return ""

    def from_submission() -> str:
        """Where in the submission the operation comes from: the innermost frame outside Python's
        own library and the importers above decides (so `pathlib.Path.read_text` or an import made
        by the submission counts as the submission's, while pytest-timeout's handler interrupting
        the submission's loop does not)."""
        frame = getframe(2)
        while frame is not None and in_stdlib(frame.f_code.co_filename):
            frame = frame.f_back
        if frame is not None and frame.f_code.co_filename.startswith(prefix):
            return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
        return ""

    def hook(event, args):
        if event not in _WATCHED_EVENTS:
            return
        what = forbidden(event, args)
        where = from_submission() if what else ""
        if where:
            alarms.append(f"the submission tried to {what} (at {where})")
            raise PermissionError(f"grading does not allow a submission to {what}")
        if what and event == "object.__setattr__" and id(args[0]) in alarms.watched:
            # Whoever does it (a submission can hide its frames): a function the tests rely on.
            alarms.append(f"the submission rewrote {getattr(args[0], '__qualname__', 'a function')}'s {args[1]}")
            raise PermissionError("grading does not allow rewriting the kit's or pytest's functions")

    sys.addaudithook(hook)
    return alarms


_WATCHED_EVENTS = frozenset(_AUDITED) | {"object.__setattr__", "os.kill", "os.killpg", "open"}
_FRAMEWORK = ("pytest", "_pytest", "pluggy", "pytest_timeout", "grader", "solutions")
_LIBRARY = ("torch", "torch.functional", "torch.nn.functional", "torch.special", "torch.linalg",
            "torch.nn.modules.module", "transformers.generation.logits_process",
            "transformers.generation.utils", "builtins", "math", "json", "hmac", "hashlib", "os")
_MODEL_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                "_state_dict_hooks", "_load_state_dict_pre_hooks")
_MISSING = object()


def _watchable(value) -> bool:
    return callable(value) or isinstance(value, (property, classmethod, staticmethod))


class Guard:
    """A snapshot of what the tests rely on, taken before any submission code runs; `check()`
    names the first thing that changed since (or the first refused audit event)."""

    def __init__(self, session, alarms: Alarms):
        self.alarms = alarms
        self.config = session.config
        self.spaces: list[tuple[str, object, dict]] = []  # (label, live namespace, saved entries)
        self.kwdefaults: list[tuple[str, dict, dict]] = []  # (label, live dict, saved copy)
        self.classes: set[int] = set()
        kit = _kit_folders(session.config)
        for name, module in sorted(sys.modules.items()):
            file = os.path.abspath(getattr(module, "__file__", None) or "/")
            if name.split(".")[0] in _FRAMEWORK or file.startswith(kit):
                self._watch_module(name, module, classes=True)
            elif name in _LIBRARY:  # their classes: only those listed in _torch_classes()
                self._watch_module(name, module, classes=False)
        for cls in (_torch_classes() + [type(lm.model) for lm in _LOADED.values()]
                    + [type(lm.tokenizer) for lm in _LOADED.values()]):
            for base in cls.__mro__:
                self._watch_class(base)
        self.hooks = self._hookimpls(session.config)
        self.models = {key: _model_state(lm) for key, lm in _LOADED.items()}

    def _watch_module(self, name: str, module, classes: bool) -> None:
        entries = {k: v for k, v in vars(module).items() if _watchable(v)}
        self.spaces.append((name, vars(module), entries))
        for key, value in entries.items():
            if isinstance(value, types.FunctionType):
                self._watch_function(f"{name}.{key}", value)
            elif classes and isinstance(value, type) and value.__module__.split(".")[0] in _FRAMEWORK + (
                    name.split(".")[0],):
                self._watch_class(value)

    def _watch_class(self, cls: type) -> None:
        if id(cls) in self.classes or cls is object:
            return
        self.classes.add(id(cls))
        entries = {k: v for k, v in vars(cls).items() if _watchable(v)}
        label = f"{cls.__module__}.{cls.__qualname__}"
        self.spaces.append((label, vars(cls), entries))
        for key, value in entries.items():
            if isinstance(value, types.FunctionType):
                self._watch_function(f"{label}.{key}", value)

    def _watch_function(self, label: str, fn: types.FunctionType) -> None:
        # Rewriting its __code__ or defaults is refused by the audit hook; only the keyword
        # defaults, a dict, can change in place.
        self.alarms.watched.add(id(fn))
        if fn.__kwdefaults__:
            self.kwdefaults.append((label, fn.__kwdefaults__, dict(fn.__kwdefaults__)))

    @staticmethod
    def _hookimpls(config) -> dict:
        return {name: [(impl.plugin, impl.function) for impl in caller.get_hookimpls()]
                for name, caller in vars(config.pluginmanager.hook).items() if hasattr(caller, "get_hookimpls")}

    def check(self) -> str:
        if self.alarms:
            return self.alarms[0]
        for label, live, saved in self.spaces:
            # Identity, not equality: a replacement could claim to be equal. Compared in C (fast).
            if any(map(operator.is_not, saved.values(), map(live.get, saved))):
                key = next(k for k, v in saved.items() if live.get(k, _MISSING) is not v)
                return f"the submission replaced {label}.{key}"
        for label, live, saved in self.kwdefaults:
            if live.keys() != saved.keys() or any(map(operator.is_not, saved.values(), map(live.get, saved))):
                return f"the submission changed the keyword defaults of {label}"
        if self._hookimpls(self.config) != self.hooks:
            return "the submission changed pytest's plugins or hooks"
        for key, saved in self.models.items():
            changed = _model_changes(_LOADED[key], saved)
            if changed:
                return changed
        return ""


def _torch_classes() -> list[type]:
    import torch

    return [torch.Tensor, torch._C.TensorBase, torch.nn.Module, torch.nn.Linear, torch.nn.Embedding,
            torch.Generator]


def _model_state(lm) -> dict:
    model = lm.model
    tensors = [(name, t, t.data_ptr(), t._version) for name, t in
               list(model.named_parameters()) + list(model.named_buffers())]
    modules = [(name, m, {k: v for k, v in vars(m).items() if callable(v)},
                sum(len(getattr(m, a, ())) for a in _MODEL_HOOKS)) for name, m in model.named_modules()]
    tokenizer = {k: v for k, v in vars(lm.tokenizer).items() if callable(v)}
    return {"tensors": tensors, "modules": modules, "tokenizer": tokenizer}


def _model_changes(lm, saved: dict) -> str:
    model = lm.model
    now = dict(list(model.named_parameters()) + list(model.named_buffers()))
    for name, tensor, ptr, version in saved["tensors"]:
        current = now.get(name)
        if current is not tensor or current.data_ptr() != ptr or current._version != version:
            return (f"your code changed the model's weights ({name}); functions must never modify the "
                    f"model they are given")
    for name, module, methods, hooks in saved["modules"]:
        label = f"model.{name}" if name else "model"
        if {k: v for k, v in vars(module).items() if callable(v)} != methods:
            return f"your code replaced a method of {label}; functions must never modify the model they are given"
        if sum(len(getattr(module, a, ())) for a in _MODEL_HOOKS) != hooks:
            return f"your code left a hook on {label}; functions must never modify the model they are given"
    if {k: v for k, v in vars(lm.tokenizer).items() if callable(v)} != saved["tokenizer"]:
        return "your code replaced a method of the tokenizer; functions must never modify the tokenizer"
    return ""
