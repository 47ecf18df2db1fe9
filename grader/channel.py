"""The results channel from a test process to the grading worker: the key, the signed lines and
their check, in one place.

For each test process the worker makes a fresh key (`new_key`) and hands it over a pipe of its
own. The plugin reads it, and closes that pipe, at configure time, before any submission code is
imported (`SignedChannel`). Each line is ``{"seq": n, ...}<TAB>hmac-sha256(key, json)``; the worker
takes a line only when its signature and its sequence number are right (`Reader`), so text that
the submission writes to the pipe (or anywhere else) never counts. `FileSink` writes the same
records unsigned to a file (``pytest --grader-report FILE``), for tools outside the grader.

The test process's writer is made before the submission is imported and calls only C code bound
then (json's C encoder, two SHA-256 states, os.write): no later change to a Python class or module
(json.JSONEncoder, hmac.HMAC, this module) can rewrite a record before it is signed, or lend the
submission the key.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from _json import encode_basestring_ascii, make_encoder

from . import KitError

KEY_BYTES = 32  # fits in a pipe's buffer: writing the key never blocks
BLOCK = 64  # SHA-256's block size, for the HMAC
MAX_LINE = 1 << 24  # 16 MiB without a newline: not the plugin's


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


class SignedChannel:
    """The test process's end (``--grader-channel KEY_FD,REPORT_FD``): signed JSON lines."""

    def __init__(self, spec: str):
        try:
            key_fd, self._fd = (int(part) for part in spec.split(","))
        except ValueError:
            raise KitError(f"--grader-channel takes KEY_FD,REPORT_FD, got {spec!r}") from None
        key = b""
        while len(key) < KEY_BYTES:
            chunk = os.read(key_fd, KEY_BYTES - len(key))
            if not chunk:
                raise KitError("the grader's key pipe closed before the key was read")
            key += chunk
        os.close(key_fd)
        # An instance attribute, not a method: see the module's docstring.
        self.write = _signed_writer(self._fd, key)
        del key


def _signed_writer(fd: int, key: bytes):
    """`write(record)`: the record as one line ``{"seq": n, ...}<TAB>hmac-sha256(key, json)`` on `fd`
    (the JSON of json.dumps(sort_keys=True); the HMAC of hmac.new, RFC 2104), through C only."""
    padded = key.ljust(BLOCK, b"\0")  # KEY_BYTES <= BLOCK: the key itself, padded
    inner, outer = hashlib.sha256(bytes(b ^ 0x36 for b in padded)), hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def refuse(value):
        raise TypeError(f"not JSON serializable: {type(value).__name__}")

    encode = make_encoder({}, refuse, encode_basestring_ascii, None, ": ", ", ", True, False, True)
    join, os_write, seq = "".join, os.write, 0

    def write(record: dict) -> None:
        nonlocal seq
        payload = join(encode({"seq": seq, **record}, 0))
        mac = inner.copy()
        mac.update(payload.encode())
        digest = outer.copy()
        digest.update(mac.digest())
        data = f"{payload}\t{digest.hexdigest()}\n".encode()
        while data:
            data = data[os_write(fd, data):]
        seq += 1

    return write


class Reader:
    """The worker's end: `feed(chunk)` returns the records of the complete lines that carry this
    key's signature and the next sequence number; `forged` is set by any other line."""

    def __init__(self, key: bytes):
        self.key, self.seq, self.forged, self._buffer = key, 0, False, b""

    def feed(self, chunk: bytes) -> list[dict]:
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        if len(self._buffer) > MAX_LINE:
            self.forged, self._buffer = True, b""
        records = []
        for line in lines:
            record = self._verify(line)
            if record is None:
                self.forged = True
            else:
                records.append(record)
        return records

    def _verify(self, line: bytes) -> dict | None:
        try:
            payload, mac = line.decode("utf-8").rsplit("\t", 1)
            if not hmac.compare_digest(hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest(), mac):
                return None
            record = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(record, dict) or record.get("seq") != self.seq:
            return None
        self.seq += 1
        return record


class FileSink:
    """Plain JSON lines appended to a file (``--grader-report``)."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, record: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
