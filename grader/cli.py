"""Every command line of the kit: `python -m grader [COMMAND]`. Each command's arguments are here;
the work is done by the module named beside it, imported only when the command runs (so `merge`
and `hint` start without torch).

    python -m grader [--submission PATH] [GRADING OPTIONS] [--json FILE] [--junit FILE] [--min-score X]
                     [--no-warm]                                               (grader/run.py)
    python -m grader batch DIR [--out FILE.csv] [--shard K/N] [--quiet] [--report FILE.html] [GRADING OPTIONS]
    python -m grader merge --out FILE.csv [--expect-shards N] SHARD.csv...     (grader/batch.py)
    python -m grader report GRADES.csv [--out FILE.html] [--results DIR]... [--submissions DIR]
                                                                               (grader/classreport.py)
    python -m grader demo [--submission PATH] [--model NAME] [--prompt TEXT]...  (grader/demo.py)
    python -m grader record [--model NAME]... [--extra-tests DIR]              (grader/record.py)
    python -m grader release DIR [--hint-levels N]                             (grader/release.py)
    python -m grader hint MODULE.FUNCTION [--level N]                          (grader/hints.py)
    python -m grader warm [--stop]                                             (grader/warm.py)

GRADING OPTIONS: --model, --device, --jobs, --exercise, --timeout, --memory-limit, --extra-tests,
--expectations, --deadline, --hidden-visibility (`python -m grader --help`).

Exit codes: 0 done (whatever the score), 1 below --min-score or the failure the command names,
2 a problem to fix first (one line on stderr), 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import KitError, run_command
from .points import EXERCISES, SHARES
from .submission import has_reference

# The help of the options that several commands (and the pytest plugin) share.
SUBMISSION_HELP = ("folder laid out like exercises/ (default: exercises/"
                   # true in the kit and in a student release, which has no reference
                   + ("; solutions/ is the reference)" if has_reference() else ")"))
MODEL_HELP = "default, tiny, a local folder or a locally cached Hugging Face id (default: default)"
DEVICE_HELP = "auto, cpu, cuda or cuda:N (default: auto)"


class _OneLineErrors(argparse.ArgumentParser):
    """A mistyped option or value is one line that names it and where the help is, without the
    usage block that argparse prints first (a typo like --exercise tokenisation is common)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _parser(command: str | None, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    prog = "python -m grader" + (f" {command}" if command else "")
    return _OneLineErrors(prog=prog, description=description, epilog=epilog)


def _model_and_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="default", metavar="NAME", help=MODEL_HELP)
    parser.add_argument("--device", default="auto", metavar="D", help=DEVICE_HELP)


def _grading_options(parser: argparse.ArgumentParser) -> None:
    """The options of a grading run, shared by `python -m grader` and `python -m grader batch`."""
    from .results import HIDDEN_VISIBILITY, VISIBILITIES
    from .run import DEFAULT_JOBS, DEFAULT_MEMORY_GB, DEFAULT_TIMEOUT

    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, metavar="N",
                        help=f"test processes at a time, one exercise each (default: {DEFAULT_JOBS}, from the "
                             f"number of CPUs; each uses CPUs / N threads)")
    _model_and_device(parser)
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
                        help="seconds for the whole grading (batch: the whole class, which then says whom it "
                             "cut short and exits with 1): then the running tests stop and every test not "
                             "graded yet fails with 'not run: the grading time budget ran out'; the results "
                             "are still written (also on SIGTERM). Default: none")
    parser.add_argument("--hidden-visibility", default=HIDDEN_VISIBILITY, choices=VISIBILITIES,
                        help=f"Gradescope visibility of the hidden tests (default: {HIDDEN_VISIBILITY})")


def _grading(args: argparse.Namespace):
    """The grading options as the one grader.run.Options that goes on to the worker and to every
    test process (grade, batch.run_batch)."""
    from .run import Options

    return Options(model=args.model, device=args.device, exercises=args.exercise, timeout=args.timeout,
                   jobs=args.jobs, extra_tests=args.extra_tests, memory_gb=args.memory_limit,
                   expectations=args.expectations, deadline=args.deadline)


# ----------------------------------------------------------------------------------------------
# The commands: each parses its arguments, then returns the body that run_command runs.

