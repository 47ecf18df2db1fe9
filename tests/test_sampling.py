"""Task 3 - temperature, entropy, top-k, top-p and one sampling step.

Graded: the implementation under test against the reference, against transformers' own warpers
(where that is the contract), and against the mathematics (lower temperature sharpens, T -> 0 is
argmax, frequencies of many draws match softmax(z / T)). Anchors (not graded): the reference
against transformers itself, so that the reference cannot drift.
"""
import math
from functools import lru_cache

import pytest
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from torch.overrides import TorchFunctionMode
from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from checks import expect_close, expect_type, expect_value_error, fail, hint_on_error, refuse_library_answers
from oracles import sample_next_token as warped_draws
from oracles import warped_probs

pytestmark = pytest.mark.sampling

# Property tests stop at the first failure and report it alone (one line for the student). Their
# first argument is a plain fixture (`tol`): Hypothesis probes the first argument as a possible
# `self`, and a submission (`impl`, `ref`) answers unknown attributes with a "missing file" error.
PROPERTY = settings(max_examples=60, report_multiple_bugs=False)

TEMPERATURES = (1, 0.5, 2, 0.1, 10, 0.7)
BAD_TEMPERATURES = (0, 0.0, -1, -0.5, float("nan"), float("inf"), float("-inf"))
TOP_P_HINT = ("keep the most likely tokens until their total reaches p (the one that crosses p stays, and the "
              "most likely always does), deciding ties and exact totals as TopPLogitsWarper does: "
              "make hint NAME=sampling.top_p_filter")


def random_logits(*shape, seed=0, scale=3.0, device="cpu") -> torch.Tensor:
    return (scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))).to(device)


def model_logits(model, tokenizer, texts=("The movie was full of", "Hi", "<|im_start|>user\n")) -> torch.Tensor:
    """The model's float32 next-token logits after each text, stacked: `[len(texts), vocab]` (a
    fresh copy each time: the code under test may change what it is given)."""
    return _model_logits(model, tokenizer, tuple(texts)).clone()


@lru_cache(maxsize=8)
def _model_logits(model, tokenizer, texts: tuple[str, ...]) -> torch.Tensor:
    rows = []
    for text in texts:
        ids = tokenizer(text, return_tensors="pt").input_ids.to(model.device)
        with torch.no_grad():
            rows.append(model(input_ids=ids).logits[0, -1].float())
    return torch.stack(rows)


def warm_up(lm) -> None:
    """The tests' own work for fixed inputs, which the grader's worker does once before it forks the
    test processes of a batch (grader/worker.py `_warm_up`)."""
    model_logits(lm.model, lm.tokenizer)
    model_logits(lm.model, lm.tokenizer, ("The movie was full of",))


def nats(probs: torch.Tensor) -> torch.Tensor:
    """The test's own entropy, in float64, independent of the implementation under test."""
    p = probs.double()
    return -torch.special.xlogy(p, p).sum(dim=-1)


def seeded(device, seed=1234) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def expect_same(got, want: torch.Tensor, what: str, hint: str = "") -> None:
    """Exactly `want` (filtered logits, drawn ids); a mismatch names the first entry that differs."""
    expect_type(got, torch.Tensor, what, hint)
    if got.shape != want.shape:
        fail(what, f"expected shape {list(want.shape)}, got {list(got.shape)}", hint)
    got, want = got.detach().cpu(), want.detach().cpu()
    differ = got != want  # -inf == -inf; a NaN differs from everything
    if differ.any():
        first = differ.nonzero()[0].tolist()
        fail(what, f"{int(differ.sum())} of {differ.numel()} entries differ, the first at index {first}: "
                   f"expected {want[tuple(first)].item():g}, got {got[tuple(first)].item():g}", hint)


def expect_input_unchanged(call, what: str, device) -> None:
    """`call(logits)` on a random [4, 30] batch must leave `logits` as it was."""
    logits = random_logits(4, 30, device=device)
    before = logits.clone()
    call(logits)
    if not torch.equal(before, logits):
        fail(what, "your function changed the logits it was given",
             "return a new tensor: masked_fill (not masked_fill_), x - m (not x.sub_(m)), no x[mask] = ...")


def same_device(got: torch.device, want) -> bool:
    """`cuda` (any index) matches `cuda:0`; otherwise the devices must be equal."""
    want = torch.device(want)
    return got.type == want.type and (want.index is None or got.index == want.index)


def check_draws(draws, batch: int, vocab: int, device, what: str) -> None:
    """`draws` is a LongTensor `[batch]` of token ids on `device`."""
    expect_type(draws, torch.Tensor, what, "return the drawn ids as a tensor")
    if list(draws.shape) != [batch]:
        fail(what, f"expected shape [{batch}] (one token per row), got {list(draws.shape)}",
             "torch.multinomial(probs, 1) is [batch, 1]: drop the last dimension with .squeeze(-1)")
    if draws.dtype != torch.long:
        fail(what, f"expected dtype torch.long, got {draws.dtype}", "torch.multinomial returns int64 ids")
    if not same_device(draws.device, device):
        fail(what, f"expected the ids on the logits' device {device}, got {draws.device}")
    if batch and (draws.min() < 0 or draws.max() >= vocab):
        fail(what, f"expected ids in [0, {vocab}), got {draws.min().item()}..{draws.max().item()}")


class CountMultinomial(TorchFunctionMode):
    """Records the input shape of every torch.multinomial / Tensor.multinomial call, however the
    implementation reaches it (torch.multinomial, probs.multinomial, Categorical(...).sample())."""

    def __init__(self):
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.multinomial or func is torch.Tensor.multinomial:
            self.shapes.append(tuple(args[0].shape))
        return func(*args, **(kwargs or {}))


@pytest.fixture(autouse=True)
def no_library_answers(request):
    """Graded tests refuse transformers' warpers from the submission's own code (tests/checks.py)."""
    if "impl" in request.fixturenames and request.node.get_closest_marker("anchor") is None:
        with refuse_library_answers(request.getfixturevalue("impl").folder):
            yield
    else:
        yield


