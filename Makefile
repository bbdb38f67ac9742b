# World Models on CPU (README.md).
#   make all        set up .venv, stages 01-06 for both games at the small scale, then the shipped agents
#                   re-played here and one table beside the paper's (~35 min, 2 cores)
#   make test       the whole test suite (CI runs this); make test-fast: unit tests only (< 1 min)
#   make doom       the shipped DoomTakeCover agent (results/doom/) from its recipe: five config overlays
#   make doom-eval  score the shipped Doom agent over 100 real episodes again
#   make carracing  the shipped CarRacing agents (results/carracing/): V, M, then C for each table row
#   make carracing-eval  score a shipped CarRacing row over 100 episodes of the stock game again
#   make carracing-dream  side experiment: CarRacing's C trained in M's dream (docs/carracing-dream.md)
#   make carracing-dream-rounds  then iterative training on it; carracing-dream-eval: re-score its last round
PY      := .venv/bin/python
MPIEXEC := .venv/bin/mpiexec
# MPI ranks for stage 05: 1 orchestrator (mostly idle) + NP-1 workers; NP=1 runs in one process
NP      ?= 3
GAMES   ?= doom carracing
# overlay for `make pipeline`: small (default), tiny, or SCALE= for the paper's scale
SCALE   ?= small
# extra config names or key=value overrides appended to every stage of `make doom` (tests use this)
EXTRA   ?=

.PHONY: all shipped-check setup pipeline doom doom-eval carracing carracing-eval carracing-dream carracing-dream-rounds \
	carracing-dream-eval carracing-warm carracing-warm-eval carracing-best carracing-best-eval test test-fast bench

all: setup pipeline shipped-check
	$(PY) tools/first_run.py --car-episodes $(CAR_CHECK)