def grade_command(argv: list[str]):
    parser = _parser(None, "Grade a submission folder laid out like exercises/.",
                     epilog="Instructors: `python -m grader batch --help` grades a whole class "
                            "(see docs/instructors.md).")
    parser.add_argument("--submission", default=None, metavar="PATH", help=SUBMISSION_HELP)
    _grading_options(parser)
    parser.add_argument("--json", default=None, metavar="FILE", help="write Gradescope's results.json format to FILE")
    parser.add_argument("--junit", default=None, metavar="FILE", help="write JUnit XML to FILE")
    parser.add_argument("--min-score", type=float, default=None, metavar="X",
                        help="exit with code 1 when the total is below X (for CI)")
    parser.add_argument("--warm", action=argparse.BooleanOptionalAction, default=None,
                        help="keep a warm worker between gradings, so that the next one starts at once; it "
                             "ends after 15 minutes without a grading (default: yes on Linux with a CPU device, "
                             "unless CI is set; TEXTGEN_KIT_WARM=0 or 1 sets the default; "
                             "python -m grader warm --stop ends it)")
    args = parser.parse_args(argv)

    def body() -> int:
        from . import warm
        from .report import print_report
        from .results import write_gradescope, write_junit
        from .run import Options, grade

        result = grade(args.submission, Options.of(_grading(args), warm=warm.wanted(args.warm)))
        if args.json:
            write_gradescope(result, args.json, args.hidden_visibility)
        if args.junit:
            write_junit(result, args.junit)
        print_report(result)
        if args.min_score is not None and result.total < args.min_score:
            print(f"Score {result.total:.1f} is below the minimum {args.min_score:g}.", file=sys.stderr)
            return 1
        return 0

    return body


def batch_command(argv: list[str]):
    parser = _parser("batch", "Grade every submission folder under DIR (one per student).")
    parser.add_argument("dir", metavar="DIR", help="folder with one subfolder per student")
    parser.add_argument("--out", default="grades.csv", metavar="FILE.csv",
                        help="the CSV to write; the per-student JSONs go beside it (default: grades.csv)")
    parser.add_argument("--shard", default=None, metavar="K/N", help="grade only the K-th of N slices of the class")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--junit", default=None, metavar="DIR",
                        help="also write one JUnit XML file per student to DIR (<student>.xml)")
    _report_options(parser)
    _grading_options(parser)
    args = parser.parse_args(argv)

    def body() -> int:
        from .batch import run_batch
        from .classreport import check_threshold

        if args.report:
            check_threshold(args.similarity_threshold)  # before grading, not after
        if args.junit and args.junit.endswith(".xml") and not Path(args.junit).is_dir():
            raise KitError(f"batch --junit takes a folder, one <student>.xml per student, not a file: "
                           f"--junit {args.junit} -> try --junit {args.junit[:-4] or 'junit'}/")
        rows, cut, not_graded = run_batch(Path(args.dir), Path(args.out), _grading(args), shard=args.shard,
                         hidden_visibility=args.hidden_visibility, progress=not args.quiet,
                         junit_dir=Path(args.junit) if args.junit else None)
        chosen = [e for e in EXERCISES if e in (args.exercise or EXERCISES)]
        zeros = f", {len(not_graded)} not graded (0 points: {', '.join(not_graded)})" if not_graded else ""
        count = len(rows) - len(not_graded)
        print(f"Graded {count} submission{'' if count == 1 else 's'}{zeros}: {args.out} (and one JSON per submission "
              f"beside it{f'; one JUnit XML each in {args.junit}' if args.junit else ''}). Its points: total out of "
              f"{sum(SHARES[e] for e in chosen):g}, {', '.join(f'{e} out of {SHARES[e]:g}' for e in chosen)}.")
        if args.report:
            _write_report(Path(args.out), Path(args.report), None, Path(args.dir), args.similarity_threshold)
        return 1 if cut else 0

    return body


def _report_options(parser: argparse.ArgumentParser, batch: bool = True) -> None:
    from .similarity import DEFAULT_THRESHOLD

    if batch:
        parser.add_argument("--report", default=None, metavar="FILE.html",
                            help="also write the class report: per exercise the points, the most common mistakes, "
                                 "the tests by failure rate, the submissions that share code, each student's "
                                 "results (one HTML file; the pairs also in FILE-similarity.csv)")
    parser.add_argument("--similarity-threshold", type=float, default=DEFAULT_THRESHOLD, metavar="X",
                        help=f"list two submissions' versions of a file when the code they share is at least X "
                             f"of either (0 to 1; default: {DEFAULT_THRESHOLD:g})")