# ----------------------------------------------------------------------------------------------
# softmax_with_temperature

@pytest.mark.points(3)
def test_softmax_with_temperature_matches_reference(impl, expected, tol, device):
    for shape in ((50,), (4, 50), (2, 3, 20)):
        logits = random_logits(*shape, device=device)
        for t in TEMPERATURES:
            what = f"softmax_with_temperature(logits of shape {list(shape)}, {t!r})"
            # live check: transformers' temperature warper, then torch.softmax
            want = expected(lambda ref: ref.sampling.softmax_with_temperature(logits, t),
                            oracle=lambda: torch.softmax(TemperatureLogitsWarper(float(t))(None, logits), dim=-1),
                            tol=tol.prob)
            expect_close(impl.sampling.softmax_with_temperature(logits.clone(), t), want, tol.prob, what,
                         "exp(logits / T) normalised over the LAST dimension; T divides the logits, "
                         "never the probabilities")


@pytest.mark.points(1)
def test_softmax_with_temperature_t1_is_softmax(impl, tol, device):
    logits = random_logits(4, 50, device=device)
    expect_close(impl.sampling.softmax_with_temperature(logits, 1.0), torch.softmax(logits, dim=-1), tol.prob,
                 "softmax_with_temperature(logits [4, 50], 1.0) vs torch.softmax(logits, dim=-1)",
                 "at T = 1 it is the plain softmax over the last dimension")


@pytest.mark.points(2)
@PROPERTY
@given(row=st.lists(st.floats(-100, 100, width=32), min_size=1, max_size=40),
       temperature=st.floats(0.05, 20))
@example(row=[1.0, -2.0, 3.0], temperature=0.5)
def test_softmax_with_temperature_sums_to_one(tol, impl, row, temperature):
    logits = torch.tensor([row, row[::-1]])
    got = impl.sampling.softmax_with_temperature(logits, temperature)
    what = f"softmax_with_temperature({row}, {temperature!r})"
    expect_type(got, torch.Tensor, what)
    if not torch.isfinite(got).all() or (got < 0).any():
        fail(what, f"got negative, NaN or inf probabilities {got[0].tolist()}",
             "subtract each row's max before exp()")
    expect_close(got.sum(dim=-1), torch.ones(2), tol.prob, f"each row's sum of {what}",
                 "normalise over the last dimension: weights / weights.sum(dim=-1, keepdim=True)")


@pytest.mark.points(3)
def test_softmax_with_temperature_large_logits(impl, tol, device):
    logits = torch.tensor([[1e4, -1e4, 0.0, 9999.0], [-1e4, -1e4, -1e4, -1e4],
                           [1e4, 1e4, 1e4, 1e4], [3e4, 1e4, -3e4, 0.0]], device=device)
    for t in (1, 0.5, 2, 0.01):
        what = f"softmax_with_temperature({logits.tolist()}, {t!r})"
        got = impl.sampling.softmax_with_temperature(logits.clone(), t)
        expect_type(got, torch.Tensor, what)
        if torch.isnan(got).any():
            fail(what, f"got NaN: {got.tolist()}", "exp(1e4) is inf and inf / inf is nan: subtract each "
                                                   "row's max before exp()")
        expect_close(got, torch.softmax(logits.double() / t, dim=-1), tol.prob, what,
                     "divide the logits by T and subtract each row's max before exp(); softmax does not "
                     "change when all logits shift")


@pytest.mark.points(3)
@PROPERTY
@given(row=st.lists(st.floats(-5, 5, width=32), min_size=2, max_size=30).filter(lambda r: max(r) - min(r) > 0.5),
       temperature=st.floats(0.25, 4))
@example(row=[1.0, -1.0, 2.0], temperature=1.0)
def test_softmax_with_temperature_lower_sharpens(tol, impl, row, temperature):
    logits = torch.tensor(row)
    hot = impl.sampling.softmax_with_temperature(logits.clone(), temperature)
    cold = impl.sampling.softmax_with_temperature(logits.clone(), temperature / 1.5)
    what = f"softmax_with_temperature({row}, T) at T = {temperature:g} and T = {temperature / 1.5:g}"
    expect_type(hot, torch.Tensor, what)
    if not nats(cold) < nats(hot):
        fail(what, f"the entropy should drop as T goes down, got {nats(hot):.6g} then {nats(cold):.6g}",
             "divide the logits by T: a lower T sharpens the distribution")
    if not cold.max() >= hot.max():
        fail(what, f"the top probability should rise as T goes down, got {hot.max():.6g} then {cold.max():.6g}",
             "divide the logits by T: a lower T sharpens the distribution")


@pytest.mark.points(2)
def test_softmax_with_temperature_lower_sharpens_model_logits(impl, model, tokenizer):
    logits = model_logits(model, tokenizer, ("The movie was full of",))[0]
    temperatures = (4, 2, 1, 0.5, 0.25)
    probs = [impl.sampling.softmax_with_temperature(logits.clone(), t) for t in temperatures]
    what = f"softmax_with_temperature(the model's logits after 'The movie was full of', T) for T = {temperatures}"
    entropies = [nats(p).item() for p in probs]
    tops = [p.max().item() for p in probs]
    if any(not b < a for a, b in zip(entropies, entropies[1:])):
        fail(what, f"the entropy should strictly drop as T goes down, got {[round(h, 4) for h in entropies]}",
             "divide the logits by T, never the probabilities")
    if any(not (b > a or b == a == 1.0) for a, b in zip(tops, tops[1:])):
        fail(what, f"the top probability should rise as T goes down, got {[round(p, 4) for p in tops]}",
             "divide the logits by T, never the probabilities")


