"""`python -m grader`: grade a submission and print points per exercise (see README)."""
from __future__ import annotations

import argparse
import sys

from . import KitError
from .points import EXERCISES


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m grader", description="Grade a submission folder laid out like exercises/.")
    parser.add_argument("--submission", default=None, metavar="PATH",
                        help="folder to grade (default: exercises/; solutions/ grades the reference)")
    parser.add_argument("--model", default="default", metavar="NAME",
                        help="default, tiny, a local folder or a locally cached Hugging Face id (default: default)")
    parser.add_argument("--device", default="auto", metavar="D", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--exercise", action="append", choices=EXERCISES, metavar="NAME",
                        help=f"grade only this exercise (repeatable): {', '.join(EXERCISES)}")
    parser.add_argument("--timeout", type=int, default=None, metavar="S", help="seconds per test before it fails (default: 60)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="exercises graded in parallel (default: 1)")
    parser.add_argument("--min-score", type=float, default=None, metavar="X",
                        help="exit with code 1 when the total is below X (for CI)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        from .report import print_report
        from .run import DEFAULT_TIMEOUT, grade

        result = grade(args.submission, model=args.model, device=args.device, exercises=args.exercise,
                       timeout=args.timeout or DEFAULT_TIMEOUT, jobs=args.jobs)
    except KitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print_report(result)
    if args.min_score is not None and result.total < args.min_score:
        print(f"Score {result.total:.1f} is below the minimum {args.min_score:g}.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