# The shipped agents played again on this machine, beside their records (never over them): Doom's
# 100 episodes (~2 min) and the first CAR_CHECK of CarRacing's zh row (~3.5 min for 20 beside another
# run); tools/first_run.py compares.
CAR_CHECK ?= 20
shipped-check: setup
	$(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config doom cpu --eval --check
	$(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config carracing cpu controller.real_eval_episodes=$(CAR_CHECK) --eval --check

setup: .venv/.installed

# REQUIREMENTS=requirements-gpu.txt on a CUDA machine (TensorFlow with its CUDA libraries)
REQUIREMENTS ?= requirements.txt
.venv/.installed: $(REQUIREMENTS) requirements-common.txt
	python3 -m venv .venv
	.venv/bin/pip install --upgrade pip -q
	.venv/bin/pip install -r $(REQUIREMENTS)
	touch $@

# `stage LOG CMD...` runs CMD and appends its wall time to LOG (results/<run>/timings.tsv, not committed).
STAGE = stage() { log=$$1; shift; t0=$$(date +%s); "$$@"; t1=$$(date +%s); mkdir -p $$(dirname $$log); \
          printf '%s\t%s\t%ss\n' "$$(date -u +%FT%TZ)" "$$(echo $$* | sed 's|.venv/bin/||g')" $$((t1-t0)) >> $$log; }

pipeline: setup
	@set -e; $(STAGE); for g in $(GAMES); do \
	  c="--config $$g $(SCALE)"; log=results/$$g$(if $(SCALE),-$(SCALE))/timings.tsv; \
	  echo "=== $$c ==="; \
	  stage $$log $(PY) 01_generate_data.py     $$c; \
	  stage $$log $(PY) 02_train_vae.py         $$c; \
	  stage $$log $(PY) 03_generate_rnn_data.py $$c; \
	  stage $$log $(PY) 04_train_rnn.py         $$c; \
	  stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $$c; \
	  stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $$c --eval; \
	  stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $$c --eval --random; \
	  stage $$log $(PY) 06_plot_results.py      $$c; \
	done

# The shipped DoomTakeCover agent. V and M in five phases, each a config overlay that starts from
# the last (config/doom-cpu/phase1-4.yaml, then config/cpu.yaml); then one controller per
# temperature of the paper's table, CMA-ES in the dream, each scored over 100 real episodes.
# Every step resumes or is skipped when done. On a clone with the committed world model
# (results/doom/world_model.npz) V and M are not trained again. About 8 h on 2 cores (docs/doom.md).
DOOM_PHASES := doom-cpu/phase1 doom-cpu/phase2 doom-cpu/phase3 doom-cpu/phase4 cpu
TAUS ?= 1.15 1.00 1.30 0.50 0.10 1.25
doom: setup
	@set -e; $(STAGE); \
	  wm=$$($(PY) -m worldmodels.config --config doom cpu $(EXTRA))/world_model.npz; \
	  if [ -f $$wm ]; then echo "$$wm exists: V and M are not trained again"; else \
	    for p in $(DOOM_PHASES); do c="--config doom $$p $(EXTRA)"; \
	      log=$$($(PY) -m worldmodels.config $$c)/timings.tsv; \
	      echo "=== $$c ==="; \
	      stage $$log $(PY) 01_generate_data.py     $$c; \
	      stage $$log $(PY) 02_train_vae.py         $$c; \
	      stage $$log $(PY) 03_generate_rnn_data.py $$c; \
	      stage $$log $(PY) 04_train_rnn.py         $$c; \
	    done; fi; \
	  log=$$(dirname $$wm)/timings.tsv; \
	  for t in $(TAUS); do c="--config doom cpu $(EXTRA) controller.dir=tau$$t controller.temperature=$$t"; \
	    stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $$c; \
	    stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $$c --eval; \
	  done; \
	  stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config doom cpu $(EXTRA) --eval --random; \
	  stage $$log $(PY) 06_plot_results.py --config doom cpu $(EXTRA)

# The shipped CarRacing agents: one V and M (2,000 random rollouts), then CMA-ES in the real game
# for each row of the paper's table (controller.inputs: zh = full world model, z = V model only,
# z_hidden = V model with a hidden layer), each scored over 100 episodes of the stock CarRacing-v3.
# Every step resumes or is skipped when done; with the committed world model (results/carracing/
# world_model.npz) V and M are not trained again. About 10 h on 2 cores (docs/carracing.md).
ROWS ?= zh z z_hidden
carracing: setup
	@set -e; $(STAGE); c="--config carracing cpu $(EXTRA)"; \
	  run=$$($(PY) -m worldmodels.config $$c); log=$$run/timings.tsv; \
	  if [ -f $$run/world_model.npz ]; then echo "$$run/world_model.npz exists: V and M are not trained again"; else \
	    stage $$log $(PY) 01_generate_data.py     $$c; \
	    stage $$log $(PY) 02_train_vae.py         $$c; \
	    stage $$log $(PY) 03_generate_rnn_data.py $$c; \
	    stage $$log $(PY) 04_train_rnn.py         $$c; \
	  fi; \
	  for r in $(ROWS); do \
	    stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $$c controller.dir=$$r controller.inputs=$$r; \
	    stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $$c controller.dir=$$r controller.inputs=$$r --eval; \
	  done; \
	  stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $$c --eval --random; \
	  stage $$log $(PY) 06_plot_results.py $$c

# Side experiment (docs/carracing-dream.md): CarRacing's M with a reward head, C trained in its dream
# at each temperature of DREAM_TAUS, then scored over 100 episodes of the stock game. It reads the
# recipe's rollouts (stage 01 regenerates them bit for bit if data/ is gone: ~1 h) and V; about 3 h
# on 2 cores in all. Every step resumes or is skipped when done.
DREAM_TAUS ?= 1.00 1.15 1.30 0.50
carracing-dream: setup
	@set -e; $(STAGE); c="--config carracing cpu experiments/carracing-dream $(EXTRA)"; \
	  log=$$($(PY) -m worldmodels.config $$c)/timings.tsv; \
	  stage $$log $(PY) 01_generate_data.py     $$c; \
	  stage $$log $(PY) 02_train_vae.py         $$c; \
	  stage $$log $(PY) 03_generate_rnn_data.py $$c; \
	  stage $$log $(PY) 04_train_rnn.py         $$c; \
	  for t in $(DREAM_TAUS); do ct="$$c controller.dir=tau$$t controller.temperature=$$t"; \
	    stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $$ct; \
	    stage $$log $(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $$ct --eval; \
	  done

# Iterative training (paper section 5) on the dream experiment's tau = 1.00 run: each round adds 500
# rollouts played by the last round's C, trains M 10 epochs more on all rollouts so far, trains a new C
# in the dream and scores it over 100 real episodes (~50 min a round on 2 cores; docs/iterative-training.md).
ROUNDS ?= 2
carracing-dream-rounds: setup
	$(PY) tools/iterate.py --config carracing cpu experiments/carracing-dream $(EXTRA) --rounds $(ROUNDS) \
	  --episodes 500 --rnn-epochs 10 --np $(NP)

# The dream-trained C (the last round above) as the start of CMA-ES in the real game, on its own
# world model, with the recipe's real-game settings (32 x 4, ~3.7 min a generation on 2 cores);
# then the cost of reaching 800 and 900 beside the recipe's zh row, which started from zeros.
carracing-warm: setup
	$(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config carracing cpu experiments/carracing-dream \
	  experiments/carracing-warm $(EXTRA)
	$(PY) tools/compare_curves.py "zeros=results/carracing/zh/history.json" \
	  "dream C=results/carracing-dream-round2/warm/history.json" --thresholds 700 800 900 \
	  --png docs/figures/carracing-warm-start.png --title "CMA-ES in the real game: where its mean starts"

# Score the warm-started controller again (results/carracing-dream-round2/warm/best.npz; ~8 min).
carracing-warm-eval: setup
	$(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config carracing cpu experiments/carracing-dream \
	  experiments/carracing-warm $(EVAL_ARGS) --eval --check

# CarRacing's best full world model (ours, docs/carracing.md "Toward 906"): the dream side (round 0 at
# tau 1.00, two rounds of iterative training), then CMA-ES in the real game from the dream-trained C
# with common random numbers (all candidates of a generation on the same tracks). Every step resumes
# or is skipped when done; ~3 min a real-game generation on 2 cores.
CRN := --config carracing cpu experiments/carracing-dream experiments/carracing-warm experiments/carracing-crn
carracing-best: setup
	$(MAKE) carracing-dream DREAM_TAUS=1.00
	$(MAKE) carracing-dream-rounds
	$(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $(CRN) $(EXTRA)

# Score it again: the 100 episodes of its record, then 100 others (seed=1: none shared), ~8 min each.
carracing-best-eval: setup
	$(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $(CRN) $(EVAL_ARGS) --eval --check
	$(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py $(CRN) seed=1 $(EVAL_ARGS) --eval --check

# Score the shipped dream-trained CarRacing agent (the last round, results/carracing-dream-round2/)
# again: 100 real episodes and 100 dream rollouts (~6 min), written beside the record as eval_*-check.json.
DREAM_RUN ?= carracing-dream-round2
carracing-dream-eval: setup
	$(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config carracing cpu experiments/carracing-dream \
	  name=$(DREAM_RUN) $(EVAL_ARGS) --eval --check

# Score a shipped CarRacing row again over 100 episodes of the stock CarRacing-v3 (~5 min): writes
# eval_real-check.json beside the record and compares. ROW=z or ROW=z_hidden for the other rows.
ROW ?= zh
carracing-eval: setup
	$(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config carracing cpu controller.dir=$(ROW) \
	  controller.inputs=$(ROW) $(EVAL_ARGS) --eval --check

# Score the shipped Doom agent again (results/doom/tau1.15/best.npz, 100 real episodes + 100 dream
# rollouts, ~2 min): writes eval_*-check.json beside the record and compares, never over it.
# EVAL_ARGS adds overrides, e.g. another row: EVAL_ARGS="controller.dir=tau1.00 controller.temperature=1.00"
EVAL_ARGS ?=
doom-eval: setup
	$(MPIEXEC) -n $(NP) $(PY) 05_train_controller.py --config doom cpu $(EVAL_ARGS) --eval --check

test: setup
	$(PY) -m pytest -q tests

test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests

# The benchmarks that print ratios measured in one run (bench/README.md lists the others).
bench: setup
	$(PY) bench/dream_throughput.py
	$(PY) bench/real_env_rate.py
	$(PY) bench/train_throughput.py
