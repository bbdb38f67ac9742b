"""CMA-ES for the controller (paper A.4; orig es.py `CMAES` and train.py), generic over the evaluation.
Two modules: cmaes (the search loop, its checkpoints and outputs) and mpi (the evaluation pool);
their public names are here too.

    def rollouts(params, seeds, trials):   # top-level (picklable); params (k, n), seeds (k,)
        return rewards                     # (k, trials): the reward of each rollout, or
        return rewards, steps              # ...with the env steps each rollout took (k, trials)

    def main(executor):                    # executor: an MPI pool on rank 0, None in 1 process
        es.train(rollouts, n_params, es.Settings.from_config(cfg.controller, cfg.seed),
                 ckpt_path, out_dir, executor)

    es.run_main(main)                      # python script.py   or   mpiexec -n N python script.py

Under `mpiexec -n N` rank 0 runs `main` (CMA-ES, checkpoints, outputs) and ranks 1..N-1 are
mpi4py.futures workers; with one process everything runs in-process. A task is a chunk of
`chunk` candidates (0: an even split, one task per worker; either rounded up to a multiple of the
dream's `group`) with their seeds; a candidate's seed depends only on (seed, generation, index)
and results are gathered in candidate order, so a seed gives the same history for any N, provided
the evaluation of a candidate does not depend on which others share its task beyond its group
(worldmodels/dream.py states what its rollouts guarantee). A worker that
raises or dies ends the whole run, non-zero; so does a task that runs on its worker for longer
than `task_timeout` seconds (a hung worker; 0 = no deadline, which is also the case in one
process): the message names the task's candidate seeds and the worker's rank, host and pid, and
the same command resumes from the last finished generation.

Fitness = mean reward over `trials` rollouts - weight_decay * mean(params**2) (orig es.py
compute_weight_decay); CMA-ES minimises, so it is told -fitness (cma 4.5, x0 = 0 as the orig, or
the params of another run's controller given as x0: a warm start; sigma0, popsize; cma's seed is
seed + 1 as it reads 0 as "from the clock"). Step size: `step_size` = "csa"
(cumulative step-size adaptation), what the authors' cma 2.2 did; cma 4.5 (not 4.4.1) switches by
itself to "tpa" (two-point adaptation) for 300 or more parameters
(cma.evolution_strategy.TPA_dimension), so it is set explicitly. After every generation the CMA-ES
object (with the RNG it samples from), the history and the best params are pickled
atomically to `ckpt_path`: the same command continues where it stopped, a kill loses at most
the generation in progress. Every `eval_every` generations (and at the last) the mean solution
is scored over `eval_episodes` rollouts (orig train.py); the best-scored mean is the shipped
controller.

Outputs in `out_dir` (each written atomically, rewritten from the checkpoint):
  history.json  settings, meta, "generations": [{generation, mean, best, worst (fitness),
                reward_mean, sigma, seconds, steps}], "evaluations": [{generation, mean, std, episodes,
                seconds, improved, steps}], best_eval, best_candidate; steps (the env steps the
                generation's or evaluation's rollouts took) only where the rollouts count them
  best.npz      the shipped controller (best evaluated mean): params, generation, eval_mean, eval_std
  mean.npz      the current CMA-ES mean: params, generation
"""
from worldmodels.config import STEP_SIZES
from worldmodels.es.mpi import EvaluationError, evaluate, mpi_size, run_main, task_size
from worldmodels.es.cmaes import (
    EVAL, TRAIN, Settings, cma_options, evaluate_mean, load_checkpoint, load_params, new_state, save_json,
    save_params, seeds_for, train, train_seeds, write_outputs)

__all__ = ["STEP_SIZES", "EvaluationError", "evaluate", "mpi_size", "run_main", "task_size", "EVAL", "TRAIN",
           "Settings", "cma_options", "evaluate_mean", "load_checkpoint", "load_params", "new_state", "save_json",
           "save_params", "seeds_for", "train", "train_seeds", "write_outputs"]
