"""Task 1 - tokenisation: the implementation under test against the tokenizer itself and the reference."""
import copy

import pytest
import torch

from checks import expect_equal, expect_type, expect_value_error, fail, hint_on_error

pytestmark = pytest.mark.tokenization

# One text per situation that trips students up. The ids come from the tokenizer itself.
TEXTS = {
    "plain": "The movie was full of",
    "leading_space": " The movie was full of",
    "empty": "",
    "punctuation_and_newlines": "Wow!  It's... great.\nReally?",
    "accents": "Crème brûlée, naïve café",
    "japanese": "映画は驚きに満ちていた",
    "emoji": "The movie 🎬 was 👍",
}
BATCH = ["The movie was full of", "Hi", "", "映画は驚きに満ちていた"]


def tokenizer_state(tokenizer) -> dict:
    """What a function must not change on the tokenizer it is given."""
    return {
        "padding_side": tokenizer.padding_side,
        "truncation_side": tokenizer.truncation_side,
        "pad_token": tokenizer.pad_token,
        "eos_token": tokenizer.eos_token,
        "bos_token": tokenizer.bos_token,
        "vocab_size": len(tokenizer),
        "model_max_length": tokenizer.model_max_length,
    }


# Copies of the tokenizer that tests change, made before the worker forks (`warm_up`, which the
# grader calls in a warm worker and for a batch): each test takes one and changes it, so no copy
# serves twice in one test process; where none is left, the test copies the tokenizer itself.
_SPARE_COPIES: dict[int, list] = {}
COPIES = 3  # the graded tests below that change a copy


def tokenizer_copy(tokenizer):
    """A deep copy of `tokenizer` that the caller may change."""
    spare = _SPARE_COPIES.get(id(tokenizer))
    return spare.pop() if spare else copy.deepcopy(tokenizer)


def warm_up(lm) -> None:
    """The grader's worker, before it forks (grader/worker.py `_warm_up`): the copies the tests take."""
    _SPARE_COPIES[id(lm.tokenizer)] = [copy.deepcopy(lm.tokenizer) for _ in range(COPIES)]


def tokenizer_left_padded(tokenizer, texts) -> dict:
    """The tokenizer's own left-padded batch, padded with EOS when it has no pad token (on a copy)."""
    if tokenizer.pad_token is None:
        tokenizer = copy.deepcopy(tokenizer)
        tokenizer.pad_token = tokenizer.eos_token
    batch = tokenizer(texts, padding=True, padding_side="left", return_tensors="pt")
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


@pytest.mark.points(3)
@pytest.mark.parametrize("case", list(TEXTS))
def test_encode_matches_tokenizer(impl, tokenizer, case):
    text = TEXTS[case]
    expect_equal(impl.tokenization.encode(tokenizer, text), tokenizer(text)["input_ids"],
                 f"encode({text!r})", "return tokenizer(text)['input_ids'] as it is: no BOS/EOS added, "
                                      "no stripping of spaces")


@pytest.mark.points(1)
def test_encode_returns_list_of_ints(impl, tokenizer):
    got = impl.tokenization.encode(tokenizer, "The movie")
    expect_type(got, list, "encode('The movie')", "return a plain list, not a tensor or a dict")
    if not all(type(i) is int for i in got):
        fail("encode('The movie')", f"expected a list of int, got element types {sorted({type(i).__name__ for i in got})}",
             "convert with int(...) or .tolist()")


@pytest.mark.points(2)
@pytest.mark.parametrize("case", ["plain", "leading_space", "japanese"])
def test_tokens_are_vocabulary_spellings(impl, tokenizer, case):
    text = TEXTS[case]
    want = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    expect_equal(impl.tokenization.tokens(tokenizer, text), want, f"tokens({text!r})",
                 "spellings come from the vocabulary (convert_ids_to_tokens): ' movie' is spelt 'Ġmovie'")


