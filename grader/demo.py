"""`python -m grader demo`: the exercise set's observations, computed with your own code.

For one prompt ("The movie was full of" unless --prompt says otherwise) it shows:

1. how the prompt is tokenised: ids and vocabulary spellings;
2. the 10 most likely next tokens;
3. continuations by greedy decoding (plain, and with a repetition penalty of 1.3), by beam search
   (4 beams) and by sampling at temperatures 1.0, 0.7, 0.5, 0.1 and with top-k and top-p, several
   samples each, with how diverse they are (distinct-n) and the score of each (its mean
   log-probability per token);
4. the probability and log-probability of each token of the greedy continuation;
5. the perplexity of "The movie was full of surprises" and of ungrammatical variants;
6. two plots (PNG, in --out): the next-token distribution at several temperatures, and its
   entropy against the temperature.

Every section calls the implementation chosen with --submission (default exercises/). A section
whose functions are not written yet says so in one line, and the rest still runs. Sampling uses
a seeded generator, so the same code gives the same output every run.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import models
from .messages import describe_failure
from .report import shown_path
from .submission import REPO, Submission

PROMPT = "The movie was full of"
SENTENCES = [
    "The movie was full of surprises",
    "The movies were full of surprises",
    "The movie were full of surprises",
    "The movies was full of surprises",
]
# (label, how, keyword arguments): greedy_decode, beam_search or sample_decode.
SETTINGS = [
    ("greedy", "greedy", {}),
    ("greedy, repetition penalty 1.3", "greedy", {"repetition_penalty": 1.3}),
    ("beam search, 4 beams", "beam", {"num_beams": 4}),
    ("T=1.0", "sample", {"temperature": 1.0}),
    ("T=0.7", "sample", {"temperature": 0.7}),
    ("T=0.5", "sample", {"temperature": 0.5}),
    ("T=0.1", "sample", {"temperature": 0.1}),
    ("T=1.0, top-k 50", "sample", {"temperature": 1.0, "top_k": 50}),
    ("T=1.0, top-p 0.9", "sample", {"temperature": 1.0, "top_p": 0.9}),
]
PLOT_TEMPERATURES = (0.1, 0.5, 0.7, 1.0, 1.5)
TOP_TOKENS_PLOTTED = 20
DEFAULT_OUT = REPO / "results" / "demo"


def distinct_n(sequences: list[list[int]], n: int) -> float:
    """Distinct-n (Li et al., 2016): distinct n-grams / all n-grams, over all sequences together.

    1.0 means no n-gram appears twice; near 0, the same phrase again and again. 0.0 when the
    sequences hold no n-gram at all.

    >>> distinct_n([[1, 2, 1, 2]], 2)  # bigrams (1,2) (2,1) (1,2): 2 distinct of 3
    0.6666666666666666
    """
    grams = [tuple(seq[i:i + n]) for seq in sequences for i in range(len(seq) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@dataclass
class Demo:
    """What every section needs, and what earlier sections leave for later ones."""

    impl: Submission
    lm: models.LoadedModel
    console: Console
    prompt: str = PROMPT
    out: Path = DEFAULT_OUT
    seed: int = 0
    max_new_tokens: int = 20
    num_samples: int = 5
    greedy_ids: list[int] | None = None  # set by the continuations section
    plots: list[Path] = field(default_factory=list)
    skipped: int = 0  # sections (or settings) that could not run

    @property
    def model(self):
        return self.lm.model

    @property
    def tokenizer(self):
        return self.lm.tokenizer

    def generator(self) -> torch.Generator:
        """A fresh generator seeded the same way for each setting: reproducible, order-free."""
        return torch.Generator(device=self.lm.device).manual_seed(self.seed)

    def show(self, token_id: int) -> str:
        """One token as readable text with its spaces and newlines visible: ' surprises'."""
        return escape(repr(self.tokenizer.decode([token_id])))

    def text(self, ids: list[int]) -> str:
        return escape(self.tokenizer.decode(ids).replace("\n", "\\n"))


def failure_line(demo: Demo, err: Exception) -> str:
    """One line for code that failed: which function, and which task to work on."""
    import pytest

    return describe_failure(pytest.ExceptionInfo.from_exception(err), demo.impl.folder)


def skipped(demo: Demo, line: str, what: str = "") -> None:
    demo.skipped += 1
    demo.console.print(f"  [yellow]skipped{escape(what)}[/]: {escape(line)}", soft_wrap=True)


def section_tokens(demo: Demo) -> None:
    ids = demo.impl.tokenization.encode(demo.tokenizer, demo.prompt)
    spellings = demo.impl.tokenization.tokens(demo.tokenizer, demo.prompt)
    table = Table("position", "id", "spelling", "text")
    for i, (token_id, spelling) in enumerate(zip(ids, spellings)):
        table.add_row(str(i), str(token_id), escape(spelling), demo.show(token_id))
    demo.console.print(table)
    demo.console.print(f"{len(ids)} tokens. 'Ġ' is how the vocabulary spells a leading space.")


def section_next_token(demo: Demo) -> None:
    top = demo.impl.next_token.top_k_next_tokens(demo.model, demo.tokenizer, demo.prompt, k=10)
    table = Table("rank", "next token", "p", "cumulative")
    total = 0.0
    for rank, (text, p) in enumerate(top, 1):
        total += p
        table.add_row(str(rank), escape(repr(text)), f"{p:.4f}", f"{total:.4f}")
    demo.console.print(table)
    demo.console.print(f"The 10 most likely tokens hold {total:.0%} of the probability.")


def _continuations(demo: Demo, how: str, kwargs: dict) -> tuple[list[list[int]], list[float] | None]:
    """One setting's continuations, and their scores when the method gives them (beam search)."""
    if how == "greedy":
        ids = demo.impl.decoding.greedy_decode(demo.model, demo.tokenizer, demo.prompt, demo.max_new_tokens,
                                               **kwargs)
        if not kwargs:
            demo.greedy_ids = ids
        return [ids], None
    if how == "beam":
        found = demo.impl.beam_search.beam_search(demo.model, demo.tokenizer, demo.prompt, demo.max_new_tokens,
                                                  num_return_sequences=kwargs["num_beams"], **kwargs)
        return [list(ids) for ids, _ in found], [float(score) for _, score in found]
    samples = demo.impl.decoding.sample_decode(demo.model, demo.tokenizer, demo.prompt, demo.max_new_tokens,
                                               generator=demo.generator(), num_samples=demo.num_samples, **kwargs)
    return samples, None


