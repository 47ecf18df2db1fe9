"""Turn the grader's results.json into what GitHub Classroom's reporter reads
(classroom-resources/autograding-grading-reporter), so that every figure it shows equals the grade.

    python classroom_result.py RESULTS.json [--errors GRADER_STDERR] [--max-score 100] >> "$GITHUB_OUTPUT"

It prints two lines for $GITHUB_OUTPUT, ``earned=<base64 JSON>`` and ``missed=<base64 JSON>``: the
results of two reporter "runners", which the workflow hands to the reporter as the environment
variables EARNED_RESULTS and MISSED_RESULTS (the reporter reads ``<RUNNER ID, upper case>_RESULTS``)
with ``runners: earned,missed``. Standard library only: it runs even when the kit's environment
could not be set up.

Why two runners: the reporter records the sum of the entries' ``score`` over the sum of the
runners' ``max_score`` (src/notify-classroom.js), but its console ("Total points for <runner>",
the summary table) shows, for each runner, (entries with status "pass" / all entries) x max_score
(src/helpers/test-helpers.js, getTestScore). The two agree only when every entry of a runner is
worth the same; the kit's tests have unequal weights and partial credit. So "earned" holds one
passing entry per exercise with points, worth those points (max_score: their sum), and "missed"
one failing entry per exercise with points lost, worth 0 (max_score: the points lost). Its console
then reads "Total points for earned: 91.04/91.04", "Total points for missed: 0.00/8.96" and a
total of 91.04 / 100: the grade. Hidden tests (if any) are never named, only counted.

When the grader could not run (exit code 2: no .py file submitted, a broken environment...),
results.json is missing: the grade is 0 out of --max-score, and the reason (the last line of
--errors) is the name of the one "missed" entry, so the student reads it in the log.
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path


def _entry(name: str, passed: bool, score: float) -> dict:
    return {"name": name, "status": "pass" if passed else "fail", "score": score, "message": "",
            "test_code": "", "line_no": 0, "execution_time": "0s"}


def _runner(entries: list[dict], max_score: float) -> dict:
    return {"version": 1, "status": "pass" if all(e["status"] == "pass" for e in entries) else "fail",
            "max_score": max_score, "tests": entries}


def classroom_result(results: dict) -> dict[str, dict]:
    """{"earned": ..., "missed": ...}: the two runners' results for a graded submission."""
    exercises = results["extra_data"]["exercises"]
    earned, missed = [], []
    for name, ex in exercises.items():
        tests = [t for t in results.get("tests", []) if name in t.get("tags", [])]
        passed = sum(t["status"] == "passed" for t in tests)
        counted = f" ({passed} of {len(tests)} tests passed)" if tests else ""
        score, possible = round(ex["score"], 4), ex["max_score"]
        if score > 0:
            earned.append(_entry(f"{name}: {score:g} of {possible:g} points{counted}", True, score))
        if possible - score > 1e-9:
            note = f" - {ex['note']}" if ex.get("note") else ""
            missed.append(_entry(f"{name}: {round(possible - score, 4):g} of {possible:g} points missed{counted}{note}",
                                 False, 0))
    # The reporter adds the scores in this order (Array.reduce from 0): so does sum(). Its console
    # prints a runner's max_score as it is: to 4 decimals, as results.json writes points.
    total = round(sum(e["score"] for e in earned), 4)
    possible = sum(ex["max_score"] for ex in exercises.values())
    return {
        "earned": _runner(earned or [_entry("no points yet", False, 0)], total),
        "missed": _runner(missed or [_entry("nothing missed: full marks", True, 0)],
                          round(possible - total, 4) if missed else 0),
    }


def not_graded(reason: str, max_score: float) -> dict[str, dict]:
    """The runners' results when there is no results.json: 0 out of `max_score`, and why."""
    return {"earned": _runner([_entry("no points: the submission could not be graded", False, 0)], 0),
            "missed": _runner([_entry(f"not graded: {reason}", False, 0)], max_score)}


def _reason(errors: Path | None) -> str:
    text = errors.read_text(errors="replace") if errors is not None and errors.is_file() else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1].removeprefix("error: ") if lines else "the grader wrote no results (see the grading step's log)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the grader's --json file (missing if it could not run)")
    parser.add_argument("--errors", type=Path, default=None, help="the grader's stderr, for the reason it failed")
    parser.add_argument("--max-score", type=float, default=100, help="the assignment's points (default: 100)")
    args = parser.parse_args(argv)
    try:
        runners = classroom_result(json.loads(args.results.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        runners = not_graded(_reason(args.errors), args.max_score)
    for runner, result in runners.items():
        print(f"{runner}=" + base64.b64encode(json.dumps(result).encode()).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
