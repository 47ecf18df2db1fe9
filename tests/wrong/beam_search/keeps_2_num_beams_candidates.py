"""Looks at 2 * num_beams candidates per step (an old hint), not max(2, 1 + number of EOS ids) * num_beams: with 3 EOS ids, fewer beams may go on running."""
import torch

from ._forward import forward
from ._reference import _check_args  # noqa: F401
from .decoding import stop_and_pad_ids
from .next_token import encode_prompt


@torch.no_grad()
def beam_search(model, tokenizer, prompt, max_new_tokens, num_beams, *, length_penalty=1.0, early_stopping=False,
                num_return_sequences=1):
    _check_args(max_new_tokens, num_beams, length_penalty, early_stopping, num_return_sequences)
    prompt_ids = encode_prompt(tokenizer, prompt, model.device)  # [1, P]
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    eos = torch.tensor(eos_ids, dtype=torch.long, device=model.device)
    # candidates looked at per step: enough that, even if every beam's best continuations end with
    # an EOS id, num_beams of them do not end and can go on running (generate() keeps as many)
    keep = 2 * num_beams

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
        out, cache = forward(model, step_input, cache, logits_to_keep=1)
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
