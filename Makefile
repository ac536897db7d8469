# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    installs what is needed (once) and serves the dashboard on http://127.0.0.1:8501
#               (this machine only; HOST=0.0.0.0 make run serves a network, see the README)
#   make test   installs what is needed (once) and runs ruff and the test suite
# Both are idempotent: the virtual environment is rebuilt only when requirements.txt changes.
# The set-up also installs the `forgelens` command (same as `python -m core`) into $(VENV)/bin.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PORT ?= 8501
HOST ?= 127.0.0.1
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint sweep bench

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@# the `forgelens` command (pyproject's [project.scripts]) as an editable install, built by
	@# the venv's own setuptools (--no-build-isolation): nothing is downloaded for it
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	$(PY) -m dashboard.serve --server.address $(HOST) --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false \
		$(if $(filter-out 0,$(FORGELENS_DEV)),--client.showErrorDetails full)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

sweep: $(STAMP)
	$(PY) -m core run --scenario digits-to-mnist \
		--methods random,margin,entropy,duc,coreset,badge,clue,forge --budgets 0.05,0.1 --seeds 0,1,2
	$(PY) -m core table --scenario digits-to-mnist

bench: $(STAMP)
	$(PY) benchmarks/bench_experiment.py --store runs/_bench --jobs 2
	$(PY) benchmarks/bench_selection.py --n 100000 --store runs/_bench
	$(PY) benchmarks/bench_selection.py --n 100000 --clusters 100 --variants factored,pruned
	$(PY) benchmarks/bench_clue.py
	$(PY) benchmarks/bench_render.py