def _mean_logp(demo: Demo, ids: list[int]) -> float:
    """A continuation's score: its log-probability per token, from your continuation_logprobs (Task 5).
    Beam search with length_penalty 1 scores its sequences the same way."""
    logp = demo.impl.logprobs.continuation_logprobs(demo.model, demo.tokenizer, demo.prompt, ids)
    return float(sum(float(x) for x in logp) / len(ids)) if ids else float("nan")


def section_continuations(demo: Demo) -> None:
    demo.console.print(f"{demo.num_samples} samples per sampled setting, up to {demo.max_new_tokens} new tokens, "
                       f"seed {demo.seed}; beam search shows all its beams. distinct-n: distinct n-grams / all "
                       f"n-grams of the setting's texts (1 = nothing repeats). score: log p per token, the "
                       f"continuation's log-probability over its length, as beam search (length_penalty 1) "
                       f"scores it; higher = more likely to the model.")
    table = Table("setting", "distinct-1 / -2", "score", "continuation")
    failures: dict[str, list[str]] = {}  # one line per kind of failure, naming its settings
    scoring_failed = None
    for number, (label, how, kwargs) in enumerate(SETTINGS, 1):
        # The longest part of the demo: one line as each setting is done, so it is never silent.
        started = time.monotonic()
        try:
            samples, scores = _continuations(demo, how, kwargs)
        except Exception as err:  # greedy may work while sampling does not: keep going
            failures.setdefault(failure_line(demo, err), []).append(label)
            demo.console.print(f"  [dim]{number} of {len(SETTINGS)}: {escape(label)}: could not run (below)[/]")
            continue
        demo.console.print(f"  [dim]{number} of {len(SETTINGS)}: {escape(label)}: {len(samples)} "
                           f"continuation{'s' if len(samples) > 1 else ''} in {time.monotonic() - started:.1f} s[/]")
        if scores is None:
            try:
                scores = [_mean_logp(demo, ids) for ids in samples]
            except Exception as err:  # no scores, the texts still show
                scores, scoring_failed = [None] * len(samples), scoring_failed or failure_line(demo, err)
        diversity = f"{distinct_n(samples, 1):.2f} / {distinct_n(samples, 2):.2f}"
        for i, (ids, score) in enumerate(zip(samples, scores)):
            table.add_row(*((label, diversity) if i == 0 else ("", "")),
                          "-" if score is None else f"{score:.2f}", demo.text(ids))
        table.add_section()
    if table.rows:
        demo.console.print(table)
        demo.console.print("Greedy decoding and beam search go for the likeliest text (the highest scores) and "
                           "repeat themselves: beam search's beams barely differ (low distinct-n). Sampling trades "
                           "score for variety; the repetition penalty keeps greedy decoding from repeating its words.")
    for line, labels in failures.items():
        skipped(demo, line, f" ({'; '.join(labels)})")
    if scoring_failed:
        skipped(demo, scoring_failed, " (the score column)")


