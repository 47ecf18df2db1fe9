"""Where one grading's CPU time goes, phase by phase: a sampling profile (py-spy) of
`python -m grader` and of every process it starts, each sample put in one phase.

    .venv/bin/pip install py-spy                 # once: a profiler, not a dependency of the kit
    .venv/bin/python benchmarks/grading_profile.py --submission exercises
    .venv/bin/python benchmarks/grading_profile.py --submission solutions [--model tiny] [--runs 3]

The phases: the caller's start-up (and its import of torch, if any); the worker's preloading (importing torch and pytest, collecting
the tests, loading the models); in the test processes, pytest's start and collection, the tamper
guard, pytest's reports of failures, the tests' own work (their forward passes, oracles, checks,
Hypothesis), and the submission's own code (frames in the submission's folder). Seconds are CPU
seconds of the processes (samples / rate): with two test processes at a time they add up to about
twice the wall time. With --runs N, each phase's min / median / max over N gradings. The figures
in docs/grader.md come from this script.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

RATE = 50  # samples a second

PHASES = [
    "caller: import torch",
    "caller: start-up and waiting",
    "worker: import torch",
    "worker: import pytest and its plugins",
    "worker: collect the tests",
    "worker: load the models",
    "worker: other",
    "test process: pytest start and collection",
    "test process: tamper guard",
    "test process: pytest's report of a failure",
    "test process: the tests' own work",
    "test process: the submission's code",
    "test process: other",
]


def phase(frames: list[str], submission: str) -> str:
    """The phase of one sampled stack (frames outermost first, "function (file)")."""
    text = ";".join(frames)
    if "forked_child" in text or "spawned_child" in text:
        if any(f"({submission}/" in frame or f"{os.sep}{submission}{os.sep}" in frame for frame in frames):
            return "test process: the submission's code"
        if "guard.py" in text:
            return "test process: tamper guard"
        if "runtestprotocol" in text:
            if "repr_failure" in text or "getrepr" in text or "_repr_failure_py" in text:
                return "test process: pytest's report of a failure"
            return "test process: the tests' own work"
        if "perform_collect" in text or "_prepareconfig" in text or "pytest_configure" in text or "main (_pytest" in text:
            return "test process: pytest start and collection"
        return "test process: other"
    torch = "<module> (torch/__init__.py)" in text
    if "grader/worker.py" in text or "grader.worker" in text:
        if torch or "resolve (grader/devices.py)" in text:
            return "worker: import torch"
        if "load_model" in text:
            return "worker: load the models"
        if "_collect_graded_tests" in text:
            return "worker: collect the tests"
        if "entry_points" in text or "plugin.load" in text or "_preload" in text:
            return "worker: import pytest and its plugins"
        return "worker: other"
    return "caller: import torch" if torch else "caller: start-up and waiting"


def profile(args: list[str], submission: str) -> Counter:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.raw"
        spy = shutil.which("py-spy", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
        if spy is None:
            sys.exit("error: py-spy is not installed: .venv/bin/pip install py-spy")
        subprocess.run([spy, "record", "--subprocesses", "--rate", str(RATE), "--format", "raw", "--nolineno",
                        "--output", str(raw), "--", sys.executable, "-m", "grader", *args],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
        found: Counter = Counter()
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            found[phase(stack.split(";"), submission)] += int(count) / RATE
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", default="exercises")
    parser.add_argument("--model", default="default")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    name = Path(args.submission).resolve().name
    runs = [profile(["--submission", args.submission, "--model", args.model, "--device", "cpu"], name)
            for _ in range(args.runs)]
    print(f"CPU seconds per phase, grading {args.submission} with model {args.model} ({args.runs} run(s)):\n")
    print("| phase | min | median | max |\n| --- | ---: | ---: | ---: |")
    for name in PHASES + ["total"]:
        values = [sum(run.values()) if name == "total" else run.get(name, 0.0) for run in runs]
        print(f"| {name} | {min(values):.2f} | {statistics.median(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
