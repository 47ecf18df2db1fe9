"""Task 6: beam search, written as a loop over the model's forward pass.

Do NOT call `model.generate` here (the grader checks): the point is to write the loop yourself.

Greedy decoding keeps ONE sequence and always extends it with its most likely token. Beam search
keeps the `num_beams` best partial sequences (the *beams*). At every step it looks at every way
to extend every beam by one token (`num_beams * vocab` continuations), scores each by its sum of
token log-probabilities, and keeps the best. A continuation that ends (EOS, or the last step)
becomes a finished *hypothesis*; the best `num_beams` hypotheses are kept, and the best
`num_return_sequences` of them are the answer.

All beams run as ONE batch of `num_beams` rows, with a KV cache, as in Task 4:

    out = model(input_ids=step_input, cache=cache, use_cache=True, logits_to_keep=1)
    cache = out.cache
    logp = torch.log_softmax(out.logits[:, -1].float(), dim=-1)   # [num_beams, vocab]

After each step the new beams are a re-selection of the old rows (a good beam may go on in two
ways, a bad one in none), so row i of the cache must be made to hold the history of the beam
that new beam i extends: `cache.reorder_cache(beam_idx)` does it in place, with `beam_idx`
(LongTensor `[num_beams]`) the old row of each new beam.

The prompt's ids and the EOS ids are found as in Task 4 (exercises/decoding.py); a helper you
wrote there may be imported: `from .decoding import ...`.

Run the tests for this task with: pytest -m beam_search
"""
from __future__ import annotations


def beam_search(model, tokenizer, prompt: str, max_new_tokens: int, num_beams: int, *,
                length_penalty: float = 1.0, early_stopping: bool = False,
                num_return_sequences: int = 1) -> list[tuple[list[int], float]]:
    """The `num_return_sequences` best continuations of `prompt` by beam search, best first.

    The result must equal
        out = model.generate(**inputs, do_sample=False, num_beams=num_beams,
            length_penalty=length_penalty, early_stopping=early_stopping,
            num_return_sequences=num_return_sequences, max_new_tokens=max_new_tokens,
            output_scores=True, return_dict_in_generate=True)
    : the same new ids per sequence (cut after its first EOS) and the same scores as
    `out.sequences_scores` (within a small tolerance).

    What to compute (generate()'s bookkeeping, transformers 5.24):
        1. the prompt ids repeated `num_beams` times, `[num_beams, prompt_len]`, read in ONE
           forward pass; the running score of beam 0 is 0 and of the others -inf (they are copies
           of the same prompt: only beam 0 may be extended at the first step);
        2. at each step: `totals = beam_scores[:, None] + logp`, `[num_beams, vocab]`; take the
           best `keep = max(2, 1 + number of EOS ids) * num_beams` of `totals.flatten()` with
           `topk` (the beam is `index // vocab`, the token `index % vocab`);
        3. a candidate ENDS if its token is an EOS id (`model.generation_config.eos_token_id`, an
           int or a list, as in Task 4; None: no EOS id, only the last step ends a candidate, and
           `keep = 2 * num_beams`) or if this is step `max_new_tokens`. Among the best
           `num_beams` candidates (not all `keep`), each one that ends becomes a hypothesis with
           score `its sum / length ** length_penalty`, length = its number of new tokens, EOS
           included; keep the best `num_beams` hypotheses. Skip this when `early_stopping` is
           True and `num_beams` hypotheses are already kept, or when the search can no longer
           improve (step 5);
        4. the next beams: the best `num_beams` candidates that do NOT end (that is why `keep` is
           larger than `num_beams`); reorder the cache to them, feed each its new token,
           `[num_beams, 1]`;
        5. stop after the last step, or once `num_beams` hypotheses are kept and either
           `early_stopping` is True, or (False) the best running beam's sum divided by its
           current length ** length_penalty is not above the worst kept hypothesis's score;
        6. return the best `num_return_sequences` hypotheses, best first.
        Run under `torch.no_grad()`.

    Pitfalls:
        - Reorder the cache by the chosen beams every step: without it, row i goes on with the
          history of the OLD beam i and the scores stop matching the sequences.
        - A candidate that ends must not be extended any further, and only the best
          `num_beams` candidates of a step may become hypotheses.
        - Scores are log-probabilities (log_softmax of the float32 logits), summed, then divided
          by length ** length_penalty only when a hypothesis is finished.
        - With `num_beams=1` beam search is greedy decoding.

    Args:
        model: a causal LM in eval mode. Do not modify it.
        tokenizer: its tokenizer. Do not modify it.
        prompt: the text to continue.
        max_new_tokens: the most tokens to add, an int >= 1.
        num_beams: how many beams, an int >= 1.
        length_penalty: the exponent of the length in the score (a finite number): 1.0 is the
            mean log-prob per token, 0 the plain sum, above 1 favours longer sequences.
        early_stopping: True or False, as for generate().
        num_return_sequences: how many sequences to return, 1 to `num_beams`.

    Returns:
        `[(new_ids, score), ...]`, `num_return_sequences` pairs, highest score first: `new_ids` a
        list of ints as `greedy_decode` returns them (prompt not included, EOS kept), `score` a
        Python float.

    Raises:
        ValueError: `prompt` encodes to no tokens, `max_new_tokens`, `num_beams` or
            `num_return_sequences` is not an int >= 1, `num_return_sequences > num_beams`, or
            `length_penalty` is not a finite number.

    Checked by: pytest -m beam_search
        tests/test_beam_search.py::test_beam_search_matches_reference
        tests/test_beam_search.py::test_beam_search_beams_end_at_different_steps
        tests/test_beam_search.py::test_beam_search_bookkeeping_decides_which_sequences_finish
        tests/test_beam_search.py::test_beam_search_without_an_eos_id_runs_to_max_new_tokens
        tests/test_beam_search.py::test_beam_search_scores_are_length_normalised_log_probs
        tests/test_beam_search.py::test_beam_search_returns_best_first
        tests/test_beam_search.py::test_beam_search_one_beam_is_greedy
        tests/test_beam_search.py::test_beam_search_uses_the_kv_cache_in_one_batch
        tests/test_beam_search.py::test_beam_search_bad_arguments_raise
        tests/test_beam_search.py::test_beam_search_default_arguments
        tests/test_beam_search.py::test_beam_search_one_beam_stops_at_eos_like_greedy
        tests/test_beam_search.py::test_beam_search_needs_no_pad_id
        and every graded test in tests/test_beam_search.py fails if model.generate is called
    """
    raise NotImplementedError("beam_search: num_beams rows in one batch, keep the best continuations, "
                              "reorder the cache, score finished ones by sum / length ** length_penalty. "
                              "Task 6.1 - run: pytest -m beam_search")
