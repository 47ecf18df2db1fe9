"""Turn the grader's results.json into what GitHub Classroom's reporter reads
(classroom-resources/autograding-grading-reporter): a line ``result=<base64 JSON>`` for
$GITHUB_OUTPUT, with one entry per exercise, its points and its note. Standard library only.

    python examples/github-classroom/classroom_result.py results.json >> "$GITHUB_OUTPUT"
"""
from __future__ import annotations

import base64
import json
import sys


def classroom_result(results: dict) -> dict:
    exercises = results["extra_data"]["exercises"]
    tests = []
    for name, ex in exercises.items():
        passed = ex["score"] >= ex["max_score"]
        tests.append({
            "name": name,
            "status": "pass" if passed else "fail",
            "score": ex["score"],
            "message": ex["note"] or f"{ex['score']:g} / {ex['max_score']:g} points",
            "test_code": f"python -m grader --exercise {name}",
            "line_no": 0,
            "execution_time": "0s",
        })
    return {"version": 1, "status": "pass" if all(t["status"] == "pass" for t in tests) else "fail",
            "max_score": sum(ex["max_score"] for ex in exercises.values()), "tests": tests}


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as f:
        result = classroom_result(json.load(f))
    print("result=" + base64.b64encode(json.dumps(result).encode()).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