def _write_report(grades: Path, out: Path, results, submissions, threshold: float) -> None:
    from .classreport import write_report

    written = write_report(grades, out, results=results, submissions=submissions, threshold=threshold)
    pairs = (f"{written.pairs} pair(s) of files that share code: {written.similarity_csv}"
             if written.similarity_csv else "code not compared (see the report)")
    print(f"Class report: {written.report} ({pairs}; {written.seconds:.1f} s).")


def report_command(argv: list[str]):
    parser = _parser("report", "Write the class report (one HTML file) from a batch's CSV and the per-student "
                               "JSONs beside it: per exercise the points, the most common mistakes, the tests by "
                               "failure rate, the submissions that share code, each student's results.")
    parser.add_argument("grades", metavar="GRADES.csv", help="the CSV that batch (or merge) wrote")
    parser.add_argument("--out", default=None, metavar="FILE.html",
                        help="the report to write (default: report.html beside the CSV); the pairs that share "
                             "code go to FILE-similarity.csv beside it")
    parser.add_argument("--results", action="append", default=None, metavar="DIR",
                        help="a folder holding the per-student JSONs (repeatable, e.g. one per shard; default: "
                             "the CSV's folder)")
    parser.add_argument("--submissions", default=None, metavar="DIR",
                        help="the class's folder (one subfolder per student), to compare their code (default: "
                             "the folders named in the JSONs)")
    _report_options(parser, batch=False)
    args = parser.parse_args(argv)

    def body() -> int:
        grades = Path(args.grades)
        out = Path(args.out) if args.out else grades.with_name("report.html")
        _write_report(grades, out, [Path(p) for p in args.results] if args.results else None,
                      Path(args.submissions) if args.submissions else None, args.similarity_threshold)
        return 0

    return body


def merge_command(argv: list[str]):
    parser = _parser("merge", "Join the CSVs of several batch shards into one.")
    parser.add_argument("inputs", nargs="+", metavar="SHARD.csv")
    parser.add_argument("--out", required=True, metavar="FILE.csv")
    parser.add_argument("--expect-shards", type=int, default=None, metavar="N",
                        help="the class was graded in N shards, each CSV in a folder shard-K: merge the CSVs "
                             "that exist, name the missing shards and exit with code 1 if any is missing")
    args = parser.parse_args(argv)

    def body() -> int:
        from .batch import merge

        rows, missing = merge(Path(args.out), [Path(p) for p in args.inputs], args.expect_shards)
        print(f"Merged {len(rows)} submissions into {args.out}.")
        for line in missing:
            print(line, file=sys.stderr)
        return 1 if missing else 0

    return body


def demo_command(argv: list[str]):
    from .demo import DEFAULT_OUT, PROMPT

    parser = _parser("demo", "Show the exercise set's observations (tokens, next-token probabilities, greedy and "
                             "sampled continuations, per-token log-probabilities, perplexity, plots) computed "
                             "with a submission's own code.")
    parser.add_argument("--submission", default=None, metavar="PATH", help=SUBMISSION_HELP)
    _model_and_device(parser)
    parser.add_argument("--prompt", default=PROMPT, metavar="TEXT", help=f"the prompt (default: {PROMPT!r})")
    parser.add_argument("--out", default=str(DEFAULT_OUT), metavar="DIR",
                        help="folder for the PNG plots, created if needed (default: results/demo/ in the kit)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling generator (default: 0)")
    parser.add_argument("--max-new-tokens", type=int, default=20, metavar="N",
                        help="length of each continuation (default: 20)")
    parser.add_argument("--samples", type=int, default=5, metavar="N",
                        help="samples per decoding setting (default: 5)")
    args = parser.parse_args(argv)

    def body() -> int:
        from . import models
        from .demo import run_demo
        from .submission import Submission

        if not args.prompt.strip():
            raise KitError("--prompt is empty; give some text to continue")
        if args.max_new_tokens < 1 or args.samples < 1:
            raise KitError("--max-new-tokens and --samples must be at least 1")
        impl = Submission(args.submission)
        name = models.check_one(args.model)
        run_demo(impl, models.load(name, args.device), prompt=args.prompt, out=Path(args.out), seed=args.seed,
                 max_new_tokens=args.max_new_tokens, num_samples=args.samples)
        return 0

    return body