@pytest.mark.points(2)
def test_softmax_with_temperature_approaches_argmax(impl, tol, device):
    logits = random_logits(6, 40, seed=3, scale=1.0, device=device)
    best = logits.argmax(dim=-1)
    logits[torch.arange(6, device=device), best] += 0.5  # a clear winner in every row
    one_hot = torch.nn.functional.one_hot(best, 40).double()
    distances = []
    for t in (1e-1, 1e-2, 1e-3, 1e-4):
        got = impl.sampling.softmax_with_temperature(logits.clone(), t)
        expect_type(got, torch.Tensor, f"softmax_with_temperature(logits [6, 40], {t})")
        distances.append((got.double().cpu() - one_hot.cpu()).abs().max().item())
    what = "softmax_with_temperature(logits [6, 40], T) for T = 0.1, 0.01, 0.001, 0.0001"
    if any(math.isnan(d) for d in distances) or any(b > a for a, b in zip(distances, distances[1:])):
        fail(what, f"the distance to the one-hot argmax should shrink as T -> 0, got {distances}",
             "divide the logits by T after subtracting the max: a tiny T must not give nan")
    expect_close(impl.sampling.softmax_with_temperature(logits.clone(), 1e-4), one_hot.float(), tol.prob,
                 "softmax_with_temperature(logits [6, 40], 1e-4) vs the one-hot argmax",
                 "as T -> 0 all the probability goes to the largest logit")


@pytest.mark.points(1)
def test_softmax_with_temperature_int_temperature(impl, tol, device):
    logits = random_logits(3, 20, device=device)
    for t in (2, 1):
        got = impl.sampling.softmax_with_temperature(logits.clone(), t)
        expect_close(got, torch.softmax(logits.double() / t, dim=-1), tol.prob,
                     f"softmax_with_temperature(logits [3, 20], {t}) with an int temperature",
                     "an int like 2 is a fine temperature: divide by it as a number")


@pytest.mark.points(2)
def test_softmax_with_temperature_bad_temperature_raises(impl, device):
    logits = random_logits(2, 10, device=device)
    for t in BAD_TEMPERATURES:
        what = f"softmax_with_temperature(logits, {t!r})"
        message = expect_value_error(lambda: impl.sampling.softmax_with_temperature(logits, t), what,
                                     ("temperature", repr(t)),
                                     "check first: temperature must be a finite number > 0")
        if t == 0 and not any(w in message.lower() for w in ("greedy", "argmax")):
            fail(what, f"the message {message!r} should point to greedy decoding for 'temperature 0'",
                 "e.g. \"temperature must be > 0, got 0; for 'temperature 0' use greedy decoding (argmax)\"")


@pytest.mark.points(1)
def test_softmax_with_temperature_does_not_modify_input(impl, device):
    expect_input_unchanged(lambda logits: impl.sampling.softmax_with_temperature(logits, 0.5),
                           "softmax_with_temperature(logits, 0.5)", device)


# ----------------------------------------------------------------------------------------------
# entropy

@pytest.mark.points(2)
def test_entropy_uniform_is_log_n(impl, tol, device):
    for n in (1, 2, 7, 49152):
        what = f"entropy(uniform over {n})"
        got = impl.sampling.entropy(torch.full((3, n), 1.0 / n, device=device))
        expect_close(got, torch.full((3,), math.log(n)), tol.logprob, what,
                     "-sum p log p over the last dimension, in nats (natural log)")


@pytest.mark.points(2)
def test_entropy_zero_probabilities(impl, tol, device):
    probs = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], device=device)
    what = f"entropy({probs.tolist()})"
    got = impl.sampling.entropy(probs)
    expect_type(got, torch.Tensor, what)
    if torch.isnan(got).any():
        fail(what, f"got NaN: {got.tolist()}", "0 * log 0 is nan in floating point but counts as 0: "
                                               "torch.special.xlogy(p, p) or a mask on p > 0")
    expect_close(got, torch.tensor([0.0, math.log(2), 0.0]), tol.logprob, what, "0 * log 0 counts as 0")
    one_hot = impl.sampling.entropy(torch.tensor([0.0, 1.0], device=device))
    expect_close(one_hot, torch.tensor(0.0), tol.logprob, "entropy([0.0, 1.0])",
                 "one row in, a 0-dim tensor out; 0 * log 0 counts as 0")


@pytest.mark.points(2)
def test_entropy_matches_reference(impl, expected, tol, device):
    probs = torch.softmax(random_logits(5, 30, seed=4, device=device), dim=-1)
    probs[:, ::3] = 0  # some exact zeros
    probs = probs / probs.sum(dim=-1, keepdim=True)
    for p in (probs, probs.reshape(5, 3, 10).softmax(dim=-1), probs[0]):
        what = f"entropy(probabilities of shape {list(p.shape)})"
        # live check: the test's own entropy, in float64
        want = expected(lambda ref: ref.sampling.entropy(p), oracle=lambda: nats(p).float(), tol=tol.logprob)
        expect_close(impl.sampling.entropy(p), want, tol.logprob, what,
                     "-sum p log p over the LAST dimension only: one entropy per row")
    expect_close(impl.sampling.entropy(probs), torch.distributions.Categorical(probs=probs).entropy(), tol.logprob,
                 "entropy(probabilities [5, 30]) vs torch.distributions.Categorical(probs).entropy()")


# ----------------------------------------------------------------------------------------------
# top_k_filter

@pytest.mark.points(3)
def test_top_k_filter_matches_transformers(impl, device):
    logits = random_logits(8, 100, seed=5, device=device)
    for k in (1, 2, 5, 50, 99, 100):
        expect_same(impl.sampling.top_k_filter(logits.clone(), k), TopKLogitsWarper(k)(None, logits),
                     f"top_k_filter(logits [8, 100], {k})",
                     "keep every logit >= the k-th largest of its row (torch.topk(...).values[..., -1:]), "
                     "the others become -inf")
    expect_same(impl.sampling.top_k_filter(logits[0].clone(), 5), TopKLogitsWarper(5)(None, logits[:1])[0],
                 "top_k_filter(logits [100] (one row), 5)", "work over the last dimension: [vocab] works too")


