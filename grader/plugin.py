"""The pytest plugin behind `pytest` and the grader (loaded by tests/conftest.py).

Options: ``--submission PATH`` (the implementation under test, default exercises/),
``--model NAMES`` (comma-separated: the model fixtures are parametrised over them),
``--device D``. Fixtures: ``impl`` (the submission), ``ref`` (the reference solutions), ``lm`` /
``model`` / ``tokenizer`` (session-scoped, loaded once per process), ``tol`` (tolerances).
With ``--grader-report FILE`` every graded test's outcome and a one-line, student-readable
message are appended to FILE as JSON lines, as soon as each test ends (a crash loses nothing
already written).
"""
from __future__ import annotations

import json
import traceback
from pathlib import Path

import pytest

from . import KitError, devices, models
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
    group.addoption("--grader-report", default=None, metavar="FILE", help="(used by the grader) JSON-lines results")


def pytest_configure(config):
    report = config.getoption("grader_report")
    if report:
        config.pluginmanager.register(GraderReport(Path(report)), "textgen-kit-report")


# ----------------------------------------------------------------------------------------------
# Fixtures

_LOADED: dict = {}


def pytest_generate_tests(metafunc):
    if "lm" in metafunc.fixturenames:
        names = [n.strip() for n in metafunc.config.getoption("model").split(",") if n.strip()]
        metafunc.parametrize("lm", names or ["default"], indirect=True, scope="session")


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


@pytest.fixture(scope="session")
def ref() -> Submission:
    """The reference solutions."""
    return Submission(SOLUTIONS_DIR)


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
    if isinstance(err, (SubmissionImportError, KitError)):
        return first
    if isinstance(err, AssertionError):
        return first or "assertion failed"
    if first.startswith("Timeout"):
        return f"took too long ({first}): look for a loop that never ends"
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


class GraderReport:
    """Appends one JSON line per graded test to the report file, as each test ends."""

    def __init__(self, path: Path):
        self.path = path
        self.outcomes: dict[str, dict] = {}

    def _write(self, record: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        tests = [{"nodeid": item.nodeid, "exercise": exercise_of(item), "weight": weight_of(item)}
                 for item in session.items if weight_of(item) is not None]
        self._write({"event": "collected", "tests": tests})

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
        if report.when == "teardown":
            self._write({"event": "result", "nodeid": report.nodeid, **self.outcomes.pop(report.nodeid)})


