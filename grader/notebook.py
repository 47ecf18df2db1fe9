"""Grading from a notebook: `check("sampling")` runs one exercise's graded tests in a cell.

The tests run exactly as `make grade` runs them (grader.run.grade: a separate process, so the
file as it is saved on disk is graded, never a stale import), and the result is printed with the
grader's own report: points, tests passed, and one hint per kind of failure.
"""
from __future__ import annotations

from . import KitError
from .report import print_report
from .run import grade


def check(exercise: str, submission=None, model: str = "default", device: str = "auto") -> None:
    """Grade one exercise and print its points and what to fix.

    Args:
        exercise: tokenization, next_token, sampling, decoding, logprobs or beam_search.
        submission: a folder laid out like exercises/ (default exercises/; "solutions" for the
            reference).
        model: "default", "tiny" (a random model: fast, but some results mean nothing), a local
            folder or a locally cached Hugging Face id.
        device: auto, cpu, cuda or cuda:N.
    """
    try:
        result = grade(submission, model=model, device=device, exercises=[exercise])
    except KitError as err:
        print(f"error: {err}")
        return
    print_report(result, tip=f"Save the file, then run check({exercise!r}) again.")