@pytest.mark.points(2)
def test_top_k_filter_ties(impl, device):
    cases = [([[1.0, 3.0, 2.0, 2.0]], 2), ([[5.0, 5.0, 5.0, 1.0]], 1), ([[0.0, 0.0, 0.0, 0.0]], 3)]
    integers = torch.randint(0, 5, (16, 20), generator=torch.Generator().manual_seed(6)).float()
    cases += [(integers.tolist(), k) for k in (1, 3, 7)]
    for rows, k in cases:
        logits = torch.tensor(rows, device=device)
        shown = rows if len(rows) == 1 else "integer logits [16, 20] with ties"
        expect_same(impl.sampling.top_k_filter(logits.clone(), k), TopKLogitsWarper(k)(None, logits),
                     f"top_k_filter({shown}, {k})",
                     "ties with the k-th largest all stay (compare values with the k-th largest, "
                     "do not keep exactly k indices)")


@pytest.mark.points(2)
@PROPERTY
@given(rows=st.integers(1, 12).flatmap(lambda v: st.lists(st.lists(st.integers(-3, 3), min_size=v, max_size=v),
                                                          min_size=1, max_size=4)),
       k=st.integers(1, 14))
@example(rows=[[1, 1, 0, -2]], k=2)
def test_top_k_filter_random_ties_match_transformers(tol, impl, rows, k):
    logits = torch.tensor(rows, dtype=torch.float32)
    expect_same(impl.sampling.top_k_filter(logits.clone(), k), TopKLogitsWarper(k)(None, logits),
                 f"top_k_filter({rows}, {k})", "keep the logits >= the k-th largest of each row; k above "
                                               "the vocabulary keeps everything")


@pytest.mark.points(1)
def test_top_k_filter_k_above_vocab(impl, device):
    logits = random_logits(3, 10, device=device)
    what = "top_k_filter(logits [3, 10], 25)"
    hint = "a k larger than the vocabulary keeps every token: use min(k, vocabulary size)"
    with hint_on_error(what, hint):
        got = impl.sampling.top_k_filter(logits.clone(), 25)
    expect_same(got, logits, what, hint)


@pytest.mark.points(1)
def test_top_k_filter_does_not_modify_input(impl, device):
    expect_input_unchanged(lambda logits: impl.sampling.top_k_filter(logits, 3),
                           "top_k_filter(logits, 3)", device)


@pytest.mark.points(1)
def test_top_k_filter_bad_k_raises(impl, device):
    logits = random_logits(2, 10, device=device)
    for k in (0, -3, 2.5):
        expect_value_error(lambda: impl.sampling.top_k_filter(logits, k), f"top_k_filter(logits, {k!r})",
                           ("k", repr(k)), "k must be a positive int: raise ValueError naming k and its value")


# ----------------------------------------------------------------------------------------------
# top_p_filter

@pytest.mark.points(3)
def test_top_p_filter_matches_transformers(impl, device):
    logits = random_logits(8, 100, seed=7, device=device)
    after_top_k = TopKLogitsWarper(20)(None, logits)  # -inf entries already, as in sampling
    for p in (0.01, 0.1, 0.5, 0.9, 0.95, 0.999, 1.0):
        for name, z in (("logits [8, 100]", logits), ("top-k filtered logits [8, 100]", after_top_k)):
            expect_same(impl.sampling.top_p_filter(z.clone(), p), TopPLogitsWarper(p)(None, z),
                         f"top_p_filter({name}, {p})", TOP_P_HINT)
    expect_same(impl.sampling.top_p_filter(logits[0].clone(), 0.9), TopPLogitsWarper(0.9)(None, logits[:1])[0],
                 "top_p_filter(logits [100] (one row), 0.9)", "work over the last dimension: [vocab] works too")


@pytest.mark.points(3)
def test_top_p_filter_keeps_crossing_token(impl, device):
    probs = torch.tensor([0.2, 0.5, 0.3], device=device)  # shuffled, so vocabulary order matters
    logits = probs.log()
    for p, kept in ((0.6, [False, True, True]), (0.4, [False, True, False]), (0.85, [True, True, True]),
                    (0.55, [False, True, True])):
        want = logits.masked_fill(~torch.tensor(kept, device=device), float("-inf"))
        what = f"top_p_filter(log of probabilities [0.2, 0.5, 0.3], {p})"
        expect_same(impl.sampling.top_p_filter(logits.clone(), p), want, what,
                     "keep the token whose probability makes the total cross p: with 0.5, 0.3, 0.2 and "
                     "p = 0.6 both 0.5 and 0.3 stay")
        expect_same(impl.sampling.top_p_filter(logits[None].clone(), p), want[None], f"{what} as one row of a batch")


@pytest.mark.points(1)
def test_top_p_filter_keeps_most_likely(impl, device):
    logits = random_logits(4, 50, seed=8, device=device)
    want = logits.masked_fill(logits < logits.amax(dim=-1, keepdim=True), float("-inf"))
    # 1e-9: 1 - p rounds to 1 in float32, so only the "always keep the most likely" rule keeps a token
    for p in (1e-6, 1e-9):
        got = impl.sampling.top_p_filter(logits.clone(), p)
        expect_same(got, want, f"top_p_filter(logits [4, 50], {p})", "the most likely token always stays, "
                                                                      "even when its probability alone exceeds p")


@pytest.mark.points(2)
def test_top_p_filter_exact_boundaries(impl, device):
    """Probabilities whose running totals land exactly on p (dyadic numbers are exact in floats):
    only the warper's own comparison (ascending, cumulative <= 1 - p) gives its answer there."""
    logits = torch.tensor([[0.5, 0.375, 0.125], [0.125, 0.5, 0.375], [0.25, 0.25, 0.5]], device=device).log()
    for p in (0.875, 0.5, 0.625, 0.75):
        expect_same(impl.sampling.top_p_filter(logits.clone(), p), TopPLogitsWarper(p)(None, logits),
                     f"top_p_filter(log of probabilities {[[0.5, 0.375, 0.125], [0.125, 0.5, 0.375], [0.25, 0.25, 0.5]]}, {p})",
                     "on an exact boundary: " + TOP_P_HINT)


