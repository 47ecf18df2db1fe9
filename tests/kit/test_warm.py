"""The warm worker (grader/warm.py): a grading forked from it gives what a fresh worker gives, it
serves the next grading, it ends when its files change, when idle and when asked to."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader import KitError, sandbox, warm
from grader.run import grade, grade_many
from grader.submission import EXERCISES_DIR, REPO, SOLUTIONS_DIR
from make_submission import submission_with

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a warm worker forks: Linux only")
EXERCISES = ["sampling", "tokenization"]


@pytest.fixture
def own_temp(monkeypatch):
    """A temporary folder of this test's own (short: a socket's path has at most 108 characters),
    where its warm workers' sockets go; every warm worker of it is stopped at the end."""
    folder = tempfile.mkdtemp(prefix="tw-")
    monkeypatch.setenv("TMPDIR", folder)
    monkeypatch.setattr(tempfile, "tempdir", folder)
    yield Path(folder)
    warm.stop_all()
    shutil.rmtree(folder, ignore_errors=True)


def outcomes(result) -> dict:
    return {(e.name, t.nodeid): (t.outcome, t.score, t.message) for e in result.exercises for t in e.tests}


def forked(result) -> bool:
    return "worker: forked from the warm worker" in result.phases


def test_a_warm_grading_gives_what_a_fresh_one_gives_and_serves_the_next(own_temp):
    fresh = dict(zip((SOLUTIONS_DIR, EXERCISES_DIR),
                     grade_many([SOLUTIONS_DIR, EXERCISES_DIR], model="tiny", exercises=EXERCISES, jobs=2)))
    first = {SOLUTIONS_DIR: grade(SOLUTIONS_DIR, model="tiny", exercises=EXERCISES, jobs=2, warm=True)}
    (server,) = warm.running()
    first[EXERCISES_DIR] = grade(EXERCISES_DIR, model="tiny", exercises=EXERCISES, jobs=2, warm=True)
    second = grade(SOLUTIONS_DIR, model="tiny", exercises=EXERCISES, jobs=2, warm=True)
    assert warm.running() == [server]  # the same warm worker served the next gradings, of any submission
    assert not any(map(forked, fresh.values())) and all(map(forked, first.values())) and forked(second)
    for submission in (SOLUTIONS_DIR, EXERCISES_DIR):
        assert outcomes(first[submission]) == outcomes(fresh[submission])
        assert first[submission].total == fresh[submission].total
    assert outcomes(second) == outcomes(fresh[SOLUTIONS_DIR])
    assert {outcome for outcome, _, _ in outcomes(fresh[SOLUTIONS_DIR]).values()} == {"passed"}
    assert fresh[EXERCISES_DIR].total == 0 and outcomes(fresh[EXERCISES_DIR])


def test_a_changed_test_file_is_graded_and_ends_the_old_warm_worker(own_temp):
    tests = own_temp / "tests"
    shutil.copytree(REPO / "tests", tests, ignore=shutil.ignore_patterns("kit", "__pycache__"))
    before = grade(SOLUTIONS_DIR, model="tiny", exercises=["sampling"], tests_dir=str(tests), warm=True)
    ((old_pid, _),) = warm.running()
    assert forked(before) and all(t.outcome == "passed" for t in before.exercises[0].tests)
    with (tests / "test_sampling.py").open("a") as f:
        f.write("\n\n@pytest.mark.points(1)\ndef test_added_after_the_first_grading():\n"
                "    assert False, 'added after the first grading'\n")
    after = grade(SOLUTIONS_DIR, model="tiny", exercises=["sampling"], tests_dir=str(tests), warm=True)
    assert forked(after)
    added = [t for t in after.exercises[0].tests if t.nodeid.endswith("test_added_after_the_first_grading")]
    assert added and added[0].outcome == "failed" and "added after the first grading" in added[0].message
    stop = time.monotonic() + 3 * warm.STALE_CHECK
    while old_pid in [pid for pid, _ in warm.running()] and time.monotonic() < stop:
        time.sleep(0.5)
    assert old_pid not in [pid for pid, _ in warm.running()]


def test_a_warm_worker_ends_when_idle(own_temp, monkeypatch):
    monkeypatch.setenv("TEXTGEN_KIT_WARM_MINUTES", "0.05")  # 3 seconds
    grade(EXERCISES_DIR, model="tiny", exercises=["tokenization"], warm=True)
    assert len(warm.running()) == 1
    stop = time.monotonic() + 60
    while warm.running() and time.monotonic() < stop:
        time.sleep(0.5)
    assert warm.running() == []
    assert not list((own_temp / f"textgen-kit-warm-{os.getuid()}").glob("*.sock"))


