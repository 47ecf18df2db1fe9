"""Recorded expectations: what each graded test compares a submission with, in one home.

Grading never runs, nor imports, the reference solutions. What a graded test compares with comes
from one of two places, and the test asks for it through the ``expected`` fixture:

    want = expected(lambda ref: ref.next_token.next_token_probs(model, tokenizer, text),
                    oracle=lambda: torch.softmax(last_logits(model, tokenizer, text), dim=-1),
                    tol=tol.prob)

- a **recording**: the reference's value for this call, recorded once on the CPU
  (``python -m grader record``, ``make expectations``) into ``expectations/`` beside the test file
  (``tests/expectations/<model>/<test file>.json``; tests that use no model go in ``common/``).
  A test's n-th call of ``expected`` gets the n-th recorded value of that test.
- a **live oracle**, where no recording applies (another ``--model``, CUDA, whose sampled draws
  and last bits differ from the CPU's): ``oracle()``, built from transformers' public pieces
  (``generate``, the logits warpers, the model's own loss...). A test without an oracle is then
  skipped with a one-line reason, and its weight leaves its exercise's total.

The mode (``--expectations``): ``auto`` (the default) is ``check`` when pytest runs the reference
itself outside the grader (``make test``: the reference is recomputed and a recording that no
longer matches fails with "recording stale: run make expectations"), else ``recorded`` where a
recording applies, else ``live``. ``record`` computes with the reference and writes the files at
the end of a run in which every graded test passed.

Recordings are JSON (one file per model and test file) with a header: the kit, torch and
transformers versions and a fingerprint of the model's weights. A recording applies only on the
CPU, for a model whose fingerprint matches.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from . import versions
from .models import BUILT_IN, canonical

FOLDER = "expectations"  # beside the test files: tests/expectations/, <hidden tests>/expectations/
COMMON = "common"  # the recordings of tests that use no model
MODES = ("auto", "recorded", "live", "check", "record")
FORMAT = 1
_INLINE = 64  # tensors with more elements are stored as base64 of their bytes, with a preview


class RecordingStale(AssertionError):
    """A recording no longer matches the reference (make test)."""


# ----------------------------------------------------------------------------------------------
# Values <-> JSON

def encode(value):
    """A value a test compares with, as JSON: tensors keep dtype and shape; tuples stay tuples."""
    import torch

    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        out = {"tensor": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)}
        if t.numel() <= _INLINE:
            out["values"] = t.tolist()
        else:  # e.g. a whole next-token distribution: 49152 floats
            out["preview"] = t.flatten()[:8].tolist()
            out["base64"] = base64.b64encode(t.numpy().tobytes()).decode()
        return out
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"dict": {str(k): encode(v) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot record a {type(value).__name__}; record tensors, numbers, strings, lists")


def decode(data):
    import numpy as np
    import torch

    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        if "tensor" in data:
            dtype = getattr(torch, data["tensor"])
            if "values" in data:
                return torch.tensor(data["values"], dtype=dtype).reshape(data["shape"])
            raw = base64.b64decode(data["base64"])
            array = np.frombuffer(raw, dtype=torch.empty(0, dtype=dtype).numpy().dtype).copy()
            return torch.from_numpy(array).reshape(data["shape"])
        if "tuple" in data:
            return tuple(decode(v) for v in data["tuple"])
        return {k: decode(v) for k, v in data["dict"].items()}
    return data


def same(got, want, tol=None) -> bool:
    """Equal values: float tensors within `tol` (a grader.devices.Tolerance) when given, the rest exactly."""
    import torch

    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.dtype != want.dtype:
            return False
        if tol is not None and want.is_floating_point():
            return torch.allclose(got.cpu().double(), want.cpu().double(), **tol.kwargs())
        return torch.equal(got.cpu(), want.cpu())
    if isinstance(want, (list, tuple)):
        return (type(got) is type(want) and len(got) == len(want)
                and all(same(g, w, tol) for g, w in zip(got, want)))
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(same(got[k], want[k], tol) for k in want)
    if isinstance(want, float) and tol is not None:
        return isinstance(got, float) and abs(got - want) <= tol.atol + tol.rtol * abs(want)
    return type(got) is type(want) and got == want


# ----------------------------------------------------------------------------------------------
# Which recording: model slug and fingerprint

def model_slug(name: str) -> str:
    """The folder of a model's recordings: default, tiny, gpt2, org--name, or a local folder's name."""
    name = canonical(name)
    if name in BUILT_IN:
        return name
    path = Path(name).expanduser()
    if path.exists():
        name = path.resolve().name
    return re.sub(r"[^A-Za-z0-9_.-]+", "--", name).strip("-") or "model"


def fingerprint(model, tokenizer) -> str:
    """A short hash of the model's weights (names, shapes and a sample of each tensor's values)
    and vocabulary size: two different models never share one, and it takes milliseconds."""
    import torch

    digest = hashlib.sha256(f"vocab={len(tokenizer)}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        sample = torch.cat([flat[:64], flat[-64:]]).to("cpu", torch.float32).contiguous()
        digest.update(f"{name}:{list(tensor.shape)}".encode())
        digest.update(sample.numpy().tobytes())
    return digest.hexdigest()[:16]


_FINGERPRINTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> its fingerprint


def model_fingerprint(lm) -> str:
    """`fingerprint` of a loaded model, once per process: the grader's worker takes it before it
    forks, so that no test process computes it again (the guard sees any change to the weights)."""
    if lm.model not in _FINGERPRINTS:
        _FINGERPRINTS[lm.model] = fingerprint(lm.model, lm.tokenizer)
    return _FINGERPRINTS[lm.model]


# ----------------------------------------------------------------------------------------------
# The store: one JSON file per (model, test file)

@dataclass
class RecordingFile:
    path: Path
    header: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)  # test key -> list of encoded values, in call order

    @classmethod
    def load(cls, path: Path) -> "RecordingFile | None":
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(path=path, header=data.get("header", {}), tests=data.get("tests", {}))

    def text(self) -> str:
        body = {"header": self.header, "tests": dict(sorted(self.tests.items()))}
        return json.dumps(body, indent=1) + "\n"

    def write(self) -> bool:
        """Write the file unless it already holds exactly this text; True when it was written."""
        text = self.text()
        if self.path.is_file() and self.path.read_text(encoding="utf-8") == text:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(text, encoding="utf-8")
        return True


def recording_path(test_file: Path, slug: str | None) -> Path:
    return test_file.parent / FOLDER / (slug or COMMON) / f"{test_file.stem}.json"


def key_of(item, model_name: str | None) -> str:
    """The test's name without its model parameter: `test_x[default-plain]` -> `test_x[plain]`."""
    name = item.name
    if model_name and "[" in name:
        base, _, params = name.partition("[")
        params = params[:-1]
        if params == model_name:
            return base
        if params.startswith(model_name + "-"):
            return f"{base}[{params[len(model_name) + 1:]}]"
    return name


