"""Points: one home for each exercise's share of the 100 points.

Inside an exercise, each graded test declares its weight next to it with
``@pytest.mark.points(n)``; a test earns ``share * n / (sum of the weights in its exercise)``.
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