@pytest.mark.points(2)
def test_top_p_filter_ties(impl, device):
    integers = torch.randint(0, 4, (16, 20), generator=torch.Generator().manual_seed(9)).float()
    cases = [([[1.0, 1.0, 1.0, 1.0]], 0.4), ([[2.0, 2.0, 1.0, 1.0, 0.0]], 0.5), ([[0.0, 0.0, 0.0, 5.0]], 0.9999)]
    cases += [(integers.tolist(), p) for p in (0.3, 0.6, 0.9)]
    for rows, p in cases:
        logits = torch.tensor(rows, device=device)
        shown = rows if len(rows) == 1 else "integer logits [16, 20] with ties"
        expect_same(impl.sampling.top_p_filter(logits.clone(), p), TopPLogitsWarper(p)(None, logits),
                     f"top_p_filter({shown}, {p})", "ties: " + TOP_P_HINT + " (sorting descending keeps a "
                                                    "different one of the tied tokens)")


@pytest.mark.points(2)
@PROPERTY
@given(rows=st.integers(1, 12).flatmap(lambda v: st.lists(st.lists(st.integers(-3, 3), min_size=v, max_size=v),
                                                          min_size=1, max_size=4)),
       p=st.floats(0.01, 1.0))
@example(rows=[[2, 1, 0, 0]], p=0.5)
def test_top_p_filter_random_ties_match_transformers(tol, impl, rows, p):
    logits = torch.tensor(rows, dtype=torch.float32)
    # A cumulative probability within float rounding of 1 - p can go either way; those are skipped.
    cumulative = logits.sort(dim=-1).values.softmax(dim=-1).cumsum(dim=-1)
    assume(not ((cumulative - (1 - p)).abs() < 1e-5).any())
    expect_same(impl.sampling.top_p_filter(logits.clone(), p), TopPLogitsWarper(p)(None, logits),
                 f"top_p_filter({rows}, {p!r})", TOP_P_HINT)


@pytest.mark.points(1)
def test_top_p_filter_does_not_modify_input(impl, device):
    expect_input_unchanged(lambda logits: impl.sampling.top_p_filter(logits, 0.5),
                           "top_p_filter(logits, 0.5)", device)


@pytest.mark.points(1)
def test_top_p_filter_bad_p_raises(impl, device):
    logits = random_logits(2, 10, device=device)
    for p in (0, 0.0, -0.1, 1.5, float("nan")):
        expect_value_error(lambda: impl.sampling.top_p_filter(logits, p), f"top_p_filter(logits, {p!r})",
                           ("p", repr(p)), "p must be in (0, 1]: raise ValueError naming p and its value")


# ----------------------------------------------------------------------------------------------
# sample_next_token

SAMPLING_SETTINGS = [  # (temperature, top_k, top_p)
    (1.0, None, None), (0.7, None, None), (2, None, None), (1.0, 10, None),
    (0.8, None, 0.9), (1.3, 20, 0.8), (0.5, 5, 0.5),
]


@pytest.mark.points(4)
def test_sample_next_token_matches_reference_draws(impl, expected, device):
    logits = random_logits(16, 64, seed=10, device=device)
    for t, k, p in SAMPLING_SETTINGS:
        what = f"sample_next_token(logits [16, 64], {t!r}, generator seeded 1234, top_k={k}, top_p={p})"
        want = expected(lambda ref: ref.sampling.sample_next_token(logits, t, seeded(device), top_k=k, top_p=p),
                        oracle=lambda: warped_draws(logits, t, seeded(device), k, p))
        got = impl.sampling.sample_next_token(logits.clone(), t, seeded(device), top_k=k, top_p=p)
        check_draws(got, 16, 64, device, what)
        expect_same(got, want, what, "divide by T, then top-k, then top-p, torch.softmax, and ONE "
                                      "torch.multinomial(probs, 1, generator=generator) for the whole batch")


@pytest.mark.points(2)
def test_sample_next_token_model_logits_match_reference(impl, expected, model, tokenizer, device):
    logits = model_logits(model, tokenizer).repeat(4, 1)  # [12, vocab]
    for t, k, p in ((0.7, 50, 0.9), (1.0, None, None), (1.5, None, 0.95)):
        what = f"sample_next_token(the model's logits [12, vocab], {t}, seeded generator, top_k={k}, top_p={p})"
        want = expected(lambda ref: ref.sampling.sample_next_token(logits, t, seeded(logits.device, 7), top_k=k,
                                                                   top_p=p),
                        oracle=lambda: warped_draws(logits, t, seeded(logits.device, 7), k, p))
        got = impl.sampling.sample_next_token(logits.clone(), t, seeded(logits.device, 7), top_k=k, top_p=p)
        check_draws(got, 12, logits.shape[-1], logits.device, what)
        expect_same(got, want, what, "the same random state must give the same tokens as generate(do_sample=True)")


# Sampling frequencies against softmax(z / T): a chi-square goodness-of-fit test. With a fixed
# seed it is deterministic; a correct sampler would fail it with probability 0.001 for a random
# seed. Upper 0.1 % points of the chi-square distribution, by degrees of freedom:
CHI2_CRITICAL_P001 = {1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515, 6: 22.458, 7: 24.322}
Z8 = torch.tensor([2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.5])  # every expected count >= 11 below
DRAWS = 20_000


@pytest.mark.points(1)
@pytest.mark.parametrize("temperature, top_k, top_p", [
    (1, None, None), (0.5, None, None), (2, None, None), (1.5, 4, None), (2.0, None, 0.7), (0.7, 5, 0.8)])
def test_sample_next_token_frequencies_match_softmax(impl, device, temperature, top_k, top_p):
    what = (f"{DRAWS} draws of sample_next_token({Z8.tolist()} in every row, {temperature!r}, "
            f"top_k={top_k}, top_p={top_p})")
    draws = impl.sampling.sample_next_token(Z8.to(device).repeat(DRAWS, 1), temperature, seeded(device, 2024),
                                            top_k=top_k, top_p=top_p)
    check_draws(draws, DRAWS, len(Z8), device, what)
    counts = torch.bincount(draws.cpu(), minlength=len(Z8)).double()
    expected = warped_probs(Z8[None], temperature, top_k, top_p)[0].double() * DRAWS
    hint = "divide the logits by T (not the probabilities), then top-k, then top-p, then sample from the softmax"
    impossible = (expected == 0) & (counts > 0)
    if impossible.any():
        i = int(impossible.nonzero()[0])
        fail(what, f"drew token {i} {int(counts[i])} times, but top-k/top-p leave it probability 0 "
                   f"(expected counts {expected.round().int().tolist()}, got {counts.int().tolist()})", hint)
    support = expected > 0
    dof = int(support.sum()) - 1
    statistic = (((counts - expected) ** 2)[support] / expected[support]).sum().item()
    if dof and statistic > CHI2_CRITICAL_P001[dof]:
        fail(what, f"the frequencies do not match softmax(logits / T): chi-square {statistic:.1f} > "
                   f"{CHI2_CRITICAL_P001[dof]} ({dof} degrees of freedom, p = 0.001); expected counts "
                   f"{expected.round().int().tolist()}, got {counts.int().tolist()}", hint)