def record_command(argv: list[str]):
    from .record import __doc__ as about

    parser = _parser("record", about.splitlines()[0])
    parser.add_argument("--model", action="append", default=None, metavar="NAME",
                        help="record for this model (repeatable; default: the kit's own, default and tiny); any "
                             "model --model accepts, e.g. a local folder, so a course on it keeps every comparison")
    parser.add_argument("--extra-tests", default=None, metavar="DIR",
                        help="also record the hidden tests in DIR (written to DIR/expectations/)")
    args = parser.parse_args(argv)

    def body() -> int:
        from .record import record

        start = time.monotonic()
        code = record(args.model, args.extra_tests)
        if code != 0:
            print(f"error: recording failed (pytest exit code {code}); nothing was written", file=sys.stderr)
            return 1
        print(f"Recorded in {time.monotonic() - start:.0f} s.")
        return 0

    return body


def release_command(argv: list[str]):
    from .release import DEFAULT_HINT_LEVELS
    from .release import __doc__ as about

    parser = _parser("release", about.splitlines()[0])
    parser.add_argument("out", metavar="DIR", help="a new (or empty) folder outside the kit")
    parser.add_argument("--hint-levels", type=int, default=DEFAULT_HINT_LEVELS, metavar="N",
                        help=f"the hints it holds: levels 1 to N (1: the idea, 2: the approach, 3: the recipe, "
                             f"nearly the answer; default: {DEFAULT_HINT_LEVELS})")
    args = parser.parse_args(argv)

    def body() -> int:
        from .release import release

        written = release(Path(args.out), args.hint_levels)
        print(f"Wrote the student release to {args.out} ({len(written)} files). Check it with "
              f"`make -C {args.out} grade` (0 points until the exercises are done).")
        return 0

    return body


def hint_command(argv: list[str]):
    from .hints import LEVELS
    from .hints import __doc__ as about

    parser = _parser("hint", about.splitlines()[0])
    parser.add_argument("name", metavar="MODULE.FUNCTION",
                        help="e.g. sampling.top_p_filter; an exercise alone (sampling) lists its functions")
    parser.add_argument("--level", type=int, default=1, metavar="N",
                        help="show levels 1 to N (1: the idea, 2: the approach, 3: the recipe; default 1)")
    args = parser.parse_args(argv)

    def body() -> int:
        from .hints import HINTS, allowed_levels, hint

        if args.name in EXERCISES:  # make hint EXERCISE=sampling
            names = [n.split(".", 1)[1] for n in HINTS if n.startswith(args.name + ".")]
            print(f"{args.name}: hints for {', '.join(names)}. One of them: make hint NAME={args.name}.{names[0]} "
                  f"(python -m grader hint {args.name}.{names[0]})")
            return 0
        # Past the course's last level: the levels it has, then one line saying so. A refusal the
        # user asked for is an answer, not an error (exit code 0; `make hint` prints no "Error 2").
        beyond = allowed_levels() < args.level <= LEVELS
        shown = hint(args.name, allowed_levels() if beyond else args.level)
        for number, text in enumerate(shown, 1):
            print(f"{args.name}, hint {number} of {allowed_levels()}: {text}")
        if beyond:
            print(f"No hint {args.level}: your course gives hints up to level {allowed_levels()}; "
                  f"ask your instructor for more.")
        elif len(shown) < min(LEVELS, allowed_levels()):
            print(f"More: make hint NAME={args.name} LEVEL={len(shown) + 1} "
                  f"(python -m grader hint {args.name} --level {len(shown) + 1})")
        return 0

    return body


def warm_command(argv: list[str]):
    parser = _parser("warm", "The warm workers that python -m grader keeps between gradings (Linux): "
                             "list them, or end them with --stop.")
    parser.add_argument("--stop", action="store_true", help="end every warm worker of your user account")
    args = parser.parse_args(argv)

    def body() -> int:
        from . import warm

        if args.stop:
            stopped = warm.stop_all()
            print(f"Stopped {len(stopped)} warm worker{'s' if len(stopped) != 1 else ''}.")
            return 0
        running = warm.described()
        for line in running:
            print(line)
        if not running:
            print("No warm worker is running; the next python -m grader starts one.")
        return 0

    return body


COMMANDS = {"batch": batch_command, "merge": merge_command, "report": report_command, "demo": demo_command,
            "record": record_command, "release": release_command, "hint": hint_command,
            "warm": warm_command}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in COMMANDS:
        body = COMMANDS[argv[0]](argv[1:])
    else:
        body = grade_command(argv)
    return run_command(body)
