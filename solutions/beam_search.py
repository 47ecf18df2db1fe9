"""Task 6, reference: beam search, as a loop over the model's forward pass.

Greedy decoding keeps one sequence and extends it with its most likely token. Beam search keeps
the `num_beams` best partial sequences (the beams) and, at every step, extends all of them by
every token of the vocabulary, keeping the `num_beams` best of those `num_beams * vocab`
continuations. A beam's score is the sum of its tokens' log-probabilities. When a continuation
ends (an EOS token, or the last step), it becomes a finished *hypothesis*, scored by that sum
divided by its length to the power `length_penalty`; the best `num_beams` hypotheses are kept.

All beams run as ONE batch of `num_beams` rows. After each step the beams are a new selection of
the old rows (a good beam can continue in two ways, a bad one in none), so the KV cache is
reordered to match: row i of the cache must hold the history of the new beam i.

The bookkeeping (how many candidates to look at, when a hypothesis may be added, when the search
stops) follows `generate(num_beams=..., do_sample=False)` in transformers 5.24, so the results
are the same ids and `sequences_scores`. Nothing here calls `model.generate`.
"""
from __future__ import annotations

import math
import numbers

import torch

from .decoding import stop_and_pad_ids
from .next_token import encode_prompt


def _check_args(max_new_tokens, num_beams, length_penalty, early_stopping, num_return_sequences) -> None:
    for name, value in (("max_new_tokens", max_new_tokens), ("num_beams", num_beams),
                        ("num_return_sequences", num_return_sequences)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if num_return_sequences > num_beams:
        raise ValueError(f"num_return_sequences ({num_return_sequences}) cannot be more than num_beams "
                         f"({num_beams}): beam search keeps only num_beams finished sequences")
    if (isinstance(length_penalty, bool) or not isinstance(length_penalty, numbers.Real)
            or not math.isfinite(length_penalty)):
        raise ValueError(f"length_penalty must be a finite number, got {length_penalty!r}")
    if not isinstance(early_stopping, bool):
        raise ValueError(f"early_stopping must be True or False, got {early_stopping!r}")


@torch.no_grad()
def beam_search(model, tokenizer, prompt: str, max_new_tokens: int, num_beams: int, *,
                length_penalty: float = 1.0, early_stopping: bool = False,
                num_return_sequences: int = 1) -> list[tuple[list[int], float]]:
    """The `num_return_sequences` best continuations of `prompt` by beam search, best first.

    Equals `model.generate(do_sample=False, num_beams=num_beams, length_penalty=length_penalty,
    early_stopping=early_stopping, num_return_sequences=num_return_sequences,
    output_scores=True, return_dict_in_generate=True)`: the same new ids (each cut after its
    EOS) and its `sequences_scores`.

    Args:
        model: a causal LM in eval mode.
        tokenizer: its tokenizer.
        prompt: the text to continue.
        max_new_tokens: the most tokens to add, an int >= 1.
        num_beams: how many partial sequences to keep at each step, an int >= 1 (1 is greedy).
        length_penalty: a finished sequence's score is sum(log p) / length ** length_penalty,
            length = its number of new tokens, EOS included. Log-probs are negative, so above 1
            favours longer sequences, 0 scores by the plain sum.
        early_stopping: True stops as soon as `num_beams` sequences have finished; False stops
            when no running beam can still beat the worst of them (or after `max_new_tokens`).
        num_return_sequences: how many finished sequences to return, 1 to `num_beams`.

    Returns:
        `[(new_ids, score), ...]`: `num_return_sequences` pairs, highest score first; `new_ids`
        as `greedy_decode` returns them (prompt not included, ending with EOS if one was
        produced), `score` a float.

    Raises:
        ValueError: empty prompt, or a bad argument (`max_new_tokens`, `num_beams` or
            `num_return_sequences` below 1, more sequences asked for than beams, a length
            penalty that is not a finite number, an `early_stopping` that is not a bool).

    >>> from grader.models import load
    >>> lm = load("tiny", "cpu")
    >>> best = beam_search(lm.model, lm.tokenizer, "The movie was full of", 5, num_beams=3,
    ...                    num_return_sequences=2)
    >>> [len(ids) for ids, _ in best], best[0][1] >= best[1][1]
    ([5, 5], True)
    """
    _check_args(max_new_tokens, num_beams, length_penalty, early_stopping, num_return_sequences)
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)  # [1, P]
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    eos = torch.tensor(eos_ids, dtype=torch.long, device=model.device)
    # candidates looked at per step: enough that, even if every beam's best continuations end with
    # an EOS id, num_beams of them do not end and can go on running (generate() keeps as many)
    keep = max(2, 1 + len(eos_ids)) * num_beams

    # the beams, as one batch: num_beams copies of the prompt, [num_beams, P]
    step_input = prompt_ids.repeat(num_beams, 1)
    beams = torch.zeros(num_beams, 0, dtype=torch.long, device=model.device)  # new ids, [num_beams, step]
    # each beam's running sum of log-probs, [num_beams]. The beams start as identical copies, so only
    # beam 0 may be extended at the first step (the others start at -inf); otherwise the first step
    # would pick the same continuation num_beams times.
    beam_scores = torch.full((num_beams,), float("-inf"), device=model.device)
    beam_scores[0] = 0.0
    finished: list[tuple[float, list[int]]] = []  # (score, new ids): the best hypotheses so far
    can_improve = True  # could a running beam still beat the worst kept hypothesis?
    cache = None
    for step in range(max_new_tokens):
        out = model(input_ids=step_input, cache=cache, use_cache=True, logits_to_keep=1)
        cache = out.cache
        # log-probs of every next token for every beam, in float32 as generate() does: [num_beams, vocab]
        logp = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        vocab = logp.shape[-1]
        # the score of every continuation: the beam's sum plus the token's log-prob, [num_beams, vocab]
        totals = beam_scores[:, None] + logp
        # the best `keep` continuations over all beams at once, best first: [keep]
        top_scores, flat = totals.flatten().topk(keep)
        from_beam, token = flat // vocab, flat % vocab  # which beam each extends, with which token
        candidates = torch.cat([beams[from_beam], token[:, None]], dim=1)  # [keep, step + 1]
        # a continuation ends with an EOS id, or because this is the last step
        last_step = step + 1 == max_new_tokens
        ends = torch.isin(token, eos) | last_step  # [keep]

        # 1. finished hypotheses: only the best num_beams candidates count; each is scored by its
        # sum of log-probs over its length (EOS included) to the power length_penalty
        full = len(finished) == num_beams
        if can_improve and not (early_stopping and full):
            length = step + 1
            normalised = (top_scores[:num_beams] / length ** length_penalty).tolist()
            finished += [(normalised[i], candidates[i].tolist()) for i in range(num_beams) if ends[i]]
            finished.sort(key=lambda hyp: -hyp[0])  # best first; keep the num_beams best
            del finished[num_beams:]

        # 2. the next beams: the best num_beams candidates that do not end, [num_beams]
        running = (~ends).nonzero().squeeze(-1)[:num_beams]
        if last_step:
            break
        beams, beam_scores = candidates[running], top_scores[running]

        # 3. stop? Once num_beams hypotheses are kept: with early_stopping, at once; without, when
        # the best running beam, scored at its current length, cannot beat the worst of them
        # (generate()'s heuristic: later tokens only add negative log-probs)
        full = len(finished) == num_beams
        if full:
            best_possible = (beam_scores[0] / (step + 1) ** length_penalty).item()
            can_improve = can_improve and best_possible > finished[-1][0]
        if not can_improve or (early_stopping and full):
            break

        # 4. the cache: row i must now hold the history of the beam that new beam i extends
        cache.reorder_cache(from_beam[running])
        step_input = beams[:, -1:]  # each beam's newest token, [num_beams, 1]

    return [(ids, score) for score, ids in finished[:num_return_sequences]]
