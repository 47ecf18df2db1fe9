"""Correct code that, while being imported, starts five shell processes through
`_posixsubprocess.fork_exec` (no audit event), each in a session of its own (outside the test's
process group), which go on writing to a file for 20 s: long after the test process has ended,
when they could rewrite the grades. The grader must end them with the test process."""
import _posixsubprocess
import os
from pathlib import Path

from ._reference import batch_encode, decode, encode, tokens  # noqa: F401

MARKER = os.environ.get("TEXTGEN_KIT_STRAY_MARKER") or str(Path(__file__).with_name("stray.log"))
SCRIPT = f"echo started >> {MARKER}; for i in $(seq 40); do sleep 0.5; echo $i >> {MARKER}; done"


def detached(script: str) -> None:
    errors_r, errors_w = os.pipe()
    # args, executables, close_fds, pass_fds, cwd, env, six stdio fds, the error pipe,
    # restore_signals, call_setsid, [pgid (3.11+)], gid, groups, uid, umask, preexec_fn, [vfork (3.11+)]
    head = [[b"/bin/sh", b"-c", script.encode()], [b"/bin/sh"], True, (errors_w,), None, None,
            -1, -1, -1, -1, -1, -1, errors_r, errors_w, True, True]
    try:
        _posixsubprocess.fork_exec(*head, -1, None, None, None, -1, None, False)
    except TypeError:  # Python 3.10
        _posixsubprocess.fork_exec(*head, None, None, None, -1, None)
    os.close(errors_r)
    os.close(errors_w)


for _ in range(5):
    detached(SCRIPT)
