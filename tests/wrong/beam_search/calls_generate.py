"""Calls model.generate(num_beams=...) instead of writing the loop."""
import torch

from ._reference import _check_args  # noqa: F401
from .decoding import stop_and_pad_ids


@torch.no_grad()
def beam_search(model, tokenizer, prompt, max_new_tokens, num_beams, *, length_penalty=1.0, early_stopping=False,
                num_return_sequences=1):
    _check_args(max_new_tokens, num_beams, length_penalty, early_stopping, num_return_sequences)
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    if inputs.input_ids.shape[1] == 0:
        raise ValueError("empty prompt")
    out = model.generate(**inputs, do_sample=False, num_beams=num_beams, length_penalty=float(length_penalty),
                         early_stopping=early_stopping, num_return_sequences=num_return_sequences,
                         max_new_tokens=max_new_tokens, output_scores=True, return_dict_in_generate=True)
    eos_ids, _ = stop_and_pad_ids(model, tokenizer)
    found = []
    for row, score in zip(out.sequences[:, inputs.input_ids.shape[1]:].tolist(), out.sequences_scores.tolist()):
        end = next((i + 1 for i, t in enumerate(row) if t in eos_ids), len(row))
        found.append((row[:end], score))
    return found
