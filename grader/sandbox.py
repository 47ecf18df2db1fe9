"""Linux namespaces around a test process (grader/worker.py starts it in a PID namespace,
grader/child.py enters the others), so that what the submission runs, by whatever means
(`_posixsubprocess`, a C extension, a shell), cannot reach outside its own test process:

- a PID namespace per test process: its process 1 is a small init (`split_init`) that forks the
  test process and, when that ends, exits, upon which the kernel kills every process left behind;
  none of them sees or can signal a process of the grader;
- a mount namespace in which every file system is read-only but the task's own temporary folder
  (its TMPDIR) and a private /dev/shm, with a /dev of a few harmless devices, a /proc of its own
  PID namespace, no /run (services' sockets), and empty read-only folders over the classmates'
  submissions and the other tasks' folders; once pytest has collected the tests (before any of the
  submission's code runs), also over every recording (this exercise's are read first), the hidden
  tests and the reference;
- network and IPC namespaces of their own (no socket, abstract or TCP, nor shared memory reaches
  another process);
- last, a user namespace (root mapped onto root) with a mount namespace of its own: every mount
  above is locked, so that no `umount` or `mount -o remount,rw` can undo it (a spawned test
  process locks at once and again after the collection's mounts: `Sandbox.lock`).

As root (Gradescope, CI containers) on Linux. Elsewhere (`available()` is False: a user, macOS,
Windows, a container that forbids namespaces, TEXTGEN_KIT_SANDBOX=off) the worker falls back to
being the subreaper that ends every stray process, and to a `Watch` of what must not change.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import sys
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
CLONE_NEWNET, CLONE_NEWIPC = 0x40000000, 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
# How a mount's flags read in /proc/self/mountinfo: kept when it is remounted read-only (as root
# they could be dropped, but a remount that keeps them also works inside a user namespace).
_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024,
          "nodiratime": 2048, "relatime": 1 << 21}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")  # the /dev a test process gets
# In /proc: what root of a user namespace mapped onto the real root could still write.
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
OFF = "TEXTGEN_KIT_SANDBOX"  # =off: no namespaces (the fallback, for debugging and the kit's tests)

_libc = None
_outer_pid_ns: int | None = None  # the worker's own PID namespace (an fd), to return to after a fork


def _call(name: str, *args) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if getattr(_libc, name)(*args) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{name}: {os.strerror(number)}")


def _mount(source, target, fstype, flags: int, data=None) -> None:
    encode = (lambda s: None if s is None else os.fsencode(str(s)))
    _call("mount", encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------------
# The worker's side

def prepare_worker() -> bool:
    """In the worker, once: whether its test processes get namespaces (tried first in a child
    process: a failure half-way would leave the worker unable to fork). Root only, this round."""
    global _outer_pid_ns
    if supported():
        _outer_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    return available()


def available() -> bool:
    """In the worker, after `prepare_worker`: whether its test processes get namespaces."""
    return _outer_pid_ns is not None


def supported() -> bool:
    """Whether this process can give its children PID and mount namespaces: tried in a child
    process, which changes nothing here. As a user, never: returning to the worker's own PID
    namespace after a fork needs root (a user's worker would need a process in between)."""
    if not sys.platform.startswith("linux") or os.environ.get(OFF) == "off" or os.geteuid() != 0:
        return False
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            outer = os.open("/proc/self/ns/pid", os.O_RDONLY)
            _call("unshare", CLONE_NEWPID)
            inner = os.fork()
            if inner == 0:
                _call("unshare", CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
                _call("unshare", CLONE_NEWUSER | CLONE_NEWNS)
                os._exit(0)
            ok = os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1]) == 0
            _call("setns", outer, CLONE_NEWPID)
            after = os.fork()  # forks as usual again
            if after == 0:
                os._exit(0)
            os.waitpid(after, 0)
            code = 0 if ok else 1
        except BaseException:  # noqa: BLE001 - any failure: no namespaces
            pass
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


@contextlib.contextmanager
def new_pid_namespace():
    """In the worker: the process forked (or spawned) inside this block is process 1 of a PID
    namespace of its own; the worker's own later children are not."""
    if _outer_pid_ns is None:
        yield
        return
    _call("unshare", CLONE_NEWPID)
    try:
        yield
    finally:
        _call("setns", _outer_pid_ns, CLONE_NEWPID)


# ----------------------------------------------------------------------------------------------
# The test process's side


