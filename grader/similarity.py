"""Which submissions share code: a prompt for the instructor to look, never a verdict.

Each exercise module (``sampling.py``...) of every student is compared with the same module of
every other student by copydetect (https://github.com/blingenf/copydetect), an implementation of
the winnowing fingerprints that MOSS uses. copydetect first normalises the code with Pygments:
every variable name becomes ``V``, every function name ``F``, every string ``S``, and comments
and whitespace go, so renaming variables or rewording comments changes nothing. Then it hashes
every run of ``NOISE`` normalised characters. The starter code (the stubs in exercises/, their
signatures and docstrings) is boilerplate: its hashes are removed before comparing, so that
untouched stubs share nothing.

A pair is listed when the code they have in common is at least `threshold` of either file's
code (the starter code left out) and at least ``MIN_SHARED`` normalised characters: short
functions that everyone writes alike (``return tokenizer.decode(ids)``) must not make a pair.
Measured on the kit's independent correct implementations (the reference and tests/variants/,
14 pairs of the same module), the highest share is 0.31; a beam search copied with its variables
renamed scores 1.0 (docs/instructors.md, "The class report").
"""
from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from pathlib import Path

from .points import EXERCISES
from .submission import EXERCISES_DIR

NOISE = 25  # copydetect's default: the shortest run of normalised code that counts as shared
DEFAULT_THRESHOLD = 0.5
MIN_SHARED = 150  # normalised characters in common, about 8 lines of code
CONTEXT_LINES = 4  # lines shown around the shared code in the side-by-side view
SHOWN = 20  # the most similar pairs that the report shows side by side (the CSV has them all)


@dataclass
class Pair:
    """Two students' versions of one file that share code."""
    file: str  # "beam_search.py"
    a: str  # the students, a before b in name order
    b: str
    share_a: float  # the part of a's code (starter code left out) that is also in b's
    share_b: float
    shared: int  # normalised characters in common
    code_a: str = ""  # HTML: a's file with the shared code in <mark>, far-away lines cut (the most
    code_b: str = ""  # similar pairs only: similar_pairs(shown=...))

    @property
    def score(self) -> float:
        return max(self.share_a, self.share_b)


def _fingerprint(path: Path, boilerplate):
    from copydetect import CodeFingerprint

    return CodeFingerprint(str(path), NOISE, 1, boilerplate=boilerplate)


def starter_hashes(folder: Path = EXERCISES_DIR):
    """The fingerprints of the starter code: every exercise stub in `folder`."""
    import numpy as np

    hashes: set = set()
    for name in EXERCISES:
        path = folder / f"{name}.py"
        if path.is_file():
            hashes |= _fingerprint(path, None).hashes
    return np.array(sorted(hashes))


def similar_pairs(folders: dict[str, Path], threshold: float = DEFAULT_THRESHOLD, modules=EXERCISES,
                  starter: Path = EXERCISES_DIR, shown: int = SHOWN) -> tuple[list[Pair], list[str]]:
    """The pairs of students whose same exercise module shares code above `threshold`, most
    similar first; and one line per file that could not be read. `folders`: student -> the folder
    of their exercise modules; `modules`: the exercises to compare (those graded); the `shown`
    most similar pairs come with their code, the shared parts marked."""
    from copydetect import compare_files
    from copydetect.utils import highlight_overlap

    boilerplate = starter_hashes(starter)
    pairs, problems = [], []
    for module in modules:
        prints = {}
        for name in sorted(folders):
            path = Path(folders[name]) / f"{module}.py"
            if not path.is_file():
                continue
            try:
                prints[name] = _fingerprint(path, boilerplate)
            except (UnicodeDecodeError, OSError) as err:
                problems.append(f"{name}/{path.name} not compared: {err}")
        # Only the students who share at least one fingerprint can make a pair.
        holders: dict = {}
        for name, fp in prints.items():
            for h in fp.hashes:
                holders.setdefault(h, set()).add(name)
        candidates = {pair for names in holders.values() if len(names) > 1
                      for pair in itertools.combinations(sorted(names), 2)}
        for a, b in sorted(candidates):
            shared, (share_a, share_b), (slices_a, slices_b) = compare_files(prints[a], prints[b])
            if shared < MIN_SHARED or max(share_a, share_b) < threshold:
                continue
            pair = Pair(f"{module}.py", a, b, float(share_a), float(share_b), int(shared))
            pairs.append((pair, (prints[a].raw_code, slices_a), (prints[b].raw_code, slices_b)))
    pairs.sort(key=lambda found: (-found[0].score, -found[0].shared, found[0].file, found[0].a, found[0].b))
    for pair, (code_a, slices_a), (code_b, slices_b) in pairs[:shown]:
        pair.code_a, _ = highlight_overlap(code_a, slices_a, "<mark>", "</mark>", truncate=CONTEXT_LINES,
                                           escape_html=True)
        pair.code_b, _ = highlight_overlap(code_b, slices_b, "<mark>", "</mark>", truncate=CONTEXT_LINES,
                                           escape_html=True)
    return [pair for pair, _, _ in pairs], problems


CSV_FIELDS = ["file", "student_a", "student_b", "share_a", "share_b", "shared_characters"]


def write_csv(pairs: list[Pair], path: Path) -> None:
    """The pairs as a CSV: one row per pair and file, most similar first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for p in pairs:
            writer.writerow([p.file, p.a, p.b, f"{p.share_a:.3f}", f"{p.share_b:.3f}", p.shared])
