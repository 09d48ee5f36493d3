# kvopt: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help install demo test lint bench experiment-synthetic experiment-trace experiment-adversarial experiment-bins experiment-intervals experiment-burst experiment-fluid experiment-leaderboard clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dask]'
	$(PY) -m pip install --quiet -e '.[cpsat]' || echo 'warning: OR-Tools 9.11 is not installable here: the cpsat backend and its tests are skipped'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install kvopt with its test extras

demo: $(STAMP)  ## solve a shipped instance to optimality and print MC-SF's ratio table
	$(VENV)/bin/kvopt ratio kvopt/data/instances/demo/paper-zero-n10.json --policies mcsf

test: $(STAMP)  ## run the whole test suite
	$(PY) -m pytest

lint: $(STAMP)  ## the static gate: ruff (pyflakes, pycodestyle, isort, bugbear, pyupgrade, simplify) and mypy over kvopt/
	test -x $(VENV)/bin/mypy || $(PY) -m pip install --quiet -e '.[lint]'
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(STAMP)  ## benchmarks (not tests): IP at paper sizes, bounds, simulator scale, trace, time model
	$(PY) benchmarks/ip_paper.py
	$(PY) benchmarks/kth_bound.py
	$(PY) benchmarks/sim_scale.py
	$(PY) benchmarks/trace_policies.py
	$(PY) benchmarks/time_model_fit.py
	$(PY) benchmarks/trace_bound.py --moves 1000 --restarts 2 --stretch

# The experiments store one record per finished run under results/<name>/; rerunning a target
# resumes where it stopped and reuses every record whose inputs and settings are unchanged.
experiment-synthetic: $(STAMP)  ## the paper's 200 + 200 synthetic instances vs hindsight (~21 min, 2 cores)
	$(VENV)/bin/kvopt experiment synthetic --out results/synthetic

experiment-trace: $(STAMP)  ## real-trace experiment in seconds (Azure conv, ShareGPT) -> results/trace
	$(VENV)/bin/kvopt experiment trace --out results/trace

experiment-adversarial: $(STAMP)  ## MC-SF's ratio vs n on adversarial arrivals, table and plot
	$(VENV)/bin/kvopt experiment adversarial --out results/adversarial

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .hypothesis

experiment-bins: $(STAMP)  ## Multi-Bin Batching figures B-F1..B-F5 beside the paper (~3 min, 2 cores) -> results/bins
	$(VENV)/bin/kvopt experiment bins --out results/bins

experiment-intervals: $(STAMP)  ## A_max, A_min, H-SF: the alpha sweep on interval predictions (~4 min, 2 cores) -> results/intervals
	$(VENV)/bin/kvopt experiment intervals --out results/intervals

experiment-burst: $(STAMP)  ## serving cluster under load bursts: KunServe vs recompute, swap, migrate -> results/burst
	$(VENV)/bin/kvopt experiment burst --out results/burst
experiment-fluid: $(STAMP)  ## WAIT, Nested WAIT vs vLLM, Sarathi against rate (~5 min, 2 cores) -> results/fluid
	$(VENV)/bin/kvopt experiment fluid --out results/fluid
experiment-leaderboard: $(STAMP)  ## every registered policy on the scenario suite, certified intervals (~15-30 min) -> results/leaderboard (index.html)
	$(VENV)/bin/kvopt experiment leaderboard --out results/leaderboard --traces ../shared/traces