@pytest.mark.points(2)
def test_sample_next_token_one_batched_draw(impl, device):
    logits = random_logits(8, 32, device=device)
    with CountMultinomial() as seen:
        impl.sampling.sample_next_token(logits.clone(), 1.0, seeded(device), top_k=10, top_p=0.9)
    if seen.shapes != [(8, 32)]:
        fail("sample_next_token(logits [8, 32], 1.0, generator, top_k=10, top_p=0.9)",
             f"expected one torch.multinomial call on the whole [8, 32] batch, saw {len(seen.shapes)} "
             f"call(s) with input shapes {[list(s) for s in seen.shapes]}",
             "draw all rows at once with torch.multinomial(probs, 1, generator=generator): a loop over rows "
             "is slower and, on a GPU, draws different tokens than generate() with the same seed")


@pytest.mark.points(2)
def test_sample_next_token_seeded_reproducible(impl, device):
    logits = random_logits(64, 50, scale=0.5, device=device)
    what = "sample_next_token(logits [64, 50], 1.0, generator seeded 1234)"
    first = impl.sampling.sample_next_token(logits.clone(), 1.0, seeded(device))
    torch.manual_seed(99)  # the global random state must not matter when a generator is given
    torch.rand(10)
    again = impl.sampling.sample_next_token(logits.clone(), 1.0, seeded(device))
    check_draws(first, 64, 50, device, what)
    expect_same(again, first, f"{what}, twice", "draw with the generator you are given: "
                                                 "torch.multinomial(probs, 1, generator=generator)")
    other = impl.sampling.sample_next_token(logits.clone(), 1.0, seeded(device, 4321))
    if torch.equal(other, first):
        fail(f"{what} and seeded 4321", "two different seeds drew the same 64 tokens",
             "sample with torch.multinomial and the generator, do not take the argmax")


@pytest.mark.points(2)
def test_sample_next_token_shape_dtype_device(impl, device):
    for batch in (5, 1):
        logits = random_logits(batch, 40, device=device)
        check_draws(impl.sampling.sample_next_token(logits.clone(), 0.9, seeded(device)), batch, 40, device,
                    f"sample_next_token(logits [{batch}, 40], 0.9, generator)")


@pytest.mark.points(2)
def test_sample_next_token_respects_top_k_top_p(impl, device):
    logits = random_logits(4, 30, seed=11, scale=1.0, device=device).repeat(250, 1)  # [1000, 30]
    for t, k, p in ((1.0, 1, None), (1.0, None, 1e-6), (1.5, 3, None), (1.0, None, 0.5), (2, 8, 0.6)):
        what = f"sample_next_token(logits [1000, 30], {t}, generator, top_k={k}, top_p={p})"
        draws = impl.sampling.sample_next_token(logits.clone(), t, seeded(device), top_k=k, top_p=p)
        check_draws(draws, 1000, 30, device, what)
        allowed = warped_probs(logits, t, k, p) > 0
        outside = ~allowed.gather(-1, draws[:, None])[:, 0]
        if outside.any():
            row = int(outside.nonzero()[0])
            fail(what, f"row {row} drew token {int(draws[row])}, which top-k/top-p remove "
                       f"(allowed: {allowed[row].nonzero()[:, 0].tolist()})",
                 "filter after the temperature: top-k, then top-p, then sample from what is left")


@pytest.mark.points(1)
def test_sample_next_token_zero_k_and_p_one_keep_all(impl, device):
    logits = random_logits(16, 40, device=device)
    want = impl.sampling.sample_next_token(logits.clone(), 0.8, seeded(device))
    got = impl.sampling.sample_next_token(logits.clone(), 0.8, seeded(device), top_k=0, top_p=1.0)
    expect_same(got, want, "sample_next_token(logits, 0.8, generator, top_k=0, top_p=1.0) vs no filter",
                 "as in generate(), top_k=0 and top_p=1.0 mean no filtering")


@pytest.mark.points(1)
def test_sample_next_token_bad_arguments_raise(impl, device):
    logits = random_logits(2, 10, device=device)
    sample = impl.sampling.sample_next_token
    for t in (0, -1.0, float("nan"), float("inf")):
        expect_value_error(lambda: sample(logits, t, seeded(device)), f"sample_next_token(logits, {t!r}, generator)",
                           ("temperature", repr(t)))
    for p in (0.0, 1.5):
        expect_value_error(lambda: sample(logits, 1.0, seeded(device), top_p=p),
                           f"sample_next_token(logits, 1.0, generator, top_p={p!r})", ("p", repr(p)))
    for k in (-1, 2.5):
        expect_value_error(lambda: sample(logits, 1.0, seeded(device), top_k=k),
                           f"sample_next_token(logits, 1.0, generator, top_k={k!r})", ("k", repr(k)))


@pytest.mark.points(1)
def test_sample_next_token_does_not_modify_input(impl, device):
    expect_input_unchanged(
        lambda logits: impl.sampling.sample_next_token(logits, 0.5, seeded(device), top_k=5, top_p=0.9),
        "sample_next_token(logits, 0.5, generator, top_k=5, top_p=0.9)", device)


# ----------------------------------------------------------------------------------------------
# Anchors: the reference against transformers itself (never graded)