class Recordings:
    """Every recording file one pytest session reads or writes, and the session's mode."""

    def __init__(self, mode: str, under_grader: bool, submission_is_reference: bool):
        if mode not in MODES:
            raise ValueError(f"--expectations must be one of {', '.join(MODES)}, got {mode!r}")
        self.requested = mode
        self.under_grader = under_grader
        self.submission_is_reference = submission_is_reference
        self.files: dict[Path, RecordingFile | None] = {}
        self.recorded: dict[Path, RecordingFile] = {}  # record mode: what this session computed
        self.computed: dict[Path, dict[str, list]] = {}  # record mode: (value, tol) of each encoded value

    @property
    def compares_with_the_reference(self) -> bool:
        """Record or check mode: the reference runs in this process."""
        return self.requested in ("record", "check") or (
            self.requested == "auto" and self.submission_is_reference and not self.under_grader)

    def choose(self, device, test_file: Path, lm) -> tuple[str, "RecordingFile | None", str]:
        """(mode, recording file, why no recording applies) for a test of `test_file` on `device`
        with the model `lm` (None: a test that uses no model)."""
        if self.requested == "record":
            if device.type != "cpu":
                raise RecordingStale("recordings are made on the CPU: run with --device cpu")
            return "record", None, ""
        if device.type != "cpu":
            return "live", None, f"recordings are for the CPU and this run is on {device.type}"
        if self.requested == "live":
            return "live", None, "--expectations live"
        recording, why = self.applicable(test_file, lm)
        if self.compares_with_the_reference:
            # The kit's own models must have recordings; another model only where one was made.
            kit_model = lm is None or lm.name in BUILT_IN
            if recording is None and not kit_model and self.file(test_file, model_slug(lm.name)) is None:
                return "live", None, why
            return "check", recording, why
        return ("recorded", recording, "") if recording is not None else ("live", None, why)

    def file(self, test_file: Path, slug: str | None) -> RecordingFile | None:
        path = recording_path(test_file, slug)
        if path not in self.files:
            self.files[path] = RecordingFile.load(path)
        return self.files[path]

    def model_fingerprint(self, lm) -> str:
        return model_fingerprint(lm)

    def applicable(self, test_file: Path, lm) -> tuple[RecordingFile | None, str]:
        """The recording file for this test file and model, or None and why it does not apply."""
        slug = model_slug(lm.name) if lm is not None else None
        found = self.file(test_file, slug)
        if found is None:
            return None, f"no recording for model {lm.name}" if lm is not None else "no recording of this test"
        if lm is not None and found.header.get("fingerprint") != self.model_fingerprint(lm):
            return None, f"the recording for model {lm.name} was made with other weights"
        return found, ""

    def add(self, test_file: Path, lm, key: str, value, tol=None) -> None:
        """Record mode: keep `value` as the next value of test `key` (compared within `tol`)."""
        slug = model_slug(lm.name) if lm is not None else None
        path = recording_path(test_file, slug)
        if path not in self.recorded:
            header = {"format": FORMAT, "model": lm.name if lm is not None else None,
                      "fingerprint": self.model_fingerprint(lm) if lm is not None else None,
                      "device": "cpu", "versions": versions("textgen-kit", "torch", "transformers")}
            self.recorded[path] = RecordingFile(path=path, header=header)
        self.recorded[path].tests.setdefault(key, []).append(encode(value))
        self.computed.setdefault(path, {}).setdefault(key, []).append((value, tol))

    def write(self) -> list[Path]:
        """Write what this session recorded; returns the files whose content changed.

        Re-recording never churns: where the file on disk was recorded with the same header (kit,
        torch and transformers versions, model fingerprint) and one of its values still equals the
        newly computed one (within the tolerance the test compares it with, the exact test `make
        test` applies to it), that value keeps its recorded bits; a file whose text is then
        unchanged is not written at all. A new test, a value that really changed or new versions
        are written."""
        written = []
        for path, recording in sorted(self.recorded.items()):
            on_disk = RecordingFile.load(path)
            if on_disk is not None and on_disk.header == recording.header:
                for key, values in recording.tests.items():
                    old = on_disk.tests.get(key)
                    if old is None or len(old) != len(values):
                        continue
                    for index, (value, tol) in enumerate(self.computed[path][key]):
                        if values[index] != old[index] and same(value, decode(old[index]), tol):
                            values[index] = old[index]
            if recording.write():
                written.append(path)
        return written


