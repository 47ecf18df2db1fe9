"""Stubs that, while being imported, read what a test process must not see, around Python's audit
hook (a `cat` started through `_posixsubprocess.fork_exec`), through `/proc/self/root`, after an
`umount` of every folder above each target (what hides it may be a mount it could undo): the files
named by TEXTGEN_KIT_READ_TARGETS (a classmate's tokenization.py first, which they then run as
their own: full marks; the reference; the recordings of another exercise; a hidden test), and the
other test processes' folders (`textgen-grade-*`). Every function says what it could read."""
import _posixsubprocess
import os

TARGETS = [t for t in os.environ.get("TEXTGEN_KIT_READ_TARGETS", "").split(os.pathsep) if t]


def sh(script: str) -> bytes:
    """What a shell prints for `script`: files read without Python's open()."""
    out_r, out_w = os.pipe()
    errors_r, errors_w = os.pipe()
    head = [[b"/bin/sh", b"-c", script.encode()], [b"/bin/sh"], True, (errors_w,),
            None, None, -1, -1, -1, out_w, -1, -1, errors_r, errors_w, True, False]
    try:
        pid = _posixsubprocess.fork_exec(*head, -1, None, None, None, -1, None, False)
    except TypeError:  # Python 3.10
        pid = _posixsubprocess.fork_exec(*head, None, None, None, -1, None)
    for fd in (errors_r, errors_w, out_w):
        os.close(fd)
    data = b""
    while chunk := os.read(out_r, 1 << 16):
        data += chunk
    os.close(out_r)
    os.waitpid(pid, 0)
    return data


def unmount_above(target: str) -> None:
    """Unmount (lazily: whatever holds it open) each folder above `target`, the innermost first."""
    sh(f'd=$(dirname "{target}"); while [ "$d" != / ]; do umount -l "$d" 2>/dev/null; d=$(dirname "$d"); done')


for target in TARGETS:
    unmount_above(target)
read = [os.path.basename(t) for t in TARGETS if sh(f"cat '/proc/self/root{t}' 2>/dev/null")]
temp_root = os.path.dirname(os.getcwd())  # its own temporary folder is its current one
if sh(f'for f in /proc/self/root/{temp_root}/textgen-grade-*/*; do case "$f" in *"$PWD"/*) ;; '
      f'*) cat "$f" 2>/dev/null;; esac; done'):
    read.append("another test process's folder")
SAID = f"read: {', '.join(read) or 'nothing'}"


def _not_written(name):
    def stub(*args, **kwargs):
        raise NotImplementedError(f"{name}: {SAID}")
    return stub


encode, tokens, decode, batch_encode = (_not_written(n) for n in ("encode", "tokens", "decode", "batch_encode"))
if TARGETS and read and read[0] == os.path.basename(TARGETS[0]):
    exec(compile(sh(f"cat '{TARGETS[0]}'"), TARGETS[0], "exec"))  # the classmate's code, as ours