@pytest.mark.anchor
def test_anchor_softmax_with_temperature_vs_temperature_warper(ref, tol, device):
    logits = random_logits(4, 50, device=device)
    for t in TEMPERATURES:
        want = torch.softmax(TemperatureLogitsWarper(float(t))(None, logits), dim=-1)
        expect_close(ref.sampling.softmax_with_temperature(logits, t), want, tol.prob,
                     f"reference softmax_with_temperature(logits, {t})")


@pytest.mark.anchor
def test_anchor_entropy_vs_categorical(ref, tol, device):
    probs = torch.softmax(random_logits(5, 30, device=device), dim=-1)
    expect_close(ref.sampling.entropy(probs), torch.distributions.Categorical(probs=probs).entropy(), tol.logprob,
                 "reference entropy vs Categorical.entropy()")


def anchor_logits(model, tokenizer, device) -> dict[str, torch.Tensor]:
    """Random, tie-heavy and real next-token logits, all `[batch, vocab]`."""
    return {"random": random_logits(8, 100, seed=12, device=device),
            "ties": torch.randint(0, 4, (32, 20), generator=torch.Generator().manual_seed(13)).float().to(device),
            "model": model_logits(model, tokenizer).to(device)}


@pytest.mark.anchor
def test_anchor_top_k_filter_vs_transformers(ref, model, tokenizer, device):
    for name, logits in anchor_logits(model, tokenizer, device).items():
        for k in (1, 2, 5, 19, 50, logits.shape[-1] + 1):
            expect_same(ref.sampling.top_k_filter(logits, k), TopKLogitsWarper(k)(None, logits),
                         f"reference top_k_filter({name} logits, {k})")


@pytest.mark.anchor
def test_anchor_top_p_filter_vs_transformers(ref, model, tokenizer, device):
    for name, logits in anchor_logits(model, tokenizer, device).items():
        for p in (1e-6, 0.1, 0.3, 0.5, 0.6, 0.9, 0.95, 0.999, 1.0):
            expect_same(ref.sampling.top_p_filter(logits, p), TopPLogitsWarper(p)(None, logits),
                         f"reference top_p_filter({name} logits, {p})")


@pytest.mark.anchor
def test_anchor_sample_next_token_vs_warper_chain(ref, model, tokenizer, device):
    """Temperature -> top-k -> top-p warpers, softmax, one multinomial: with a seeded generator and
    with the global seed (generator=None), as generate() draws."""
    for name, logits in anchor_logits(model, tokenizer, device).items():
        for t, k, p in SAMPLING_SETTINGS:
            probs = warped_probs(logits, t, k, p)
            want = torch.multinomial(probs, 1, generator=seeded(device, 5)).squeeze(-1)
            expect_same(ref.sampling.sample_next_token(logits, t, seeded(device, 5), top_k=k, top_p=p), want,
                         f"reference sample_next_token({name} logits, {t}, top_k={k}, top_p={p}), seeded generator")
            torch.manual_seed(6)
            want = torch.multinomial(probs, 1).squeeze(-1)
            torch.manual_seed(6)
            expect_same(ref.sampling.sample_next_token(logits, t, None, top_k=k, top_p=p), want,
                         f"reference sample_next_token({name} logits, {t}, top_k={k}, top_p={p}), global seed")


@pytest.mark.anchor
def test_anchor_sample_next_token_vs_generate(ref, model, tokenizer):
    """One sampled token from generate(do_sample=True, num_return_sequences=6) after torch.manual_seed
    equals the reference's draw from the same logits after the same seed."""
    text = "The movie was full of"
    ids = tokenizer(text, return_tensors="pt").input_ids.to(model.device)
    for t, k, p in ((1.0, None, None), (0.7, 50, 0.9), (1.3, None, 0.8), (2, 5, None)):
        torch.manual_seed(5)
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, max_new_tokens=1,
                             temperature=float(t), top_k=k or 0, top_p=p or 1.0, num_return_sequences=6,
                             output_logits=True, return_dict_in_generate=True, pad_token_id=tokenizer.eos_token_id)
        torch.manual_seed(5)
        got = ref.sampling.sample_next_token(out.logits[0].float(), t, None, top_k=k, top_p=p)
        expect_same(got, out.sequences[:, -1], f"reference sample_next_token vs generate() after {text!r}, "
                                                f"temperature={t}, top_k={k}, top_p={p}")


# ----------------------------------------------------------------------------------------------
# repetition_penalty (compared with transformers' RepetitionPenaltyLogitsProcessor directly)

from transformers import RepetitionPenaltyLogitsProcessor  # noqa: E402 - this section's own import

PENALTY_HINT = ("for every id seen in the row: divide a positive logit by the penalty, multiply a negative one "
                "by it; each id once, however often it occurs")


def seen_ids(batch: int, length: int, vocab: int, seed: int = 0, device="cpu") -> torch.Tensor:
    """Random ids `[batch, length]` in 0..vocab-1, repeats included."""
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed)).to(device)


@pytest.mark.points(2)
def test_repetition_penalty_matches_transformers(impl, tol, device):
    logits = random_logits(4, 50, seed=20, device=device)
    ids = seen_ids(4, 12, 50, seed=21, device=device)
    for penalty in (1.3, 2, 0.7, 1.0):
        want = RepetitionPenaltyLogitsProcessor(float(penalty))(ids, logits.clone())
        expect_close(impl.sampling.repetition_penalty(logits.clone(), ids, penalty), want, tol.prob,
                     f"repetition_penalty(logits [4, 50], ids [4, 12], {penalty!r})", PENALTY_HINT)
    want = RepetitionPenaltyLogitsProcessor(1.5)(ids[:1], logits[:1].clone())[0]
    expect_close(impl.sampling.repetition_penalty(logits[0].clone(), ids[0], 1.5), want, tol.prob,
                 "repetition_penalty(logits [50] (one row), ids [12], 1.5)",
                 "work over the last dimension: [vocab] logits with [seq] ids work too")
    # the ids as (nested) lists, as the docstring allows: made into ids on the logits' device
    hint = "accept lists too: torch.as_tensor(generated_ids, dtype=torch.long, device=logits.device)"
    for rows, ids_as_list, shown in ((logits, ids.tolist(), "[4, 12] as nested lists"),
                                     (logits[0], ids[0].tolist(), "[12] as a list, logits [50]")):
        what = f"repetition_penalty(logits on {rows.device}, ids {shown}, 1.5)"
        want = RepetitionPenaltyLogitsProcessor(1.5)(ids, logits.clone())
        with hint_on_error(what, hint):
            got = impl.sampling.repetition_penalty(rows.clone(), ids_as_list, 1.5)
        expect_close(got, want if rows.dim() == 2 else want[0], tol.prob, what, hint)
        if not same_device(got.device, rows.device):
            fail(what, f"expected the result on the logits' device {rows.device}, got {got.device}", hint)


