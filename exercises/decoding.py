"""Task 4: greedy and sampled decoding, written as a loop over the model's forward pass.

Do NOT call `model.generate` here (the grader checks): the point is to write the loop yourself.
Nor transformers' logits warpers and processors (`TemperatureLogitsWarper`, `TopKLogitsWarper`,
`TopPLogitsWarper`, `RepetitionPenaltyLogitsProcessor`): use your own functions from Task 3
(the grader refuses those classes here too).

The loop: the first forward pass reads the whole prompt; each later pass reads only the newest
token, because the KV cache remembers the keys and values of everything read before. In
transformers 5.24 a forward pass takes the cache as `cache=` (with `use_cache=True`) and returns
the updated one as `out.cache` beside `out.logits` (`past_key_values` is the deprecated name);
`logits_to_keep=1` computes logits for the last position only, as `generate()` does.

Repetition penalty (both functions take `repetition_penalty=`): before choosing, pass each step's
float32 logits through your `repetition_penalty(logits, ids so far, penalty)` from Task 3, called
positionally (import it under another name, `from .sampling import repetition_penalty as
penalise`: inside these functions the name `repetition_penalty` is the keyword argument), with
the ids so far = the prompt AND every new token, `[batch, prompt_len + steps]`, as generate()
does. It comes first: the temperature, top-k and top-p work on the penalised logits.

End of sequence: stop on the ids `generate()` stops on, `model.generation_config.eos_token_id`
(an int or a list of ints; for SmolLM2 it is 2, "<|im_end|>"). The padding id written after a
row has finished is `model.generation_config.pad_token_id`, else the tokenizer's pad id, else
the first EOS id. When `model.generation_config.eos_token_id` is None there is NO EOS: run to
`max_new_tokens`, as generate() does (it never falls back to the tokenizer's EOS token); no row
ever finishes then, so no pad id is needed, and a model with neither must not make your code fail.

Run the tests for this task with: pytest -m decoding
"""
from __future__ import annotations

import torch


def greedy_decode(model, tokenizer, prompt: str, max_new_tokens: int, *,
                  repetition_penalty: float | None = None) -> list[int]:
    """Always take the most likely next token, for up to `max_new_tokens` steps.

    What to compute:
        1. ids of `prompt` as `tokenizer(prompt, return_tensors="pt")` gives them, on
           `model.device`: `[1, prompt_len]`;
        2. at each step: one forward pass with the cache, then the argmax of the last
           position's logits: the new token id;
        3. stop after `max_new_tokens` tokens, or right after an EOS token (keep the EOS id).
        Run under `torch.no_grad()`.

    Pitfalls:
        - After the first step feed only the new token, `[1, 1]`, with the cache; feeding the
          whole sequence again with the cache reads the prompt twice.
        - The result must equal `model.generate(**inputs, do_sample=False,
          max_new_tokens=max_new_tokens, repetition_penalty=repetition_penalty or 1.0)` without
          the prompt, EOS included.
        - The repetition penalty covers the prompt's ids too, not only the new ones.

    Args:
        model: a causal LM in eval mode. Do not modify it.
        tokenizer: its tokenizer. Do not modify it.
        prompt: the text to continue (plain text, or a chat-template string).
        max_new_tokens: an int >= 0; 0 gives [].
        repetition_penalty: None (or 1.0) for no penalty; else a finite number > 0.

    Returns:
        The new token ids (the prompt not included), ending with the EOS id if one was produced.

    Raises:
        ValueError: `prompt` encodes to no tokens, `max_new_tokens` is not an int >= 0, or the
            repetition penalty is not a finite number > 0.

    Checked by: pytest -m decoding
        tests/test_decoding.py::test_greedy_decode_matches_reference
        tests/test_decoding.py::test_greedy_decode_is_deterministic
        tests/test_decoding.py::test_greedy_decode_stops_after_eos
        tests/test_decoding.py::test_greedy_decode_without_an_eos_id_runs_to_max_new_tokens
        tests/test_decoding.py::test_greedy_decode_respects_max_new_tokens
        tests/test_decoding.py::test_greedy_decode_zero_new_tokens
        tests/test_decoding.py::test_greedy_decode_bad_input_raises
        tests/test_decoding.py::test_greedy_decode_uses_the_kv_cache
        tests/test_decoding.py::test_sample_decode_top_k_1_is_greedy (compares with greedy_decode)
        tests/test_decoding.py::test_greedy_decode_repetition_penalty_matches_reference
        tests/test_decoding.py::test_greedy_decode_repetition_penalty_covers_the_prompt
        tests/test_decoding.py::test_greedy_decode_repetition_penalty_one_changes_nothing
        tests/test_decoding.py::test_decoding_bad_repetition_penalty_raises
        tests/test_decoding.py::test_decoding_without_eos_or_pad_ids_runs_to_max_new_tokens
        and every graded test in tests/test_decoding.py fails if model.generate is called
    """
    raise NotImplementedError("greedy_decode: loop forward passes with a KV cache, append the "
                              "argmax token, stop after EOS. Task 4.1 - run: pytest -m decoding")