def section_token_table(demo: Demo) -> None:
    if demo.greedy_ids is None:
        skipped(demo, "needs the greedy continuation, and greedy_decode did not run (Task 4, see above)")
        return
    ids = demo.greedy_ids
    logp = demo.impl.logprobs.continuation_logprobs(demo.model, demo.tokenizer, demo.prompt, ids)
    logp = [float(x) for x in logp]
    demo.console.print(f"The greedy continuation: {escape(repr(demo.prompt))} + "
                       f"{escape(repr(demo.tokenizer.decode(ids)))}")
    table = Table("position", "token", "p", "log p")
    for i, (token_id, lp) in enumerate(zip(ids, logp), 1):
        table.add_row(str(i), demo.show(token_id), f"{math.exp(lp):.4f}", f"{lp:.3f}")
    demo.console.print(table)
    if logp:
        demo.console.print(f"Sum of log p: {sum(logp):.3f} (the log-probability of the whole "
                           f"continuation); its perplexity exp(-mean log p): "
                           f"{math.exp(-sum(logp) / len(logp)):.2f}")


def section_perplexity(demo: Demo) -> None:
    values = demo.impl.logprobs.perplexity(demo.model, demo.tokenizer, SENTENCES)
    lowest = min(range(len(values)), key=lambda i: values[i])
    table = Table("sentence", "perplexity")
    for i, (sentence, value) in enumerate(zip(SENTENCES, values)):
        table.add_row(escape(sentence), f"{value:.2f}" + ("  <- lowest" if i == lowest else ""))
    demo.console.print(table)
    demo.console.print("Lower perplexity: the model finds the sentence more likely.")


def _next_token_logp(demo: Demo) -> torch.Tensor:
    """log p of the next token, [vocab]: logits up to a constant, which softmax ignores."""
    probs = demo.impl.next_token.next_token_probs(demo.model, demo.tokenizer, demo.prompt)
    return probs.detach().float().log()


def _figure(**kwargs):
    # The object-oriented API: no pyplot, no GUI backend, no global state.
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save(demo: Demo, figure, name: str) -> None:
    demo.out.mkdir(parents=True, exist_ok=True)
    path = demo.out / name
    with warnings.catch_warnings():  # a token's glyph missing from the font is not an error
        warnings.simplefilter("ignore")
        figure.savefig(path, dpi=110, bbox_inches="tight")
    demo.plots.append(path)
    demo.console.print(f"Saved {escape(str(path))}")


