# Set-up and the everyday commands. Every target creates or reuses one virtual environment, .venv.
# Without CUDA the CPU build of PyTorch is pinned (torch==2.13.0); with nvidia-smi present the
# package's plain torch range lets pip take the CUDA build. Elsewhere, a CPU wheel index can be
# given: make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed

.PHONY: venv test test-all demo lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v 'is ignored' || true
	if command -v nvidia-smi >/dev/null 2>&1; then \
	  $(PY) -m pip install --quiet 'torch>=2.4'; \
	else \
	  $(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH_SPEC); \
	fi 2>&1 | grep -v 'is ignored' || true
	$(PY) -m pip install --quiet -e '.[dev]' 2>&1 | grep -v 'is ignored' || true
	$(PY) -c "import torch, ray, mlflow, crossmoco.pipeline; print('torch', torch.__version__, '| ray', ray.__version__, '| mlflow', mlflow.__version__)"
	touch $(STAMP)

venv: $(STAMP)

test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest

test-all: venv
	$(PY) -m pytest -m ''

demo: venv
	$(PY) -m crossmoco demo

lint: venv
	$(PY) -m ruff check .

typecheck: venv
	$(PY) -m mypy crossmoco pipeline training models datasets experiments

# Every benchmark prints its figures beside its reference's. One that runs past BENCH_CAP seconds is stopped, and
# make bench says so and goes on (bench_step.py also caps each of its own measurements: --cap).
BENCH_CAP ?= 1800
bench: venv
	for f in bench/bench_*.py; do \
	  timeout $(BENCH_CAP) $(PY) $$f; rc=$$?; \
	  if [ $$rc -eq 124 ]; then echo "$$f: stopped after $(BENCH_CAP) s (BENCH_CAP); what it printed is partial"; \
	  elif [ $$rc -ne 0 ]; then exit $$rc; fi; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