@pytest.mark.points(2)
@pytest.mark.parametrize("case", list(TEXTS))
def test_decode_round_trip(impl, tokenizer, case):
    text = TEXTS[case]
    expect_equal(impl.tokenization.decode(tokenizer, tokenizer(text)["input_ids"]), text,
                 f"decode(ids of {text!r})", "decode all ids together; decoding one id at a time breaks "
                                            "characters that span several byte-level tokens")


@pytest.mark.points(1)
def test_decode_matches_tokenizer(impl, tokenizer):
    ids = tokenizer("<|im_start|>user\nHi<|im_end|>")["input_ids"]
    expect_equal(impl.tokenization.decode(tokenizer, ids), tokenizer.decode(ids),
                 "decode(ids with special tokens)", "keep special tokens: tokenizer.decode(ids)")


@pytest.mark.points(4)
def test_batch_encode_left_padding(impl, tokenizer):
    got = impl.tokenization.batch_encode(tokenizer, BATCH)
    expect_type(got, dict, f"batch_encode({BATCH!r})", "return a dict with input_ids and attention_mask")
    for key in ("input_ids", "attention_mask"):
        if key not in got:
            fail(f"batch_encode({BATCH!r})", f"the result has no {key!r} key (keys: {sorted(got)})")
        expect_type(got[key], torch.Tensor, f"batch_encode(...)[{key!r}]", "build tensors with torch.tensor(...)")
        if got[key].dtype != torch.long:
            fail(f"batch_encode(...)[{key!r}]", f"expected dtype torch.long, got {got[key].dtype}",
                 "torch.tensor(rows, dtype=torch.long)")
    want = tokenizer(BATCH, padding=True, padding_side="left", return_tensors="pt")
    expect_equal(got["attention_mask"], want["attention_mask"], f"batch_encode({BATCH!r})['attention_mask']",
                 "1 on real tokens, 0 on padding, padding on the LEFT")
    expect_equal(got["input_ids"], want["input_ids"], f"batch_encode({BATCH!r})['input_ids']",
                 "pad on the LEFT so each row's last token is in the last column")


@pytest.mark.points(2)
def test_batch_encode_pad_is_eos_without_pad_token(impl, tokenizer):
    no_pad = tokenizer_copy(tokenizer)
    no_pad.pad_token = None
    what = "batch_encode(['The movie was full of', 'Hi']) with a tokenizer that has no pad token"
    hint = "when tokenizer.pad_token_id is None, pad with tokenizer.eos_token_id"
    # (the tokenizer's own error, when asked to pad, suggests setting its pad token: the hint says what to do instead)
    with hint_on_error(what, f"{hint} yourself, without changing the tokenizer"):
        got = impl.tokenization.batch_encode(no_pad, ["The movie was full of", "Hi"])
    row = got["input_ids"][1].tolist()
    expect_equal(row[: len(row) - 1], [no_pad.eos_token_id] * (len(row) - 1), what, hint)


@pytest.mark.points(1)
def test_batch_encode_pad_id_inside_a_text(impl, tokenizer):
    """A chat turn ends with <|im_end|>, which is also this tokenizer's pad (and EOS) token: the
    mask must come from where the padding went, not from comparing ids with the pad id."""
    texts = ["<|im_start|>user\nHi<|im_end|>", "A longer text than the chat turn, to pad the other row"]
    what = f"batch_encode({texts!r})"
    with hint_on_error(what, "build the mask from each row's length, not from the ids"):
        got = impl.tokenization.batch_encode(tokenizer, texts)
    want = tokenizer_left_padded(tokenizer, texts)
    expect_type(got, dict, what, "return a dict with input_ids and attention_mask")
    expect_equal(got.get("attention_mask"), want["attention_mask"], f"{what}['attention_mask']",
                 "a real token may have the pad id (here <|im_end|>): mark padding by position, 1 on every "
                 "real token, 0 on the padding you added")
    expect_equal(got.get("input_ids"), want["input_ids"], f"{what}['input_ids']", "pad on the LEFT")


