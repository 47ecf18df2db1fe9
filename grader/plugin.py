"""The kit's pytest plugin: options, fixtures and reports, for `pytest` and for the grader.

pytest loads it from any folder through the kit's pytest11 entry point (pyproject.toml); the
grader's test processes name it with ``-p grader.plugin``.

Options: ``--submission PATH`` (the implementation under test, default exercises/),
``--model NAMES`` (comma-separated: the model fixtures are parametrised over them),
``--device D``, ``--expectations MODE``. Fixtures: ``impl`` (the submission), ``ref`` (the
reference solutions), ``lm`` / ``model`` / ``tokenizer`` (session-scoped, loaded once per process),
``tol`` (tolerances), ``expected`` (what a graded test compares with). With ``--grader-report
FILE`` every graded test's outcome and a one-line, student-readable message (grader/messages.py)
are appended to FILE as JSON lines, as soon as each test ends (a crash loses nothing already
written).

The grader's test processes (started by grader/worker.py) use ``--grader-channel KEY_FD,REPORT_FD``
instead: the results go over the signed channel (grader/channel.py), and the tamper guard
(grader/guard.py) watches the process while the submission's code runs: grading trusts only signed
lines, and a test during which the submission changed what the tests rely on fails.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from . import KitError, devices, expectations, messages, models
from .channel import FileSink, SignedChannel
from .cli import DEVICE_HELP, MODEL_HELP, SUBMISSION_HELP
from .guard import Guard, install_audit_hook
from .messages import describe_failure
from .points import EXERCISES, exercise_of, graded_tests
from .submission import REPO, SOLUTIONS_DIR, TESTS_DIR, Submission, SubmissionError, has_reference, resolve_folder

try:  # property tests: deterministic, no deadlines (the machines are shared and noisy)
    from hypothesis import settings

    settings.register_profile("kit", derandomize=True, deadline=None, print_blob=False)
    settings.load_profile("kit")
except ImportError:  # pragma: no cover
    pass


def pytest_addoption(parser):
    group = parser.getgroup("textgen-kit")
    group.addoption("--submission", default=None, metavar="PATH", help=SUBMISSION_HELP)
    group.addoption("--model", default="default", metavar="NAMES",
                    help=f"model(s) to test with, comma-separated: {MODEL_HELP}")
    group.addoption("--device", default="auto", metavar="D", help=DEVICE_HELP)
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
    group.addoption("--grader-imports", default=None, metavar="FILE",
                    help="(used by the grader) the file that says which submission module is being imported")
    group.addoption("--grader-skip", default=None, metavar="FILE",
                    help="(used by the grader) a JSON list of node ids not to run (already graded)")


def pytest_configure(config):
    channel = config.getoption("grader_channel")
    report = config.getoption("grader_report")
    submission = config.getoption("submission")
    try:  # once, here: the fixtures, the failure messages and the audit hook read the stash
        config.stash[_SUBMISSION] = resolve_folder(submission)
    except KitError as err:  # a folder that is not there is one line, not one error per test
        raise pytest.UsageError(str(err)) from None
    if took_submission_for_a_test_folder(config.invocation_params.args, config.inipath, config.rootpath,
                                         config.stash[_SUBMISSION]):
        raise pytest.UsageError(f"pytest took {submission} for a test folder: write --submission={submission} "
                                f"(with '='), e.g. pytest -m sampling --submission={submission}")
    other = other_checkout(config.rootpath)
    if other is not None:
        raise pytest.UsageError(f"pytest runs in the kit checkout {other}, but the kit's plugin comes from {REPO} "
                                f"(this environment was set up there): run `python -m pytest ...` in {other} (it "
                                f"grades {other / 'exercises'}), or give {other} its own environment (make setup VENV=.venv-mine, "
                                f"then source .venv-mine/bin/activate)")
    config.pluginmanager.register(OneLineReports(), "textgen-kit-one-line-reports")
    recordings = config.stash[_RECORDINGS] = expectations.Recordings(
        config.getoption("expectations"), under_grader=bool(channel),
        submission_is_reference=config.stash[_SUBMISSION] == SOLUTIONS_DIR)
    if recordings.compares_with_the_reference:
        # Recordings are made, and checked, with one torch thread: the same last bits on every
        # machine, and those of the grader's test processes (one thread each on 2 CPUs).
        import torch

        torch.set_num_threads(1)
    if channel:
        # Runs before collection, so before any submission module can be imported.
        sink = SignedChannel(channel)
        alarms = install_audit_hook(config.stash[_SUBMISSION], config.getoption("grader_hidden"))
        config.pluginmanager.register(GraderReport(sink, alarms=alarms), "textgen-kit-report")
        if config.getoption("grader_imports"):
            config.stash[_IMPORTING] = _import_marker(Path(config.getoption("grader_imports")))
    elif report:
        config.pluginmanager.register(GraderReport(FileSink(Path(report))), "textgen-kit-report")


def _import_marker(path: Path) -> Callable[[str, bool], None]:
    """Submission's report that the import of a module (a file name) starts or ended, as a file the
    worker reads when the test process stops: while it exists, a module was being imported. A file,
    not the signed channel, so that what Submission holds gives no way to write results."""
    def importing(module: str, started: bool) -> None:
        if started:
            path.write_text(module, encoding="utf-8")
        else:
            path.unlink(missing_ok=True)

    return importing


def other_checkout(rootpath: Path) -> Path | None:
    """The kit checkout pytest runs in (its root folder), when it is not the one this plugin, and so
    the default exercises/ and the recordings, come from: an environment set up by one checkout and
    used from another finds the plugin through its editable install. None when they are the same
    (or pytest's root is not a kit checkout: a folder of copied or hidden tests)."""
    root = Path(rootpath).resolve()
    is_kit = (root / "grader" / "plugin.py").is_file() and (root / "exercises").is_dir()
    return root if is_kit and root != REPO else None


def pytest_report_header(config):
    """pytest's header names the folder graded (as the grader's first line does)."""
    folder = config.stash.get(_SUBMISSION, None)
    if folder is None:
        return None
    from .report import shown_path

    return f"textgen-kit: grading {shown_path(folder)} (--submission), with the kit in {REPO}"


def took_submission_for_a_test_folder(args, inipath, rootpath: Path, folder: Path) -> bool:
    """Did pytest settle its root folder and configuration on `--submission PATH` (with a space)?
    Before it knows the kit's options, pytest reads that as an option it does not know followed by
    a test path: it looks for its configuration above PATH, finds none, and takes PATH, or the
    folder PATH shares with the invocation folder, for its root. `--submission=PATH`, or a space
    where pytest still finds the kit's pyproject.toml, are fine."""
    spaced = any(arg == "--submission" for arg in args)
    return spaced and inipath is None and (rootpath == folder or rootpath in folder.parents)


# ----------------------------------------------------------------------------------------------
# Fixtures

_SUBMISSION = pytest.StashKey[Path]()  # the submission's folder, resolved once
_RECORDINGS = pytest.StashKey["expectations.Recordings"]()
_IMPORTING = pytest.StashKey["Callable[[str, bool], None]"]()  # under the grader: Submission's import reports


TINY = "tiny"


def pytest_generate_tests(metafunc):
    """The `lm` fixture once per --model name; a test marked ``tiny_model`` (a structural property:
    shapes, EOS handling, cache use, bad input...) on the kit's tiny model whatever --model says,
    and one marked ``tiny_model("case", [...])`` so for the listed values of its parameter `case`
    (the others on --model as usual; pytest_collection_modifyitems drops the pairs that do not apply)."""
    if "lm" not in metafunc.fixturenames:
        return
    names = models.names(metafunc.config.getoption("model"))
    marker = metafunc.definition.get_closest_marker("tiny_model")
    if marker is not None:
        names = [TINY] if not marker.args else [*names, *([TINY] if TINY not in names else [])]
    metafunc.parametrize("lm", names, indirect=True, scope="session")


def _runs_on_this_model(item) -> bool:
    """For a test marked tiny_model("case", [...]): is this item's (model, case) pair one that runs?"""
    marker = item.get_closest_marker("tiny_model")
    if marker is None or not marker.args or not hasattr(item, "callspec"):
        return True
    parameter, values = marker.args
    on_tiny = item.callspec.params.get(parameter) in values
    model = item.callspec.params.get("lm")
    return model == TINY if on_tiny else model in models.names(item.config.getoption("model"))


def pytest_collection_modifyitems(config, items):
    """Leave out the (model, case) pairs that tiny_model excludes; the anchors where there is no
    reference to anchor (a student release); under the grader, the tests a previous test process
    already reported (exact node ids; pytest's own --deselect matches prefixes). The tests run in
    task order (tokenization first, as students work; the kit's own tests last), not by file name."""
    items.sort(key=lambda item: EXERCISES.index(exercise) if (exercise := exercise_of(item)) else len(EXERCISES))
    elsewhere = [item for item in items if not _runs_on_this_model(item)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if _runs_on_this_model(item)]
    if not has_reference():
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
    return models.loaded(request.param, str(device))


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
    """The implementation under test (--submission); under the grader, its code runs apart from the
    tests' (grader/submission.py `call_apart`)."""
    return Submission(request.config.stash[_SUBMISSION], importing=request.config.stash.get(_IMPORTING, None),
                      apart=bool(request.config.getoption("grader_channel")))


def _reference(config) -> Submission:
    """The reference solutions, for the anchors, the kit's own tests and recording: never while
    grading (the graded process must not hold the answers), and not in a student release."""
    if config.getoption("grader_channel"):
        raise KitError("the reference solutions are not available while grading; graded tests "
                       "compare with the `expected` fixture (recordings or live checks)")
    if not has_reference():
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
    """In record mode, write the recordings, but only when every test passed. A run that found no
    test at all because it started outside the kit's folder (pytest -m sampling inside exercises/)
    says where to run it."""
    config = session.config
    here = Path(config.invocation_params.dir)
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and config.args_source == config.ArgsSource.INVOCATION_DIR \
            and here != config.rootpath:
        print(f"\nno tests here: the kit's tests are in {os.path.relpath(TESTS_DIR, here)}; run pytest from the kit's "
              f"folder ({os.path.relpath(config.rootpath, here)}), or pytest {os.path.relpath(TESTS_DIR, here)} "
              f"-m {config.option.markexpr or '<exercise>'}", file=sys.stderr)
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
# One readable line per failure (grader/messages.py)

_ONE_LINE_ERRORS = (NotImplementedError, SubmissionError, KitError)


class OneLineReports:
    """A plugin of its own (registered in pytest_configure), since this module's own
    pytest_runtest_makereport is the wrapper below."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        """"not implemented yet" and import errors: the report with that one line, made here, without
        pytest's traceback formatting (which reads the source of every frame: most of the cost of
        grading the untouched stubs). Everything else: pytest's own report (None)."""
        if call.excinfo is None or not call.excinfo.errisinstance(_ONE_LINE_ERRORS):
            return None
        message = describe_failure(call.excinfo, item.config.stash.get(_SUBMISSION, None))
        sections = [(f"Captured {key} {when}", content) for when, key, content in item._report_sections]
        report = pytest.TestReport(getattr(item, "id", item.nodeid), item.location, dict.fromkeys(item.keywords, 1),
                                   "failed", message, call.when, sections, call.duration, call.start, call.stop,
                                   user_properties=item.user_properties)
        report.student_message = message
        return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the one-line message to every other failed report (the one-line errors above have it)."""
    report = yield
    if call.excinfo is not None and report.failed and not hasattr(report, "student_message"):
        report.student_message = describe_failure(call.excinfo, item.config.stash.get(_SUBMISSION, None))
    return report


# ----------------------------------------------------------------------------------------------
# Results: one JSON line per graded test, as each test ends

TIMEOUTS_IN_A_ROW = 3  # under the grader, the rest of the exercise is not run after this many


class GraderReport:
    """Writes the collected graded tests, then one record per graded test as each one ends.

    A test counts as passed only when pytest's reports say so, this plugin saw the test function
    itself return, and (under the grader) the tamper guard found nothing changed. Under the
    grader, after TIMEOUTS_IN_A_ROW tests in a row took too long (a loop that runs on every call,
    or at import), the remaining tests fail without running, instead of each taking the limit.

    Its hooks are functions made here, not methods, with what they use bound here (the sink's
    writer, then the guard's check, the messages): pluggy holds them from their registration,
    before any submission code runs, so no later change to a class or a module (this one, the
    Guard, the channel, grader.messages) comes between the guard's verdict and the signed result.
    """

    def __init__(self, sink, alarms: list | None = None):
        write = sink.write
        outcomes: dict[str, dict] = {}
        returned: set[str] = set()
        check = None  # the guard's (under the grader), from the end of the collection on
        tampered, timeouts = "", 0  # timeouts: tests in a row that took too long
        tampering, not_graded, did_not_return = (messages.tampering, messages.not_graded_after_tampering,
                                                 messages.DID_NOT_RETURN)
        too_long, timeouts_in_a_row = messages.TOOK_TOO_LONG, messages.timeouts_in_a_row

        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(session):
            nonlocal check
            if alarms is not None:
                check = Guard(session.config, alarms).check
            tests = graded_tests(session.items, session.config.getoption("grader_hidden"))
            write({"event": "collected", "tests": tests})

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_protocol(item, nextitem):
            if check is None or timeouts < TIMEOUTS_IN_A_ROW:
                return None  # run the test as usual
            write({"event": "result", "nodeid": item.nodeid, "outcome": "failed",
                   "message": timeouts_in_a_row(timeouts)})
            return True

        @pytest.hookimpl(wrapper=True, tryfirst=True)
        def pytest_pyfunc_call(pyfuncitem):
            result = yield  # re-raises whatever the test function raised
            returned.add(pyfuncitem.nodeid)
            return result

        def pytest_runtest_logreport(report):
            nonlocal timeouts
            state = outcomes.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
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
                state = outcomes.pop(report.nodeid)
                if check is not None:
                    judge(report.nodeid, state)
                timeouts = timeouts + 1 if state["message"].startswith(too_long) else 0
                write({"event": "result", "nodeid": report.nodeid, **state})

        def judge(nodeid: str, state: dict) -> None:
            """Under the grader: fail the test when the process can no longer be trusted."""
            nonlocal tampered
            if not tampered:
                problem = check()
                if problem:
                    tampered = problem
                    state.update(outcome="failed", message=tampering(problem), detail="")
                    return
            if tampered:
                state.update(outcome="failed", message=not_graded(tampered), detail="")
            elif state["outcome"] == "passed" and nodeid not in returned:
                state.update(outcome="failed", message=did_not_return, detail="")

        def pytest_sessionfinish(session, exitstatus):
            write({"event": "done", "exitstatus": int(exitstatus)})

        self.pytest_collection_finish, self.pytest_runtest_protocol = pytest_collection_finish, pytest_runtest_protocol
        self.pytest_pyfunc_call, self.pytest_runtest_logreport = pytest_pyfunc_call, pytest_runtest_logreport
        self.pytest_sessionfinish = pytest_sessionfinish
