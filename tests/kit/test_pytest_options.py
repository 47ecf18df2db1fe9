"""The kit's pytest options from any folder: the plugin is an entry point of the environment, so
`--submission` is known wherever pytest runs; the one form pytest cannot read (a space before a
folder, taken for a test path) stops with one line that gives the form that works."""
from __future__ import annotations

import subprocess
import sys

import pytest
from make_submission import submission_with

from grader.submission import REPO

pytestmark = pytest.mark.kit


def pytest_from(folder, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", *args, "-q", "--model", "tiny", "--device", "cpu"],
                          cwd=folder, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    """A submission outside the kit (the reference's files)."""
    folder = tmp_path_factory.mktemp("student") / "exercises"
    return submission_with(folder)


def test_submission_with_equals_works_from_the_kit(elsewhere):
    proc = pytest_from(REPO, "-m", "tokenization", f"--submission={elsewhere}")
    assert proc.returncode == 0 and " passed" in proc.stdout, proc.stdout[-2000:]


def test_options_work_from_another_folder(elsewhere, tmp_path):
    proc = pytest_from(tmp_path, str(REPO / "tests"), "-m", "tokenization", "--submission", str(elsewhere))
    assert proc.returncode == 0 and " passed" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_submission_with_a_space_is_refused_with_the_form_that_works(elsewhere):
    proc = pytest_from(REPO, "-m", "tokenization", "--submission", str(elsewhere))
    assert proc.returncode == 4
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert lines == [f"ERROR: pytest took {elsewhere} for a test folder: write --submission={elsewhere} "
                     f"(with '='), e.g. pytest -m sampling --submission={elsewhere}"], lines


@pytest.mark.parametrize("args, inipath, rootpath, refused", [
    (("--submission", "/home/ada/sub"), None, "/home/ada/sub", True),  # PATH taken for the root
    (("--submission", "/home/ada/sub"), None, "/home/ada", True),  # the folder PATH shares with the kit's
    (("--submission=/home/ada/sub",), None, "/home/ada", False),  # the form that works
    (("--submission", "/home/ada/sub"), "/home/ada/kit/pyproject.toml", "/home/ada/kit", False),  # config found
    (("--submission", "/home/ada/sub"), None, "/home/bob", False),  # a root that is not above PATH
])
def test_the_space_form_is_told_apart(args, inipath, rootpath, refused):
    """Where the kit and the submission share a folder other than /, pytest roots itself there, not
    at PATH; that is refused too (it ran without the kit's configuration, with a warning per marker)."""
    from pathlib import Path

    from grader.plugin import took_submission_for_a_test_folder

    folder = Path("/home/ada/sub")
    found = took_submission_for_a_test_folder(args, inipath and Path(inipath), Path(rootpath), folder)
    assert found is refused


def test_pytest_inside_exercises_says_where_the_tests_are():
    """A student's first try, in the folder they edit: pytest finds no test there (testpaths apply
    only in the kit's folder) and says where to run it instead of a bare 'no tests ran'."""
    proc = pytest_from(REPO / "exercises", "-m", "tokenization")
    assert proc.returncode == 5
    assert "no tests here: the kit's tests are in ../tests; run pytest from the kit's folder (..), or pytest " \
           "../tests -m tokenization" in proc.stderr, proc.stderr[-2000:]