@pytest.mark.points(1)
def test_batch_encode_pads_with_the_pad_id_not_eos(impl, tokenizer):
    other = tokenizer_copy(tokenizer)
    other.pad_token = "<|endoftext|>"  # a pad token that is not the EOS token
    texts = ["The movie was full of surprises", "Hi there"]
    what = f"batch_encode({texts!r}) with a tokenizer whose pad token {other.pad_token!r} is not its EOS token"
    with hint_on_error(what, "pad with tokenizer.pad_token_id"):
        got = impl.tokenization.batch_encode(other, texts)
    expect_type(got, dict, what, "return a dict with input_ids and attention_mask")
    expect_equal(got.get("input_ids"), tokenizer_left_padded(other, texts)["input_ids"], what,
                 "pad with tokenizer.pad_token_id; only a tokenizer without a pad token pads with EOS")


@pytest.mark.points(1)
def test_batch_encode_texts_without_tokens(impl, tokenizer):
    what = "batch_encode(['', ''])"
    with hint_on_error(what, "two texts of 0 tokens give tensors of shape [2, 0]"):
        got = impl.tokenization.batch_encode(tokenizer, ["", ""])
    expect_type(got, dict, what, "return a dict with input_ids and attention_mask")
    for key in ("input_ids", "attention_mask"):
        value = got.get(key)
        expect_type(value, torch.Tensor, f"{what}[{key!r}]", "build tensors with torch.tensor(..., dtype=torch.long)")
        if list(value.shape) != [2, 0] or value.dtype != torch.long:
            fail(f"{what}[{key!r}]", f"expected a LongTensor of shape [2, 0], got {value.dtype} of shape "
                                     f"{list(value.shape)}",
                 "torch.tensor([[], []]) is float32: pass dtype=torch.long (and reshape to [batch, length])")


@pytest.mark.points(1)
def test_batch_encode_empty_list_raises(impl, tokenizer):
    expect_value_error(lambda: impl.tokenization.batch_encode(tokenizer, []), "batch_encode([])",
                       ("empty", "no text", "[]", "at least one"),
                       "an empty batch has no shape: raise ValueError('batch_encode: texts is empty ...')")


@pytest.mark.points(1)
def test_batch_encode_matches_reference(impl, expected, tokenizer):
    texts = ["a", "a b", "a b c", " leading", "日本"]
    # live check: the tokenizer's own left padding (with the pad id, EOS when it has none)
    want = expected(lambda ref: ref.tokenization.batch_encode(tokenizer, texts),
                    oracle=lambda: tokenizer_left_padded(tokenizer, texts))
    got = impl.tokenization.batch_encode(tokenizer, texts)
    for key in ("input_ids", "attention_mask"):
        expect_equal(got[key], want[key], f"batch_encode({texts!r})[{key!r}]",
                     "pad on the left with the pad id (EOS when there is none), mask 0 on padding, 1 on text")


@pytest.mark.points(2)
def test_tokenizer_not_changed(impl, tokenizer):
    # a copy (the session's tokenizer stays intact whatever happens here) on which the usual
    # changes show: it has no pad token and pads on the right, as many tokenizers do
    work = tokenizer_copy(tokenizer)
    work.pad_token = None
    work.padding_side = "right"
    before = tokenizer_state(work)
    impl.tokenization.encode(work, "The movie")
    impl.tokenization.tokens(work, "The movie")
    impl.tokenization.decode(work, [504, 7704])
    impl.tokenization.batch_encode(work, BATCH)
    after = tokenizer_state(work)
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    if changed:
        key, (old, new) = next(iter(changed.items()))
        fail("after calling your functions", f"the tokenizer's {key} changed from {old!r} to {new!r}",
             "never modify the tokenizer you are given: build the padding yourself")
