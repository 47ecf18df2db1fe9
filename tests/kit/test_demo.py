"""`python -m grader demo`: runs end to end on the reference, degrades to one line per section on
the untouched stubs or on a broken function, is reproducible, and measures diversity correctly."""
import io
import re
import subprocess
import sys

import pytest
from make_submission import submission_with
from PIL import Image
from rich.console import Console

from grader import models
from grader.cli import main
from grader.demo import SECTIONS, SENTENCES, distinct_n, run_demo
from grader.submission import EXERCISES_DIR, REPO, SOLUTIONS_DIR, Submission

pytestmark = pytest.mark.kit

PLOTS = ("next_token_temperatures.png", "entropy_vs_temperature.png")
QUICK = ("--model", "tiny", "--device", "cpu", "--max-new-tokens", "6", "--samples", "3")


def run_demo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "demo", *QUICK, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def section_texts(stdout: str) -> dict[str, str]:
    """Each section's title -> the text printed under it."""
    starts = [(stdout.index(title), title) for title, _ in SECTIONS]
    ends = [start for start, _ in starts[1:]] + [len(stdout)]
    return {title: stdout[start:end] for (start, title), end in zip(starts, ends)}


def test_distinct_n_by_hand():
    samples = [[1, 2, 3, 1, 2], [1, 2, 4]]
    # unigrams: 8 in all, 4 distinct (1 2 3 4)
    assert distinct_n(samples, 1) == pytest.approx(4 / 8)
    # bigrams: 12 23 31 12 | 12 24 -> 6 in all, 4 distinct (12 23 31 24)
    assert distinct_n(samples, 2) == pytest.approx(4 / 6)
    assert distinct_n([[5, 6, 7]], 2) == 1.0  # nothing repeats
    assert distinct_n([[9, 9, 9, 9]], 1) == pytest.approx(1 / 4)  # one word four times
    assert distinct_n([[1], []], 2) == 0.0  # no bigram at all


def test_demo_on_reference_shows_every_section_and_writes_pngs(tmp_path):
    proc = run_demo_cli("--submission", str(SOLUTIONS_DIR), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    sections = section_texts(proc.stdout)
    assert "skipped" not in proc.stdout and "could not run" not in proc.stdout, proc.stdout
    assert "Ġmovie" in sections["1. Tokenisation"]
    assert "cumulative" in sections["2. Next token: the 10 most likely"]
    continuations = sections["3. Continuations: greedy and sampled"]
    for setting in ("greedy", "T=1.0", "T=0.7", "T=0.5", "T=0.1", "top-k 50", "top-p 0.9"):
        assert setting in continuations
    assert "log p" in sections["4. Per-token probabilities of the greedy continuation"]
    for sentence in SENTENCES:
        assert sentence in sections["5. Perplexity"]
    for name in PLOTS:
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 300
            image.verify()


def test_demo_on_untouched_stubs_says_not_implemented_per_section(tmp_path):
    proc = run_demo_cli("--submission", str(EXERCISES_DIR), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    for title, text in section_texts(proc.stdout).items():
        assert "skipped" in text, f"{title} did not say it was skipped:\n{text}"
        if title.startswith("4."):  # needs the greedy continuation of section 3
            assert "greedy_decode did not run" in text
        else:
            assert "not implemented yet" in text and "Task " in text, text
    assert not list(tmp_path.glob("*.png"))


def test_demo_names_a_broken_function_and_runs_the_rest(tmp_path):
    """A function that raises something other than NotImplementedError costs its section only."""
    broken = "\n\ndef perplexity(model, tokenizer, texts):\n    return 1 / 0\n"
    logprobs = (SOLUTIONS_DIR / "logprobs.py").read_text() + broken
    folder = submission_with(tmp_path / "broken", {"logprobs.py": logprobs})
    proc = run_demo_cli("--submission", str(folder), "--out", str(tmp_path / "plots"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    sections = section_texts(proc.stdout)
    assert "ZeroDivisionError" in sections["5. Perplexity"] and "logprobs.py:" in sections["5. Perplexity"]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.count("  skipped") == 1  # that section only
    assert all((tmp_path / "plots" / name).is_file() for name in PLOTS)


@pytest.mark.parametrize("args, says", [
    (["--submission", str(SOLUTIONS_DIR), "--model", "no-such-org/no-such-model"], "never downloads"),
    (["--submission", "no/such/folder"], "does not exist"),
    (["--submission", str(SOLUTIONS_DIR), "--prompt", "  "], "--prompt is empty"),
])
def test_bad_options_are_one_line(args, says, capsys):
    assert main(["demo", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1


def test_demo_is_reproducible(tmp_path):
    """Same seed, same output: the samples come from a seeded generator, not the global one."""
    lm = models.load("tiny", "cpu")
    impl = Submission(SOLUTIONS_DIR)

    def output(seed: int) -> str:
        console = Console(file=io.StringIO(), width=200, highlight=False)
        run_demo(impl, lm, console, out=tmp_path, seed=seed, max_new_tokens=6, num_samples=3)
        return re.sub(r"\d+ s\b", "N s", console.file.getvalue())  # the progress lines' seconds

    first = output(0)
    assert output(0) == first
    assert output(1) != first


def test_continuations_print_a_progress_line_each_and_no_library_bar(tmp_path):
    """The continuations part (most of the demo's time) prints one line as each setting is done;
    loading a model shows no library progress bar (transformers' "Loading weights")."""
    proc = run_demo_cli("--submission", str(SOLUTIONS_DIR), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    continuations = section_texts(proc.stdout)["3. Continuations: greedy and sampled"]
    from grader.demo import SETTINGS

    for number, (label, _, _) in enumerate(SETTINGS, 1):
        assert re.search(rf"{number} of {len(SETTINGS)}: {re.escape(label)}: \d+ continuations? in [\d.]+ s",
                         continuations), continuations
    # the default model is loaded with from_pretrained, which is where the bar came from
    load = subprocess.run([sys.executable, "-c", "from grader import models; models.load('default', 'cpu')"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert load.returncode == 0, load.stderr[-2000:]
    assert "Loading weights" not in load.stderr + load.stdout and "it/s" not in load.stderr, load.stderr[-2000:]
