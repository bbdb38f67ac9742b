# World Models on CPU. `make all` = set up + the whole pipeline for both games at the
# small default scale; `make test` = the test suite. See README.md.
PY      := .venv/bin/python
MPIEXEC := .venv/bin/mpiexec
# MPI ranks for stage 05: 1 orchestrator + NP-1 workers (NP=1 runs in-process)
NP      ?= 2
GAMES   ?= doom carracing
# config overlay: small (default), tiny, or SCALE= for paper scale
SCALE   ?= small

.PHONY: all setup pipeline test bench clean-small

all: setup pipeline

setup: .venv/.installed

.venv/.installed: requirements.txt
	python3 -m venv .venv
	.venv/bin/pip install --upgrade pip -q
	.venv/bin/pip install -r requirements.txt
	touch $@

pipeline: setup
	@set -e; for g in $(GAMES); do \
	  echo "=== $$g ($(or $(SCALE),paper) scale) ==="; \
	  $(PY) 01_generate_data.py     --config $$g $(SCALE); \
	  $(PY) 02_train_vae.py         --config $$g $(SCALE); \
	  $(PY) 03_generate_rnn_data.py --config $$g $(SCALE); \
	  $(PY) 04_train_rnn.py         --config $$g $(SCALE); \
	  $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config $$g $(SCALE); \
	  $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config $$g $(SCALE) --eval; \
	  $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config $$g $(SCALE) --eval --random; \
	  $(PY) 06_plot_results.py      --config $$g $(SCALE); \
	done

test: setup
	$(PY) -m pytest -q tests

bench: setup
	$(PY) bench/dream_throughput.py
	$(PY) bench/real_env_rate.py
