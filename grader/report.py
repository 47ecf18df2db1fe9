"""The terminal report: points per exercise, then one line per kind of failure."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .points import task_number
from .result import GradeResult


def _points(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def shown_path(path) -> str:
    """A folder as the user reads it: relative to the current folder when it is inside it
    ("exercises", not "/home/me/kit/exercises"), else as it is."""
    from pathlib import Path

    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve())) or "."
    except (ValueError, OSError):
        return str(path)


def compared_with(result: GradeResult) -> str:
    """What the graded tests compared with: the recordings, or live checks and why."""
    tests = [t for ex in result.exercises for t in ex.tests if t.expectations]
    sources = {t.expectations for t in tests}
    live = sorted(s for s in sources if s.startswith("live"))
    if live:
        return f"live checks built from transformers ({live[0][len('live ('):-1]})"
    if not sources:
        return "properties and transformers"
    kit, hidden = any(not t.hidden for t in tests), any(t.hidden for t in tests)
    return {(True, False): "recordings (tests/expectations)",
            (True, True): "recordings (tests/expectations, and the hidden tests' own)",
            (False, True): "recordings (the hidden tests' own)"}[kit, hidden]


# What to do next, after the table: the command line's (a notebook's check() says its own).
TIP = "Run one exercise's tests with `pytest -m <exercise>` (after `source .venv/bin/activate`)."


def print_report(result: GradeResult, console: Console | None = None, tip: str = TIP) -> None:
    console = console or Console(highlight=False)
    console.print(f"Grading {escape(shown_path(result.submission))} with model {escape(result.model)} on device {result.device}; "
                  f"compared with: {escape(compared_with(result))}")
    table = Table()
    table.add_column("Exercise")
    table.add_column("Points", justify="right")
    table.add_column("Tests passed", justify="right")
    for ex in result.exercises:
        number = task_number(ex.name)
        style = "green" if ex.earned >= ex.share - 1e-9 else ("red" if ex.earned == 0 else "yellow")
        table.add_row(f"{number}. {ex.name}", f"[{style}]{_points(ex.earned)} / {_points(ex.share)}[/]",
                      f"{ex.passed} / {len(ex.tests)}")
    table.add_section()
    table.add_row("[bold]Total", f"[bold]{_points(result.total)} / {_points(result.possible)}", "")
    console.print(table)

    for ex in result.exercises:
        if ex.note:
            console.print(f"[red]{ex.name}[/]: {escape(ex.note)}", overflow="fold")
        groups = ex.to_fix()  # hidden tests show as a count only
        if groups:
            console.print(f"\n[bold]{ex.name}[/] - what to fix:")
        for message, tests in groups.items():
            first = tests[0].name
            more = f" (+{len(tests) - 1} more)" if len(tests) > 1 else ""
            console.print(f"  [red]x[/] {escape(first)}{more}: {escape(message)}", overflow="fold")
        hidden = [t for t in ex.tests if t.hidden]
        if hidden:
            passed = sum(t.outcome == "passed" for t in hidden)
            console.print(f"  {ex.name}: {passed} of {len(hidden)} hidden tests passed")
    everything = all(t.outcome == "passed" for ex in result.exercises for t in ex.tests)
    if everything and result.total >= result.possible - 1e-9:
        console.print("\n[green]Everything passes.[/]")
    console.print(f"\nGraded in {result.seconds:.0f} s.{f' {tip}' if tip else ''}")