@pytest.mark.points(2)
def test_repetition_penalty_by_hand(impl, tol, device):
    logits = torch.tensor([[2.0, -2.0, 1.0, 0.5, 0.0, -1.0]], device=device)
    ids = torch.tensor([[0, 1, 1, 1, 4]], device=device)
    expect_close(impl.sampling.repetition_penalty(logits.clone(), ids, 2.0),
                 torch.tensor([[1.0, -4.0, 1.0, 0.5, 0.0, -1.0]]), tol.prob,
                 "repetition_penalty([[2, -2, 1, 0.5, 0, -1]], ids [[0, 1, 1, 1, 4]], 2.0)",
                 "2 -> 1 (divided), -2 -> -4 (multiplied: dividing would raise it), token 1 seen three times "
                 "is still penalised once, 0 stays 0, unseen tokens keep their logits")


@pytest.mark.points(1)
def test_repetition_penalty_rows_use_their_own_ids(impl, tol, device):
    logits = random_logits(1, 30, seed=22, device=device).repeat(3, 1)
    ids = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 6, 6]], device=device)
    expect_close(impl.sampling.repetition_penalty(logits.clone(), ids, 2.0),
                 RepetitionPenaltyLogitsProcessor(2.0)(ids, logits.clone()), tol.prob,
                 "repetition_penalty(3 equal rows of logits [3, 30], ids [[0, 1, 2], [3, 4, 5], [6, 6, 6]], 2.0)",
                 "row i is penalised for row i's ids only (gather / scatter along the last dimension), "
                 "not for the ids of every row")


PENALTY_SHAPES = st.tuples(st.integers(1, 4), st.integers(1, 20), st.integers(1, 10))  # batch, vocab, seen


@pytest.mark.points(1)
@PROPERTY
@given(shape=PENALTY_SHAPES, seed=st.integers(0, 10_000))
@example(shape=(2, 5, 3), seed=0)
def test_repetition_penalty_one_changes_nothing(tol, impl, shape, seed):
    batch, vocab, length = shape
    logits = random_logits(batch, vocab, seed=seed)
    ids = seen_ids(batch, length, vocab, seed=seed + 1)
    expect_same(impl.sampling.repetition_penalty(logits.clone(), ids, 1.0), logits,
                 f"repetition_penalty(logits [{batch}, {vocab}], ids {ids.tolist()}, 1.0)",
                 "a penalty of 1.0 changes nothing: x / 1 = x and x * 1 = x; do not ban or shift seen tokens")


@pytest.mark.points(2)
@PROPERTY
@given(shape=PENALTY_SHAPES, seed=st.integers(0, 10_000), penalty=st.floats(1.0, 10.0))
@example(shape=(2, 5, 3), seed=0, penalty=2.0)
def test_repetition_penalty_never_favours_seen_tokens(tol, impl, shape, seed, penalty):
    """A penalty >= 1 never raises a seen token's logit, leaves the unseen ones alone, and so never raises the
    seen tokens' share of the probability (nor any seen token's probability against an unseen one)."""
    batch, vocab, length = shape
    logits = random_logits(batch, vocab, seed=seed)
    ids = seen_ids(batch, length, vocab, seed=seed + 1)
    what = f"repetition_penalty(logits {[round(x, 3) for x in logits[0].tolist()]}..., ids {ids.tolist()}, {penalty!r})"
    got = impl.sampling.repetition_penalty(logits.clone(), ids, penalty)
    expect_type(got, torch.Tensor, what)
    if got.shape != logits.shape:
        fail(what, f"expected shape {list(logits.shape)}, got {list(got.shape)}", "return logits of the same shape")
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, ids, True)
    rose = seen & (got > logits)
    if rose.any():
        row, token = rose.nonzero()[0].tolist()
        fail(what, f"the logit of seen token {token} (row {row}) rose from {logits[row, token].item():.4g} to "
                   f"{got[row, token].item():.4g}", "divide POSITIVE logits by the penalty and MULTIPLY negative "
                                                    "ones: with a penalty above 1 both move down")
    if not torch.equal(got[~seen], logits[~seen]):
        fail(what, "the logits of tokens that were never seen changed", "only the ids in generated_ids are penalised")
    share = [torch.softmax(z.double(), dim=-1).masked_fill(~seen, 0).sum(dim=-1) for z in (logits, got)]
    if (share[1] > share[0] + tol.prob.atol).any():
        fail(what, f"the seen tokens' total probability rose from {share[0].tolist()} to {share[1].tolist()}",
             PENALTY_HINT)


@pytest.mark.points(1)
def test_repetition_penalty_does_not_modify_input(impl, device):
    ids = seen_ids(4, 6, 30, seed=23, device=device)
    expect_input_unchanged(lambda logits: impl.sampling.repetition_penalty(logits, ids, 1.5),
                           "repetition_penalty(logits, ids, 1.5)", device)


@pytest.mark.points(1)
def test_repetition_penalty_bad_penalty_raises(impl, device):
    logits, ids = random_logits(2, 10, device=device), seen_ids(2, 3, 10, device=device)
    for penalty in (0, 0.0, -1.0, float("nan"), float("inf")):
        expect_value_error(lambda: impl.sampling.repetition_penalty(logits, ids, penalty),
                           f"repetition_penalty(logits, ids, {penalty!r})", ("penalty", repr(penalty)),
                           "check first: the penalty must be a finite number > 0 (1.0 changes nothing)")