def sample_decode(model, tokenizer, prompt: str, max_new_tokens: int, temperature: float,
                  generator: torch.Generator | None, *, top_k: int | None = None,
                  top_p: float | None = None, num_samples: int = 1,
                  repetition_penalty: float | None = None) -> list[list[int]]:
    """Sample `num_samples` continuations of `prompt`, all together as one batch.

    With `generator` seeded `s`, it draws exactly what `model.generate(do_sample=True,
    num_return_sequences=num_samples, ...)` draws after `torch.manual_seed(s)` with the same
    settings (temperature, top-k, top-p, repetition penalty), each row cut after its first EOS.

    What to compute: all samples as ONE batch (`[num_samples, prompt_len]`: the same prompt in
    every row, so no padding), one forward pass with the cache per step for the whole batch, one
    draw per step with YOUR `sample_next_token` from Task 3 (`from .sampling import
    sample_next_token`; the grader checks that you reuse it), the repetition penalty first if one
    is given. A finished row's draw is replaced by the pad id; stop when every row has ended or
    after `max_new_tokens` steps; each row's list ends right after its first EOS.

    Pitfalls:
        - Finished rows must STILL take part in every draw (then be overwritten with the pad
          id): `torch.multinomial` draws for all rows at once, so leaving a row out shifts the
          random numbers of every later draw and the samples stop matching generate().
        - Check the arguments before the loop: with `max_new_tokens=0` a bad temperature,
          top_k or top_p must still raise.

    Args:
        model, tokenizer, prompt, max_new_tokens: as for `greedy_decode`.
        temperature: a finite number > 0.
        generator: a `torch.Generator` on the model's device (None: torch's global one).
        top_k, top_p: optional filters, as in `sample_next_token`.
        num_samples: how many continuations, an int >= 1.
        repetition_penalty: None (or 1.0) for no penalty; else a finite number > 0, applied to
            each row's logits with that row's ids so far (prompt, draws, and the pad ids written
            once it has finished, as generate() does).

    Returns:
        `num_samples` lists of new token ids; `max_new_tokens=0` gives `num_samples` empty lists.

    Raises:
        ValueError: empty prompt, `max_new_tokens` < 0, `num_samples` < 1, or a bad
            temperature, top_k, top_p or repetition penalty.

    Checked by: pytest -m decoding
        tests/test_decoding.py::test_sample_decode_matches_reference
        tests/test_decoding.py::test_sample_decode_rows_finish_at_different_times
        tests/test_decoding.py::test_sample_decode_returns_num_samples_lists
        tests/test_decoding.py::test_sample_decode_without_an_eos_id_runs_to_max_new_tokens
        tests/test_decoding.py::test_sample_decode_same_seed_same_output
        tests/test_decoding.py::test_sample_decode_different_seeds_differ
        tests/test_decoding.py::test_sample_decode_higher_temperature_is_more_diverse
        tests/test_decoding.py::test_sample_decode_top_k_1_is_greedy
        tests/test_decoding.py::test_sample_decode_uses_the_kv_cache_in_one_batch
        tests/test_decoding.py::test_sample_decode_zero_new_tokens
        tests/test_decoding.py::test_sample_decode_calls_your_sample_next_token
        tests/test_decoding.py::test_sample_decode_bad_arguments_raise
        tests/test_decoding.py::test_sample_decode_repetition_penalty_matches_reference
        tests/test_decoding.py::test_decoding_bad_repetition_penalty_raises
        tests/test_decoding.py::test_sample_decode_stops_once_every_row_has_ended
        tests/test_decoding.py::test_decoding_without_eos_or_pad_ids_runs_to_max_new_tokens
        tests/test_decoding.py::test_sample_decode_num_samples_defaults_to_1
        tests/test_decoding.py::test_sample_decode_top_k_0_keeps_every_token
    """
    raise NotImplementedError("sample_decode: one batch of num_samples rows, sample every row at "
                              "every step, pad finished rows. Task 4.2 - run: pytest -m decoding")