def test_the_command_line_uses_and_stops_a_warm_worker(own_temp):
    env = {**os.environ, "TMPDIR": str(own_temp), "TEXTGEN_KIT_WARM": "1"}
    cli = [sys.executable, "-m", "grader"]
    args = ["--submission", str(EXERCISES_DIR), "--model", "tiny", "--exercise", "tokenization"]
    for _ in range(2):
        graded = subprocess.run(cli + args, capture_output=True, text=True, env=env, cwd=REPO)
        assert graded.returncode == 0, graded.stderr[-2000:]
    listed = subprocess.run(cli + ["warm"], capture_output=True, text=True, env=env, cwd=REPO)
    assert listed.stdout.count("warm worker ") == 1, listed.stdout
    assert f": model tiny, device auto, tests_dir {REPO / 'tests'}" in listed.stdout, listed.stdout  # as asked for
    stopped = subprocess.run(cli + ["warm", "--stop"], capture_output=True, text=True, env=env, cwd=REPO)
    assert stopped.stdout.strip() == "Stopped 1 warm worker.", stopped.stdout + stopped.stderr
    assert warm.running() == []
    none = subprocess.run(cli + args + ["--no-warm"], capture_output=True, text=True, env=env, cwd=REPO)
    assert none.returncode == 0 and warm.running() == []


@pytest.mark.parametrize("flag, env, wanted", [
    (True, {"TEXTGEN_KIT_WARM": "0"}, True), (False, {}, False), (None, {"TEXTGEN_KIT_WARM": "1", "CI": "true"}, True),
    (None, {"TEXTGEN_KIT_WARM": "0"}, False), (None, {"CI": "true"}, False), (None, {}, True)])
def test_when_the_command_line_wants_a_warm_worker(monkeypatch, flag, env, wanted):
    monkeypatch.delenv("TEXTGEN_KIT_WARM", raising=False)
    monkeypatch.delenv("CI", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert warm.wanted(flag) is wanted


def test_a_bad_warm_setting_is_one_line(monkeypatch):
    monkeypatch.setenv("TEXTGEN_KIT_WARM", "yes")
    with pytest.raises(KitError, match=r"TEXTGEN_KIT_WARM must be 1 or 0 \(or use --warm / --no-warm\), got .yes."):
        warm.wanted(None)
    monkeypatch.setenv("TEXTGEN_KIT_WARM", "1")
    for minutes in ("soon", "0", "-5"):
        monkeypatch.setenv("TEXTGEN_KIT_WARM_MINUTES", minutes)
        with pytest.raises(KitError, match=f"TEXTGEN_KIT_WARM_MINUTES must be a positive number of minutes, got '{minutes}'"):
            warm.wanted(None)
    assert warm.wanted(False) is False  # --no-warm needs no idle time


def test_a_request_for_another_preloading_is_refused(own_temp):
    """A warm worker forks only for gradings with the model and tests it preloaded, whoever asks."""
    grade(EXERCISES_DIR, model="tiny", exercises=["tokenization"], warm=True)
    (sock,) = (own_temp / f"textgen-kit-warm-{os.getuid()}").glob("*.sock")
    for options in ({"model": "tiny", "device": "auto", "tests_dir": "/elsewhere", "extra_tests": None},
                    {"model": "default", "device": "auto", "tests_dir": str(REPO / "tests"), "extra_tests": None}):
        read_end, write_end = os.pipe()
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(sock))
            payload = json.dumps({"config": {"options": options, "tasks": []}, "env": {}}).encode()
            socket.send_fds(conn, [len(payload).to_bytes(8, "big")], [write_end, write_end])
            conn.sendall(payload)
            conn.settimeout(30)
            assert conn.recv(100) == b""  # closed without a fork
        os.close(read_end)
        os.close(write_end)
    accepted = grade(EXERCISES_DIR, model="tiny", exercises=["tokenization"], warm=True)
    assert forked(accepted)


def test_a_socket_folder_open_to_others_is_not_used(own_temp):
    where = own_temp / f"textgen-kit-warm-{os.getuid()}"
    where.mkdir(mode=0o777)
    where.chmod(0o777)
    with pytest.raises(KitError, match="not a private folder"):
        warm.folder()
    result = grade(EXERCISES_DIR, model="tiny", exercises=["tokenization"], warm=True)
    assert not forked(result) and result.total == 0


@pytest.mark.skipif(not sandbox.supported(), reason="hidden from a test process by its mount namespace only")
def test_a_graded_submission_cannot_reach_the_warm_worker(own_temp):
    """tests/adversarial/asks_the_warm_worker, graded by a fork of a warm worker, looks for its
    socket: the test process's private /tmp hides it (grader/sandbox.py)."""
    case = REPO / "tests" / "adversarial" / "asks_the_warm_worker" / "tokenization.py"
    folder = submission_with(own_temp / "submission", {"tokenization.py": case}, borrow="tokenization")
    grade(EXERCISES_DIR, model="tiny", exercises=["tokenization"], warm=True)  # a warm worker to find
    (server,) = warm.running()
    result = grade(folder, model="tiny", exercises=["tokenization"], warm=True)
    assert forked(result)
    messages = [t.message for t in result.exercises[0].tests]
    assert messages and all("reached: nothing" in m for m in messages), messages[:3]
    assert warm.running() == [server]
