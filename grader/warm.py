"""A warm worker: what every grading does before its first test process starts (import torch and
pytest, collect the tests, load the models, the tests' work for fixed inputs), done once and kept
between gradings, so that `python -m grader` grades in the time of the tests themselves.

The first grading starts it (`python -m grader`, unless --no-warm, TEXTGEN_KIT_WARM=0 or a CI
environment): a process in a session of its own that preloads (grader/worker.py `preload`), then
listens on a Unix socket in a private folder of the temporary directory (mode 0700, this user's).
Each grading connects, hands over its options, tasks, environment and the two file descriptors a
fresh worker would have had (the protocol pipe and the error log), and the warm worker forks
(grader/warm_worker.py): the fork is that grading's worker (grader/worker.py `run`), a copy of the preloaded process that no
submission ever ran in, so nothing of one grading reaches the next. Linux, CPU only (fork).

The socket's name is a digest of everything the preloading depends on: this Python, the kit's
folder, the model, the device, the tests' folders, the environment, and the size and time of every
file of the kit, the tests, the recordings, the converted models and the environment's packages.
Any change gives another name (a new warm worker), and the old one notices its files changed and
ends; it also ends after IDLE_MINUTES without a grading, or with `python -m grader warm --stop`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import KitError

IDLE_MINUTES = 15.0  # a warm worker ends after this long without a grading (TEXTGEN_KIT_WARM_MINUTES)
START_LIMIT = 600  # seconds a caller waits for a warm worker to finish its preloading
SOCKET_FOLDER_LIMIT = 80  # characters: a socket's whole path must fit in 108
STALE_CHECK = 10  # seconds between a warm worker's checks that its files are unchanged
# Variables that differ between two shells of one user without changing a grading.
VOLATILE = {"_", "PWD", "OLDPWD", "SHLVL", "TERM", "COLUMNS", "LINES", "MAKEFLAGS", "MAKELEVEL", "MFLAGS",
            "MAKE_TERMOUT", "MAKE_TERMERR", "PYTEST_CURRENT_TEST", "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY"}


def idle_minutes() -> float:
    """How long a warm worker waits for the next grading: TEXTGEN_KIT_WARM_MINUTES, else IDLE_MINUTES."""
    setting = os.environ.get("TEXTGEN_KIT_WARM_MINUTES", "").strip()
    try:
        minutes = float(setting) if setting else IDLE_MINUTES
    except ValueError:
        minutes = -1.0
    if not minutes > 0:
        raise KitError(f"TEXTGEN_KIT_WARM_MINUTES must be a positive number of minutes, got {setting!r}")
    return minutes


def wanted(flag: bool | None) -> bool:
    """Whether `python -m grader` uses a warm worker: --warm / --no-warm (`flag`), else
    TEXTGEN_KIT_WARM (1 or 0), else yes, but not in CI (the CI variable, set by GitHub Actions,
    GitLab and most others) where each grading runs on a fresh machine."""
    if flag is not None:
        if flag:
            idle_minutes()
        return flag
    setting = os.environ.get("TEXTGEN_KIT_WARM", "").strip()
    if setting:
        if setting not in ("0", "1"):
            raise KitError(f"TEXTGEN_KIT_WARM must be 1 or 0 (or use --warm / --no-warm), got {setting!r}")
        use = setting == "1"
    else:
        use = not os.environ.get("CI") and sys.platform.startswith("linux")
    if use:
        idle_minutes()  # a bad value is one line here, not a warm worker that cannot start
    return use


def usable(options, env: dict) -> bool:
    """A warm worker serves the fork path only: Linux, on the CPU (a CUDA process cannot fork), with
    no isolation forced."""
    return (sys.platform.startswith("linux") and not options.isolation and options.device in ("cpu", "auto")
            and (options.device == "cpu" or not Path("/dev/nvidiactl").exists())
            and env.get("TEXTGEN_KIT_ISOLATION", "") == "")


def folder() -> Path:
    """This user's folder of warm workers' sockets, made private (0700) if new; a KitError if it is
    not private (someone else's, or open to others)."""
    path = Path(tempfile.gettempdir()) / f"textgen-kit-warm-{os.getuid()}"
    if len(str(path)) > SOCKET_FOLDER_LIMIT:
        raise KitError(f"{path} is too long a folder for a Unix socket's name")
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not path.is_dir() or path.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise KitError(f"{path} is not a private folder of this user: remove it to use a warm worker")
    return path


PRELOADED_BY = ("model", "device", "tests_dir", "extra_tests")  # the options a preloading depends on


def _identity(options, env: dict) -> dict:
    """What a warm worker's preloading depends on, but its files."""
    from .submission import REPO

    return {"python": sys.executable, "kit": str(REPO), **{key: getattr(options, key) for key in PRELOADED_BY},
            "env": {k: v for k, v in sorted(env.items()) if k not in VOLATILE}}


def _stamp(options) -> str:
    """A digest of the size, time and inode of every file a warm worker's preloading read."""
    import sysconfig

    from . import models
    from .submission import REPO

    roots = [REPO / "grader", REPO / "pyproject.toml", Path(options.tests_dir), models.cache_root(),
             *([Path(options.extra_tests)] if options.extra_tests else [])]
    digest = hashlib.sha256()
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*")) if root.is_dir() else []
        for path in paths:
            if "__pycache__" in path.parts:
                continue
            with contextlib.suppress(OSError):
                info = path.stat()
                digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}\n".encode())
    for packages in sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}):
        with contextlib.suppress(OSError):  # an install or removal changes the folder's time
            digest.update(f"{packages}\0{os.stat(packages).st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _name(identity: dict, stamp: str) -> str:
    return hashlib.sha256(json.dumps([identity, stamp], sort_keys=True).encode()).hexdigest()[:24]


# ----------------------------------------------------------------------------------------------
# The caller's side (grader/run.py): a warm worker's fork, used like the subprocess.Popen of a
# fresh worker.

class Fork:
    """A grading's worker forked by a warm worker: `stdout` (its protocol), `poll`, `wait`,
    `send_signal` and `kill`, as subprocess.Popen's. Its exit code comes over the connection."""

    def __init__(self, conn: socket.socket, pid: int, stdout):
        self.conn, self.pid, self.stdout = conn, pid, stdout
        self.returncode: int | None = None
        self._buffer = b""

    def poll(self) -> int | None:
        return self._wait_for(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._wait_for(timeout)
        if code is None:
            raise subprocess.TimeoutExpired("warm worker", timeout)
        return code

    def _wait_for(self, timeout: float | None) -> int | None:
        import select

        stop = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if stop is None else max(0.0, stop - time.monotonic())
            if not select.select([self.conn], [], [], left)[0]:
                return None
            chunk = self.conn.recv(4096)
            if not chunk:  # the warm worker ended without saying how its fork ended
                self.returncode = -signal.SIGKILL
                break
            self._buffer += chunk
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                self.returncode = int(json.loads(line)["exit"])
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork(options, config: dict, env: dict, errors) -> Fork | None:
    """A worker for `config` forked by this kit's warm worker for `options` (started first if none
    runs, and waited for while it preloads); None where none can serve (the caller starts a fresh
    worker). `errors`: the file the worker's stderr goes to."""
    try:
        where = folder()
    except KitError:
        return None
    identity = _identity(options, env)
    name = _name(identity, _stamp(options))
    path = where / f"{name}.sock"
    conn = _connect(path)
    if conn is None:
        conn = _start_and_connect(where, name, identity, options, env, errors)
    if conn is None:
        return None
    read_end, write_end = os.pipe()
    try:
        payload = json.dumps({"config": config, "env": env}).encode()
        socket.send_fds(conn, [len(payload).to_bytes(8, "big")], [write_end, errors.fileno()])
        conn.sendall(payload)
        answer = json.loads(_read_line(conn, START_LIMIT))
    except (OSError, ValueError):
        answer = {}
    finally:
        os.close(write_end)
    if "pid" not in answer:
        conn.close()
        os.close(read_end)
        return None
    return Fork(conn, int(answer["pid"]), os.fdopen(read_end, "rb", buffering=0))


def _connect(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        return conn
    except OSError:
        conn.close()
        return None


def _start_and_connect(where: Path, name: str, identity: dict, options, env: dict, errors) -> socket.socket | None:
    """Start a warm worker in a session of its own and connect once it listens; None if it could
    not start (its error goes to `errors`, the grading's log)."""
    from dataclasses import asdict

    from .submission import REPO

    spec = {"name": name, "identity": identity, "options": asdict(options)}
    log = open(where / f"{name}.log", "ab")
    with log:
        server = subprocess.Popen([sys.executable, "-c", "from grader.warm_worker import serve; serve()"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log, cwd=REPO,
                                  env=env, start_new_session=True)
    server.stdin.write(json.dumps(spec).encode())
    server.stdin.close()
    stop = time.monotonic() + START_LIMIT
    while time.monotonic() < stop:
        conn = _connect(where / f"{name}.sock")
        if conn is not None:
            return conn
        if server.poll() is not None and not _held(where / f"{name}.lock"):
            return None  # it ended, and no other one for the same name is starting
        time.sleep(0.05)
    return None


def _held(lock: Path) -> bool:
    """Whether a warm worker holds `lock` (it does from its start to its end)."""
    import fcntl

    try:
        with open(lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def _read_line(conn: socket.socket, timeout: float) -> bytes:
    conn.settimeout(timeout)
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    conn.settimeout(None)
    return data


def running() -> list[tuple[int, str]]:
    """(process id, socket name) of every warm worker of this user that answers."""
    return [(int(answer["pid"]), name) for answer, name in _ask_all({"status": True})]


def described() -> list[str]:
    """One line per warm worker of this user that answers: its process id, and what it grades with."""
    lines = []
    for answer, _ in _ask_all({"status": True}):
        serves = answer.get("serves") or {}
        what = ", ".join(f"{key} {serves[key]}" for key in ("model", "device", "tests_dir") if serves.get(key))
        lines.append(f"warm worker {int(answer['pid'])}" + (f": {what}" if what else ""))
    return lines


def stop_all() -> list[int]:
    """Ask every warm worker of this user to end; the process ids of those that were asked."""
    return [int(answer["stopping"]) for answer, _ in _ask_all({"stop": True})]


def _ask_all(request: dict) -> list[tuple[dict, str]]:
    try:
        where = folder()
    except KitError:
        return []
    answers = []
    for path in sorted(where.glob("*.sock")):
        conn = _connect(path)
        if conn is None:
            with contextlib.suppress(OSError):
                path.unlink()  # left by one that was killed
            continue
        with conn:
            payload = json.dumps(request).encode()
            with contextlib.suppress(OSError, ValueError, KeyError):
                socket.send_fds(conn, [len(payload).to_bytes(8, "big")], [])
                conn.sendall(payload)
                answer = json.loads(_read_line(conn, 10))
                if isinstance(answer, dict) and ("pid" in answer or "stopping" in answer):
                    answers.append((answer, path.stem))
    return answers