def _one_thread() -> None:
    """Recordings are computed, and checked, with one torch thread (the plugin sets it for the
    session): put it back if a test of the same run changed it, so that no value depends on which
    tests ran before it (fp32 results differ in the last bits between thread counts)."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


class Expected:
    """The ``expected`` fixture of one test: call it once per value the test compares with."""

    def __init__(self, recordings: Recordings, item, lm, device, reference):
        self.recordings, self.lm, self.reference = recordings, lm, reference
        self.test_file = Path(str(item.path))
        self.key = key_of(item, lm.name if lm is not None else None)
        self.nodeid = item.nodeid
        self.mode, self.recording, self.reason = recordings.choose(device, self.test_file, lm)
        self.calls = 0

    def __call__(self, from_reference, *, oracle=None, tol=None):
        """The value to compare with.

        Args:
            from_reference: `lambda ref: ...` computing it with the reference solutions (`ref` has
                one attribute per exercise module). Called only to record or check recordings.
            oracle: `lambda: ...` computing it from transformers' public pieces, for where no
                recording applies; None when there is no such oracle (the test is then skipped).
            tol: a grader.devices.Tolerance for float tensors (exact comparison otherwise).
        """
        index, self.calls = self.calls, self.calls + 1
        if self.mode in ("record", "check"):
            _one_thread()
        if self.mode == "record":
            value = from_reference(self.reference())
            self.recordings.add(self.test_file, self.lm, self.key, value, tol)
            return value
        if self.mode == "check":
            return self._check(index, from_reference(self.reference()), tol)
        if self.mode == "recorded":
            values = self.recording.tests.get(self.key, [])
            if index >= len(values):
                raise RecordingStale(f"recording missing for {self.key} (value {index + 1}) in "
                                     f"{self.recording.path.name}: run make expectations")
            return decode(values[index])
        if oracle is None:
            import pytest

            pytest.skip(f"no live check: {self.reason}, and this test compares with the reference only")
        return oracle()

    def _check(self, index: int, value, tol):
        import pytest

        where = recording_path(self.test_file, model_slug(self.lm.name) if self.lm is not None else None)
        if self.recording is None:
            pytest.fail(f"recording stale: {self.reason} ({where}): run make expectations", pytrace=False)
        values = self.recording.tests.get(self.key, [])
        if index >= len(values):
            pytest.fail(f"recording stale: {self.key} has no value {index + 1} in {where}: run make expectations",
                        pytrace=False)
        recorded = decode(values[index])
        if not same(value, recorded, tol):
            pytest.fail(f"recording stale: value {index + 1} of {self.key} in {where} differs from the "
                        f"reference's: run make expectations", pytrace=False)
        return recorded
