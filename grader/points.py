"""Points: one home for each exercise's share of the 100 points.

Inside an exercise, each graded test declares its weight next to it with
``@pytest.mark.points(n)``; a test earns ``share * n / (sum of the weights in its exercise)``.
"""

# Exercise module -> share of 100 (reflects difficulty). Order is the order students work in.
SHARES = {
    "tokenization": 10,
    "next_token": 10,
    "sampling": 25,
    "decoding": 30,
    "logprobs": 25,
}
EXERCISES = tuple(SHARES)
TOTAL = sum(SHARES.values())
assert TOTAL == 100
