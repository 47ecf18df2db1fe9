"""What every benchmark shares: the prompt, lengths and rounds, and `measure()`.

Every measurement records in its `extra_info` how much work one round does (`work`, `unit`) and
whether it is its group's baseline; benchmarks/summary.py turns that into speeds relative to the
baseline measured in the same run.
"""
from __future__ import annotations

import pytest

from grader.submission import SubmissionImportError

PROMPT = "The movie was full of"
NEW_TOKENS = 32
ROUNDS = 3  # timed rounds of each slow measurement: min / median / max are over these
SLOW_ROUNDS = 2  # for measurements of 10 s or more a round (loading from the GGUF, 128 uncached tokens)


def pick(who: str, impl, ref):
    """The implementation named `who`: "submission" (--submission) or "reference" (solutions/, None
    in a student release). The submission's rows are skipped when it is the reference itself (they
    would be the same), the reference's where there is none."""
    if who == "reference":
        if ref is None:
            pytest.skip("the reference solutions are not part of this copy of the kit")
        return ref
    if ref is not None and impl.folder == ref.folder:
        pytest.skip("the submission is the reference: see the reference rows")
    return impl


def measure(benchmark, fn, *, unit: str, work=None, baseline: bool = False, rounds: int | None = ROUNDS,
            **info):
    """Time `fn()` and record what one round does. `work`: units done per round, a number or a
    function of fn's result (e.g. the number of tokens decoded). `rounds=None` lets pytest-benchmark
    calibrate (for calls of a few milliseconds). An unfinished submission (NotImplementedError) is
    skipped, not failed."""
    benchmark.extra_info.update(unit=unit, baseline=baseline, **info)
    try:
        if rounds is None:
            result = benchmark(fn)
        else:
            result = benchmark.pedantic(fn, rounds=rounds, iterations=1)
    except (NotImplementedError, SubmissionImportError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        pytest.skip(f"not implemented yet: {first}" if isinstance(err, NotImplementedError) else first)
    benchmark.extra_info["work"] = work(result) if callable(work) else (1 if work is None else work)
    return result
