"""Points: one home for each exercise's share of the 100 points, and for reading a test's weight.

Inside an exercise, each graded test declares its weight next to it with
``@pytest.mark.points(n)``; a test earns ``share * n / (sum of the weights in its exercise)``,
but that a broken rule costs at least a floor of the share (grader/result.py, `score`).
"""

# Exercise module -> share of 100 (reflects difficulty). Order is the order students work in.
# Beam search (Task 6) is the longest single function (candidates over all beams, finished
# hypotheses, stopping rules, the cache reordered every step): 15, taken from the three largest
# shares (sampling and decoding also gained the repetition penalty, a small addition each).
SHARES = {
    "tokenization": 10,
    "next_token": 10,
    "sampling": 20,
    "decoding": 25,
    "logprobs": 20,
    "beam_search": 15,
}
EXERCISES = tuple(SHARES)
TOTAL = sum(SHARES.values())
assert TOTAL == 100


def task_number(exercise: str) -> int | str:
    """The exercise's task number (the README's table), also when only some exercises are graded."""
    return EXERCISES.index(exercise) + 1 if exercise in EXERCISES else "-"


def exercise_of(item) -> str | None:
    """The exercise a pytest item belongs to (its exercise marker), or None."""
    for name in EXERCISES:
        if item.get_closest_marker(name):
            return name
    return None


def weight_of(item) -> float | None:
    """A graded item's weight (its points marker), or None when it is not graded."""
    marker = item.get_closest_marker("points")
    return float(marker.args[0]) if marker else None


def graded_tests(items, hidden_dir: str | None = None) -> list[dict]:
    """The graded items among `items`, as test processes report them to the worker: node id,
    exercise, weight, and whether it is one of the instructor's hidden tests (under `hidden_dir`)."""
    from pathlib import Path

    hidden = Path(hidden_dir).resolve() if hidden_dir else None
    return [{"nodeid": item.nodeid, "exercise": exercise_of(item), "weight": weight_of(item),
             "hidden": hidden is not None and hidden in Path(str(item.path)).resolve().parents}
            for item in items if weight_of(item) is not None]
