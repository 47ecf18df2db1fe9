"""`python -m grader`: grade a submission and print points per exercise (see README).

    python -m grader [--submission PATH] [--model NAME] [--device D] [--json FILE] [--junit FILE]
                     [--min-score X] [--exercise NAME]... [--timeout S] [--jobs N] [--extra-tests DIR]
    python -m grader batch DIR [--jobs N] [--out FILE.csv] [--shard K/N] [...]   (grader/batch.py)
    python -m grader merge --out FILE.csv SHARD.csv...                         (grader/batch.py)
    python -m grader record [--model NAME]... [--extra-tests DIR]              (grader/record.py)
    python -m grader release DIR [--hint-levels N]                             (grader/release.py)
    python -m grader hint MODULE.FUNCTION [--level N]                          (grader/hints.py)

Exit codes: 0 graded (whatever the score), 1 below --min-score, 2 a problem to fix first (one line).
"""
from __future__ import annotations

import argparse
import sys

from . import run_command
from .points import EXERCISES


def add_grading_options(parser: argparse.ArgumentParser) -> None:
    """The options of a grading run, shared by `python -m grader` and `python -m grader batch`."""
    from .results import HIDDEN_VISIBILITY, VISIBILITIES
    from .run import DEFAULT_JOBS, DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT

    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, metavar="N",
                        help=f"test processes at a time, one exercise each (default: {DEFAULT_JOBS}, from the "
                             f"number of CPUs; each uses CPUs / N threads)")
    parser.add_argument("--model", default="default", metavar="NAME",
                        help="default, tiny, a local folder or a locally cached Hugging Face id (default: default)")
    parser.add_argument("--device", default="auto", metavar="D", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--exercise", action="append", choices=EXERCISES, metavar="NAME",
                        help=f"grade only this exercise (repeatable): {', '.join(EXERCISES)}")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds per test before it fails (default: {DEFAULT_TIMEOUT})")
    parser.add_argument("--memory-limit", type=float, default=DEFAULT_MEMORY_GB, metavar="GB",
                        help=f"GiB of memory a test process may allocate beyond the loaded model, CPU only "
                             f"(default: {DEFAULT_MEMORY_GB:g}; 0: no limit)")
    parser.add_argument("--extra-tests", default=None, metavar="DIR",
                        help="a folder of the instructor's hidden test files (test_*.py), graded with the others")
    parser.add_argument("--expectations", default="auto", choices=("auto", "recorded", "live"),
                        help="what the tests compare with: the recordings in tests/expectations (on the CPU, "
                             "for a recorded model) or live checks built from transformers; auto picks the "
                             "recordings where they apply (default: auto)")
    parser.add_argument("--deadline", type=float, default=None, metavar="S",
                        help="seconds for the whole grading: then the running tests stop and every test not "
                             "graded yet fails with 'not run: the grading time budget ran out'; the results "
                             "are still written (also on SIGTERM). Default: none")
    parser.add_argument("--hidden-visibility", default=HIDDEN_VISIBILITY, choices=VISIBILITIES,
                        help=f"Gradescope visibility of the hidden tests (default: {HIDDEN_VISIBILITY})")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m grader", description="Grade a submission folder laid out like exercises/.",
        epilog="Instructors: `python -m grader batch --help` grades a whole class (see docs/instructors.md).")
    parser.add_argument("--submission", default=None, metavar="PATH",
                        help="folder to grade (default: exercises/; solutions/ grades the reference)")
    add_grading_options(parser)
    parser.add_argument("--json", default=None, metavar="FILE", help="write Gradescope's results.json format to FILE")
    parser.add_argument("--junit", default=None, metavar="FILE", help="write JUnit XML to FILE")
    parser.add_argument("--min-score", type=float, default=None, metavar="X",
                        help="exit with code 1 when the total is below X (for CI)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("batch", "merge"):
        from . import batch

        return batch.main(argv)
    if argv and argv[0] == "demo":
        from . import demo

        return demo.main(argv[1:])
    if argv and argv[0] == "record":
        from . import record

        return record.main(argv[1:])
    if argv and argv[0] == "release":
        from . import release

        return release.main(argv[1:])
    if argv and argv[0] == "hint":
        from . import hints

        return hints.main(argv[1:])
    args = parse_args(argv)

    def body() -> int:
        from .report import print_report
        from .results import write_gradescope, write_junit
        from .run import grade

        result = grade(args.submission, model=args.model, device=args.device, exercises=args.exercise,
                       timeout=args.timeout, jobs=args.jobs, extra_tests=args.extra_tests,
                       memory_gb=args.memory_limit, expectations=args.expectations, deadline=args.deadline)
        if args.json:
            write_gradescope(result, args.json, args.hidden_visibility)
        if args.junit:
            write_junit(result, args.junit)
        print_report(result)
        if args.min_score is not None and result.total < args.min_score:
            print(f"Score {result.total:.1f} is below the minimum {args.min_score:g}.", file=sys.stderr)
            return 1
        return 0

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main())
