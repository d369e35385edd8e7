# pic1d: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv and install everything themselves (Python >= 3.10 and a C compiler only).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Use the system MPI when one is installed (mpicc on PATH), else the `mpich` wheel from PyPI.
SYSTEM_MPI := $(shell command -v mpicc 2>/dev/null)
ifeq ($(SYSTEM_MPI),)
  EXTRAS := mpi,dev
  MPIEXEC := $(VENV)/bin/mpiexec
else
  EXTRAS := dev
  MPIEXEC := $(shell command -v mpiexec 2>/dev/null || echo mpirun)
endif
DEMO_DIR ?= runs/demo
PYTEST_ARGS ?=

.PHONY: venv demo test test-serial test-mpi bench validate validate-extended lint clean help

help:
	@echo "make demo   - set up .venv, run decks/demo.toml, write figures to $(DEMO_DIR)/figures"
	@echo "make test   - set up .venv, run the test suite (serial, then MPI tests on 2 ranks)"
	@echo "make bench  - throughput benchmark (JSON in benchmarks/results/)"
	@echo "make validate - validation campaign (about 45 min; validation/report.md)"
	@echo "make validate-extended - the same plus the tau_c = 400, 800 runs and the noise controls of check 2 (+5 h)"
	@echo "make lint   - ruff"
	@echo "make clean  - remove build products and test runs (keeps .venv)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
ifneq ($(SYSTEM_MPI),)
	$(PY) -m pip install --quiet mpi4py
endif
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

# The demo: a compressing box going ion-cyclotron unstable, and its key figures.
demo: $(STAMP)
	$(PY) -m pic1d info decks/demo.toml
	$(PY) -m pic1d run decks/demo.toml --output $(DEMO_DIR) --overwrite
	$(PY) -m postprocess.anisotropy $(DEMO_DIR) --out $(DEMO_DIR)/figures
	$(PY) -m postprocess.omega_k $(DEMO_DIR) --out $(DEMO_DIR)/figures --window 20 --omega-max 3 --k-max 3
	@echo "figures written to $(DEMO_DIR)/figures"

test: test-serial test-mpi

test-serial: $(STAMP)
	NUMBA_NUM_THREADS=2 $(PY) -m pytest -q $(PYTEST_ARGS)

# MPI-marked tests on two ranks, one numba thread per rank. pytest exits 5 when a
# selection is empty; that is not a failure here.
test-mpi: $(STAMP)
	NUMBA_NUM_THREADS=1 $(MPIEXEC) -n 2 $(PY) -m pytest -q -p no:cacheprovider --with-mpi -m mpi $(PYTEST_ARGS); \
	  status=$$?; if [ $$status -eq 5 ]; then echo "no MPI tests collected"; exit 0; fi; exit $$status

# Validation campaign: runs decks/validation/*.toml (minutes each on 2 cores, under an hour in
# all; finished runs of unchanged decks are reused) and writes validation/report.md (figures in
# validation/figures/) and validation/results.json (pass/fail per check). See validation/README.md.
validate: $(STAMP)
	$(PY) validation/run.py

validate-extended: $(STAMP)
	$(PY) validation/run.py --extended

bench: $(STAMP)
	mkdir -p benchmarks/results
	$(PY) -m pic1d bench --json benchmarks/results/bench.json

lint: $(STAMP)
	$(PY) -m ruff check pic1d postprocess tests benchmarks validation

clean:
	rm -rf build dist *.egg-info .pytest_cache runs/demo
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
