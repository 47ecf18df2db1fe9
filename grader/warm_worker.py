"""The warm worker's process (started by grader/warm.py, which says what it is for): preload as a
grading's worker would, listen on its socket, fork one worker per grading; end when idle, asked
to, or when the files its preloading read have changed."""
from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from . import worker
from .warm import PRELOADED_BY, STALE_CHECK, _name, _stamp, folder, idle_minutes
from .worker import _become_subreaper, _end_strays, run

def serve() -> None:
    """The warm worker's process: preload, listen, fork one worker per grading; end when idle,
    asked to, or when its files changed."""
    import fcntl

    spec = json.loads(sys.stdin.read())
    while "" in sys.path:
        sys.path.remove("")
    where = folder()
    name, identity = spec["name"], spec["identity"]
    lock = open(where / f"{name}.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another one for the same name is starting or running
    options = worker.Options(**spec["options"])
    os.dup2(2, 1)
    loaded = worker.preload(options, classmates=2)  # a class of gradings: the tests' fixed inputs too
    if loaded.isolation != "fork":
        return
    _become_subreaper()  # of what a grading's worker leaves, should one end early
    path = where / f"{name}.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    incoming = where / f".{name}.{os.getpid()}.sock"
    listener.bind(str(incoming))
    listener.listen(16)
    os.replace(incoming, path)  # connectable only once it is ready
    Server(listener, path, loaded, options, identity, name).loop()
    with contextlib.suppress(OSError):  # its log, where it says nothing
        log = where / f"{name}.log"
        if log.stat().st_size == 0:
            log.unlink()


class Server:
    def __init__(self, listener, path: Path, loaded, options, identity: dict, name: str):
        self.listener, self.path, self.loaded = listener, path, loaded
        self.options, self.identity, self.name = options, identity, name
        self.forks: dict[int, socket.socket] = {}  # pid of a grading's worker -> its caller's connection
        self.idle_limit = 60 * idle_minutes()
        self.inode = path.stat().st_ino
        self.stopping = False
        signal.signal(signal.SIGTERM, lambda *_: self._stop())
        # A fork's end (SIGCHLD) wakes the loop at once: a byte on this pipe, which it selects.
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def _stop(self) -> None:
        self.stopping = True

    def loop(self) -> None:
        import select

        last_used, last_check = time.monotonic(), time.monotonic()
        try:
            while not (self.stopping and not self.forks):
                if self.stopping or time.monotonic() - last_check > STALE_CHECK:
                    last_check = time.monotonic()
                    if self._gone_or_stale():
                        self._close_listener()
                        self.stopping = True
                waiting = [self.wake_r, *self.forks.values(), *([self.listener] if not self.stopping else [])]
                ready = select.select(waiting, [], [], 1.0)[0]
                for conn in ready:
                    if conn == self.wake_r:
                        with contextlib.suppress(BlockingIOError):
                            os.read(self.wake_r, 4096)
                    elif conn is self.listener:
                        self._accept()
                    else:  # a caller that went away (its connection closed): stop its worker
                        pid = next(p for p, c in self.forks.items() if c is conn)
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGINT)
                if self._reap():  # what an ended fork's test processes left, reparented to this one
                    _end_strays(keep=set(self.forks))
                if self.forks:
                    last_used = time.monotonic()
                elif time.monotonic() - last_used > self.idle_limit:
                    break
        finally:
            self._close_listener()
            for pid in self.forks:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _end_strays(keep=set())

    def _gone_or_stale(self) -> bool:
        try:
            if self.path.stat().st_ino != self.inode:
                return True
        except OSError:
            return True
        return _name(self.identity, _stamp(self.options)) != self.name

    def _close_listener(self) -> None:
        if self.listener is None:
            return
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self.inode:
                self.path.unlink()
        self.listener.close()
        self.listener = None

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            conn.settimeout(30)
            head, fds, _, _ = socket.recv_fds(conn, 8, 2)
            size = int.from_bytes(head, "big") if len(head) == 8 else 0
            data = b""
            while len(data) < size:
                chunk = conn.recv(size - len(data))
                if not chunk:
                    break
                data += chunk
            request = json.loads(data) if size and len(data) == size else {}
        except (OSError, ValueError):
            conn.close()
            return
        if request.get("status"):
            serves = {key: getattr(self.options, key) for key in PRELOADED_BY}
            conn.sendall(json.dumps({"pid": os.getpid(), "serves": serves}).encode() + b"\n")
            conn.close()
            for fd in fds:
                os.close(fd)
            return
        if request.get("stop"):
            conn.sendall(json.dumps({"stopping": os.getpid()}).encode() + b"\n")
            conn.close()
            for fd in fds:
                os.close(fd)
            self.stopping = True
            self._close_listener()
            return
        if len(fds) != 2 or "config" not in request or not self._same_preloading(request["config"]):
            conn.close()
            for fd in fds:
                os.close(fd)
            return
        conn.settimeout(None)
        gc.freeze()  # as before each test process's fork (grader/worker.py `_start`)
        pid = os.fork()
        if pid == 0:
            self._grade(conn, fds, request)  # never returns
        for fd in fds:
            os.close(fd)
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        self.forks[pid] = conn

    def _same_preloading(self, config: dict) -> bool:
        """A grading whose options ask for what this warm worker preloaded (its socket's name says
        so already; a request made by other means is refused all the same)."""
        asked = config.get("options", {})
        return all(asked.get(key) == getattr(self.options, key) for key in PRELOADED_BY)

    def _grade(self, conn: socket.socket, fds: list[int], request: dict) -> None:
        """In the fork: become the grading's worker, as a fresh one would be."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            os.close(self.wake_r)
            os.close(self.wake_w)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for other in [self.listener, conn, *self.forks.values()]:
                other.close()
            protocol_fd, errors_fd = fds
            os.dup2(errors_fd, 2)
            os.dup2(errors_fd, 1)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            for fd in (errors_fd, null):
                os.close(fd)
            os.environ.clear()
            os.environ.update(request["env"])
            tempfile.tempdir = None
            from .submission import REPO

            os.chdir(REPO)
            with os.fdopen(protocol_fd, "w", encoding="utf-8") as protocol:
                run(request["config"], protocol, warm=self.loaded)
            code = 0
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # noqa: BLE001 - the caller reads the error log
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os._exit(code)

    def _reap(self) -> bool:
        """Reap every child that ended, telling each fork's caller its exit code; whether any ended."""
        ended = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return ended
            if pid == 0:
                return ended
            ended = True
            conn = self.forks.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                conn.close()