class Sandbox:
    """The namespaces of one test process: `enter()` in process 1 of its PID namespace, then
    `split_init` forks the test process, which calls `seal(...)` once pytest has collected its
    tests (before it starts a thread: a spawned one loads the model after it); each is a no-op where namespaces are not available.
    `writable`: the task's temporary folder; `hide`: folders it never needs (the classmates'
    submissions); `private`: the temporary folders (/tmp...), replaced by empty ones but for
    `writable` and `keep` (its own submission, the kit, the environment: never hidden)."""

    def __init__(self, writable: Path, hide=(), keep=(), private=(), replace_dev: bool = True,
                 status_fd: int | None = None):
        self.writable = Path(writable)
        self.hide = [Path(p) for p in hide]
        self.keep = [Path(p) for p in keep]
        roots = sorted({Path(p) for p in private if Path(p).is_dir()}, key=lambda p: len(p.parts))
        self.private = [r for i, r in enumerate(roots) if not any(_is_under(r, str(o)) for o in roots[:i])]
        self.replace_dev = replace_dev  # False on CUDA, which needs the driver's devices
        self.status_fd = status_fd  # where process 1 writes the test process's wait status
        self.entered = False
        self.locked = False
        self.problems: list[str] = []  # what could not be isolated (printed into the test's log)

    def spec(self) -> dict:
        """The keywords that make this Sandbox again, as JSON (for a spawned test process)."""
        return {"writable": str(self.writable), "hide": [str(p) for p in self.hide], "keep": [str(p) for p in self.keep],
                "private": [str(p) for p in self.private], "replace_dev": self.replace_dev, "status_fd": self.status_fd}

    def enter(self) -> None:
        """In process 1 of the PID namespace: the mount, network and IPC namespaces."""
        if os.getpid() != 1 or os.environ.get(OFF) == "off":
            return  # not in a PID namespace of its own: the worker found none available
        _call("unshare", CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        _mount(self.writable, self.writable, None, MS_BIND)  # a mount of its own, left writable
        # What stays visible inside the private temporary folders (the own submission, the kit or
        # its environment, where they lie there), held open while those are replaced.
        kept = {}
        for path in sorted(set(self.keep), key=lambda p: len(p.parts)):
            if (path.exists() and any(_is_under(path, str(root)) for root in self.private)
                    and not any(_is_under(path, str(k)) for k in kept)):
                kept[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
        writable = os.open(self.writable, os.O_PATH | os.O_CLOEXEC)
        devices = {name: os.open(f"/dev/{name}", os.O_PATH | os.O_CLOEXEC)
                   for name in DEVICES if os.path.exists(f"/dev/{name}")}
        try:
            self._read_only_everywhere()
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            for name in PROC_READ_ONLY:
                if os.path.exists(f"/proc/{name}"):
                    self._read_only(f"/proc/{name}", bind=True)
            if self.replace_dev:
                self._minimal_dev(devices)
            elif os.path.isdir("/dev/shm"):
                _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
            if os.path.isdir("/run"):  # sockets of the machine's services (a container runtime's)
                _mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
            for root in self.private:  # the other gradings' folders, whoever made them
                _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
            for path, fd in kept.items():
                path.mkdir(parents=True, exist_ok=True)
                _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND)  # as it was: read-only
            self.writable.mkdir(parents=True, exist_ok=True)
            _mount(f"/proc/self/fd/{writable}", self.writable, None, MS_BIND)  # last: on top of all
            for root in self.private:
                _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
            for folder in self.hide:
                self._hide(folder)
        finally:
            for fd in [writable, *kept.values(), *devices.values()]:
                os.close(fd)
        self.entered = True

    def seal(self, hide=()) -> None:
        """After pytest's collection: hide `hide` too (read by nothing from now on), then lock."""
        if not self.entered:
            return
        for folder in hide:
            self._hide(Path(folder))
        self.lock()

    def lock(self) -> None:
        """A user namespace (root mapped onto the same root) with a mount namespace of its own:
        every mount made so far is locked in place from now on (no umount, no remount read-write).
        Again after more mounts: a user namespace inside the last one locks those too. Needs a
        process without threads (the kernel's rule)."""
        if not self.entered:
            return
        uid, gid = os.geteuid(), os.getegid()
        try:
            _call("unshare", CLONE_NEWUSER | CLONE_NEWNS)
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        except OSError as err:
            threads = len(os.listdir("/proc/self/task"))
            what = "the mounts that hide the hidden tests and the recordings" if self.locked else "the mounts"
            self.problems.append(f"{what} are not locked ({err.strerror}; {threads} threads): a submission "
                                 f"running as root could undo them")
        else:
            self.locked = True

    # -- steps

    def _hide(self, folder: Path) -> None:
        if not folder.is_dir() or any(_is_under(k, str(folder)) for k in [self.writable, *self.keep]):
            return
        _mount("tmpfs", folder, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=755")

    def _read_only(self, target: str, bind: bool = False, flags: int = 0) -> None:
        if bind:
            _mount(target, target, None, MS_BIND)
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)

    def _read_only_everywhere(self) -> None:
        """Remount every mount read-only, but the task's folder and what gets replaced (/proc, /dev)."""
        for point, options in _mounts():
            if Path(point) == self.writable or _is_under(Path(point), "/proc", "/dev"):
                continue
            flags = 0
            for option in options.split(","):
                flags |= _FLAGS.get(option, 0)
            try:
                self._read_only(point, flags=flags)
            except OSError as err:
                if err.errno not in (errno.ENOENT, errno.EACCES):
                    self.problems.append(f"{point} stays writable ({err.strerror})")

    def _minimal_dev(self, devices: dict[str, int]) -> None:
        _mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755")
        for name, fd in devices.items():
            Path(f"/dev/{name}").touch()
            _mount(f"/proc/self/fd/{fd}", f"/dev/{name}", None, MS_BIND)
        Path("/dev/shm").mkdir(mode=0o1777)
        os.chmod("/dev/shm", 0o1777)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            os.symlink(target, f"/dev/{name}")
        _mount(None, "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")


def _is_under(path: Path, *folders: str) -> bool:
    return any(path == Path(f) or Path(f) in path.parents for f in folders)


def _mounts() -> list[tuple[str, str]]:
    """(mount point, its per-mount options) of this mount namespace, parents before children."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])  # \040: a space
        found.append((point, fields[5]))
    return found


def split_init(status_fd: int | None) -> None:
    """In process 1 of a PID namespace (else nothing happens): fork the test process, which returns
    from here; process 1 stays behind as the namespace's init: it reaps whatever is left to it, and
    when the test process ends, writes its wait status to `status_fd` (the worker reads it there)
    and exits, upon which the kernel kills every process left in the namespace. (Process 1 itself
    cannot be the test process: it ignores the signals it sends itself, `raise(SIGSEGV)` included.)"""
    if os.getpid() != 1 or status_fd is None:
        return
    pid = os.fork()
    if pid == 0:
        os.close(status_fd)  # the test process cannot forge its own status
        return
    try:
        _call("prctl", 4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no /proc/1/* for whatever runs inside
        while True:
            try:
                ended, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if ended == pid:
                os.write(status_fd, str(status).encode())
                break
    finally:
        os._exit(0)


def read_status(status_fd: int) -> tuple | None:
    """In the worker: ("exit", code) or ("signal", number) of the test process, as its init wrote
    it; None when the init was killed before it could (then its own status is the test's)."""
    try:
        status = int(os.read(status_fd, 64) or b"-1")
    except (OSError, ValueError):
        return None
    if status < 0:
        return None
    return ("exit", os.WEXITSTATUS(status)) if os.WIFEXITED(status) else ("signal", os.WTERMSIG(status))


# ----------------------------------------------------------------------------------------------
# Without namespaces: notice what changed

class Watch:
    """Where no namespace keeps them read-only: a `stamp` of every file the grading depends on (the
    kit, its recordings and hidden tests, the converted model, the environment's site-packages, every
    submission), taken before the first test process starts; `changed()` after each task says which
    files changed since the last call (the worker fails that task, naming them)."""

    def __init__(self, roots, packages=()):
        self.roots = [Path(r) for r in roots if r and Path(r).exists()]
        self.packages = [Path(p) for p in packages if Path(p).is_dir()]
        self.last = self.stamp()

    def stamp(self) -> dict[str, tuple]:
        found = {str(root): _stamp_of(str(root)) for root in self.roots if root.is_file()}
        for root in self.roots:
            for folder, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if d not in (".git", ".venv", "__pycache__", ".pytest_cache")]
                for name in files:
                    found[os.path.join(folder, name)] = _stamp_of(os.path.join(folder, name))
        for folder in self.packages:  # its entries (a planted .pth, a package), not every file below
            found[str(folder)] = tuple(sorted(os.listdir(folder)))
            for name in found[str(folder)]:
                if name.endswith(".pth"):
                    found[str(folder / name)] = _stamp_of(str(folder / name))
        return found

    def changed(self) -> list[str]:
        now = self.stamp()
        changed = sorted(path for path in set(now) | set(self.last) if now.get(path) != self.last.get(path))
        self.last = now
        return changed


def _stamp_of(path: str) -> tuple:
    try:
        info = os.stat(path)
    except OSError:
        return ()
    return info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns
