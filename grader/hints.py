"""Hints in levels, one home per exercise function: `python -m grader hint sampling.top_p_filter`.

Level 1 is the idea (what the failure messages' hints also say), level 2 the approach, level 3
the recipe, nearly the answer. `--level N` shows levels 1 to N. The docstrings in exercises/ keep
the contract; the hints live in grader/hints.json. A student release holds levels 1 and 2 unless
the course chooses otherwise (`python -m grader release DIR --hint-levels 1|2|3`): the later
levels are left out of its hints.json, and the command says the course stops there.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import KitError

FILE = Path(__file__).resolve().parent / "hints.json"
LEVELS = 3

# module.function -> [level 1, level 2, level 3]; a student release may hold fewer levels.
HINTS: dict[str, list[str]] = json.loads(FILE.read_text(encoding="utf-8"))


def allowed_levels() -> int:
    """The last level this copy of the kit holds (a student release may stop earlier)."""
    return min(len(levels) for levels in HINTS.values())


def truncated(levels: int) -> str:
    """hints.json with levels 1..`levels` only, for a student release."""
    return json.dumps({name: hints[:levels] for name, hints in HINTS.items()}, indent=1, ensure_ascii=False) + "\n"


def hint(name: str, level: int) -> list[str]:
    """Levels 1..level of the hints of `name` ("module.function"), or a KitError that says why not."""
    if name not in HINTS:
        close = [n for n in HINTS if n.endswith("." + name) or n.startswith(name + ".")]
        raise KitError(f"no hints for '{name}'; use module.function, e.g. "
                       f"{close[0] if close else 'sampling.top_p_filter'} (all: {', '.join(HINTS)})")
    if not 1 <= level <= LEVELS:
        raise KitError(f"--level goes from 1 to {LEVELS}, got {level}")
    if level > allowed_levels():
        raise KitError(f"your course shows hints up to level {allowed_levels()}; ask your instructor for more")
    return list(HINTS[name][:level])