def section_plot_distribution(demo: Demo) -> None:
    logp = _next_token_logp(demo)
    softmax = demo.impl.sampling.softmax_with_temperature
    # temperature never changes the order of the tokens: the top 20 at T=1 are the top 20 at any T
    top = torch.topk(logp, min(TOP_TOKENS_PLOTTED, logp.numel())).indices
    labels = [repr(demo.tokenizer.decode([int(i)])) for i in top]
    figure = _figure(figsize=(10, 1.9 * len(PLOT_TEMPERATURES)), layout="constrained")
    # each panel has its own y scale, so the shape shows even where every bar is small
    axes = figure.subplots(len(PLOT_TEMPERATURES), 1, sharex=True)
    for ax, t in zip(axes, PLOT_TEMPERATURES):
        probs = softmax(logp, t).detach().float().cpu()[top.cpu()]
        ax.bar(range(len(top)), probs.tolist(), color="tab:blue")
        ax.set_ylabel("p")
        ax.set_title(f"T = {t}: the top token has p = {float(probs[0]):.2f}, the top {len(top)} "
                     f"hold {float(probs.sum()):.0%} of the probability", fontsize=10, loc="left")
    axes[-1].set_xticks(range(len(top)), labels, rotation=60, ha="right")
    figure.suptitle(f"Next token after {demo.prompt!r} at several temperatures")
    _save(demo, figure, "next_token_temperatures.png")


def section_plot_entropy(demo: Demo) -> None:
    logp = _next_token_logp(demo)
    softmax, entropy = demo.impl.sampling.softmax_with_temperature, demo.impl.sampling.entropy
    temperatures = [round(0.05 * i, 2) for i in range(1, 61)]  # 0.05 .. 3.0
    values = [float(entropy(softmax(logp, t))) for t in temperatures]
    marked = sorted({kw["temperature"] for _, how, kw in SETTINGS if how == "sample"})
    at = {t: float(entropy(softmax(logp, t))) for t in marked}
    figure = _figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.subplots()
    ax.plot(temperatures, values, color="tab:blue", label="entropy of the next token")
    ax.scatter(list(at), list(at.values()), color="tab:red", zorder=3, label="the demo's temperatures")
    ax.axhline(math.log(logp.numel()), color="gray", linestyle="--",
               label=f"uniform over {logp.numel()} tokens: log V")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("entropy H (nats)")
    ax.set_title(f"Entropy of the next token after {demo.prompt!r}")
    ax.legend()
    _save(demo, figure, "entropy_vs_temperature.png")
    table = Table("T", "entropy H (nats)", "e^H")
    for t, h in at.items():
        table.add_row(str(t), f"{h:.3f}", f"{math.exp(h):.1f}")
    demo.console.print(table)
    demo.console.print("e^H: sampling is as uncertain as a uniform choice among that many tokens.")


SECTIONS = [
    ("1. Tokenisation", section_tokens),
    ("2. Next token: the 10 most likely", section_next_token),
    ("3. Continuations: greedy and sampled", section_continuations),
    ("4. Per-token probabilities of the greedy continuation", section_token_table),
    ("5. Perplexity", section_perplexity),
    ("6a. Plot: the next-token distribution at several temperatures", section_plot_distribution),
    ("6b. Plot: entropy against temperature", section_plot_entropy),
]


def run_demo(impl: Submission, lm: models.LoadedModel, console: Console | None = None, **options) -> Demo:
    """Run every section in turn; `options` are Demo's fields (prompt, out, seed...)."""
    demo = Demo(impl=impl, lm=lm, console=console or Console(highlight=False), **options)
    demo.console.print(f"Demo of {escape(shown_path(impl.folder))} with model {escape(lm.name)} on {lm.device}; "
                       f"prompt {escape(repr(demo.prompt))}. {len(SECTIONS)} parts; on a laptop CPU with the "
                       f"default model about a minute in all, the continuations taking most of it.", soft_wrap=True)
    start = time.monotonic()
    for number, (title, section) in enumerate(SECTIONS, 1):
        demo.console.rule(f"[bold]{title}[/] [dim]({number} of {len(SECTIONS)}, {time.monotonic() - start:.0f} s "
                          f"so far)", align="left")
        with torch.no_grad():
            try:
                section(demo)
            except Exception as err:  # the student's code: NotImplementedError, or any bug
                skipped(demo, failure_line(demo, err))
    demo.console.rule(f"[dim]done in {time.monotonic() - start:.0f} s", align="left")
    if demo.plots:
        demo.console.print("Plots: " + ", ".join(escape(str(p)) for p in demo.plots), soft_wrap=True)
    if demo.skipped:
        demo.console.print(f"{demo.skipped} skipped (a part, or one setting of a part): each line above says why. Fix the "
                           f"function it names (the task number says where), then run the demo again.")
    return demo
