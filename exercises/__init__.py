"""Your exercises. Fill in each function that raises NotImplementedError, then run `make grade`.

Tasks, in order: 1 tokenization.py, 2 next_token.py, 3 sampling.py, 4 decoding.py, 5 logprobs.py,
6 beam_search.py. Run one task's tests with `pytest -m tokenization` (or next_token, sampling,
decoding, logprobs, beam_search). Modules may import each other, in any form:
`from .sampling import sample_next_token`, `from exercises import sampling`...
"""
