# Two commands on a fresh machine:  `make run` (the main job)  and  `make test`.
# Each creates .venv and installs bioglom into it the first time.

PYTHON ?= python3
VENV ?= .venv
# PyTorch is pinned to 2.13.0. Where pip finds a local CPU wheel of it (as on bioglom's CI)
# that is what it takes; elsewhere pip takes PyPI's build for your platform (on Linux a
# CUDA build of several GB). To choose another build, e.g. a CPU-only wheel from
# PyTorch's own CPU index, set TORCH_SPEC:  make test TORCH_SPEC="torch==2.13.0 --index-url <CPU index>"
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.bioglom-installed
ARGS ?=

.PHONY: install run test test-slow benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q $(TORCH_SPEC)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python simulations/wake_sleep.py $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(ARGS)

benchmark: $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[benchmark]"
	$(BIN)/python benchmarks/columns.py $(ARGS)
	$(BIN)/python benchmarks/learning.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/distributed.py
	$(BIN)/python benchmarks/kernels.py
	$(BIN)/python benchmarks/profile_runs.py
	$(BIN)/python benchmarks/memory_estimate.py
	$(BIN)/python benchmarks/pairs.py
	$(BIN)/python benchmarks/compiled.py
	$(BIN)/python benchmarks/jobs.py

clean:
	rm -rf $(VENV) results
