"""Stage 01: collect random-policy rollouts in the real game (paper 3.1 / 4.1: 10,000 rollouts).

    python 01_generate_data.py --config doom small
    python 01_generate_data.py --config carracing small data.workers=2 data_root=/tmp/wm

Episode i (0 <= i < data.episodes) uses seed = cfg.seed * 1_000_000 + i, both for env.reset(seed)
and for the policy's numpy rng, so every file can be regenerated from its seed on any machine.
Each episode is written as {rollouts_dir}/ep_<seed>.npz ({data_dir}/rollouts unless data.rollouts_dir
is set: several runs can share one set) with
    obs    uint8   (T, 64, 64, 3)  the frame the agent saw before acting
    action float32 (T, A)
    reward float32 (T,)
    done   bool    (T,)            True on the last step only if the episode terminated (death,
                                   off the playfield), False if it was cut at env.max_steps
Episodes already on disk are skipped (files are written atomically); --redo regenerates them. A worker
process that dies (a crash in the game, an out-of-memory kill) ends the stage, non-zero: the episodes
written stay, and the same command resumes.

Iterative training (paper 5; ours, not the paper's Doom recipe): with data.agent = a stage-05
controller (e.g. results/doom/tau1.15/best.npz, its V + M being the world_model.npz two folders up),
episodes i >= data.agent_from are played by that agent instead of the random policy, and at each
step, with probability data.agent_explore, a random action held 1..10 steps (the random policy's)
replaces C's action for exploration. M's state follows the action played. For example, 1,000 agent
episodes beside 10,000 random ones already on disk:

    python 01_generate_data.py --config doom cpu name=doom-iter1 data.episodes=11000 \
        data.agent=results/doom/tau1.15/best.npz data.agent_from=10000
"""
import contextlib
import os
import sys
import time

import numpy as np

from worldmodels import collect
from worldmodels import config
from worldmodels.run import Run
from worldmodels import envs
from worldmodels.storage import fileio
from worldmodels import npmodels
from worldmodels.storage import episodes

STAGE = "01"


_env = None  # one game per worker process, reused across its episodes
_agent = None  # (WorldModel, params, inputs) per worker, loaded on its first agent episode


def work(job):
    """Run and save one episode in a worker; any error names the episode's seed."""
    global _env, _agent
    cfg, seed, path, agent = job
    try:
        if _env is None:
            _env = envs.make_env(cfg)
        if agent and _agent is None:
            npmodels.set_blas_threads(1)  # parallelism comes from the workers
            _agent = (npmodels.WorldModel.load(agent[0]), *agent[1:])
        data = collect.rollout(cfg, _env, seed, _agent if agent else None)
        episodes.save(path, **data)
        return seed, len(data["done"])
    except Exception as e:  # re-raised in the parent as one picklable error
        raise RuntimeError(f"episode seed {seed} ({os.path.basename(path)}): {type(e).__name__}: {e}") from None


def intact(path, widths):
    """Whether an episode on disk can be kept: it exists and its zip directory and array headers
    (no data) fit the run's widths (Run.widths); a corrupt one is reported and will be replaced."""
    if not os.path.exists(path):
        return False
    try:
        episodes.check_header(path, episodes.ROLLOUT, widths)
        return True
    except fileio.DataError as e:
        print(f"[{STAGE}] replacing a bad episode file: {e}")
        return False


def main():
    args = config.parser(__doc__).parse_args()
    cfg = config.from_args(args)
    agent = collect.agent_files(cfg)  # checked before anything is written
    run = Run(cfg)
    out_dir = run.rollouts
    fileio.check_writable(out_dir, run.results)
    fileio.RunLock(out_dir, STAGE).acquire()  # one writer at a time
    fileio.remove_stale_tmp(out_dir)  # leftovers of an interrupted run

    seeds = [collect.episode_seed(cfg, i) for i in range(cfg.data.episodes)]
    paths = {s: os.path.join(out_dir, episodes.episode_name(s)) for s in seeds}
    widths = run.widths
    todo = seeds if args.redo else [s for s in seeds if not intact(paths[s], widths)]
    if not todo:
        print(f"[{STAGE}] done: all {len(seeds)} episodes already in {out_dir}, each checked (--redo to regenerate)")
        return
    print(f"[{STAGE}] {cfg.experiment}: {len(todo)} episodes to generate ({len(seeds) - len(todo)} on disk) "
          f"-> {out_dir}, {cfg.data.workers} workers")

    if agent:
        print(f"[{STAGE}] episodes {cfg.data.agent_from}+ played by {cfg.data.agent} (V + M: {agent[0]}), "
              f"exploring with probability {cfg.data.agent_explore} per step")
    jobs = [(cfg, s, paths[s], agent if agent and s - collect.episode_seed(cfg, 0) >= cfg.data.agent_from else None)
            for s in todo]
    lengths, t0 = [], time.time()
    workers = max(1, min(cfg.data.workers, len(jobs)))
    # leaving the block by an exception (sys.exit included) terminates the workers
    with envs.WorkerPool(workers) if workers > 1 else contextlib.nullcontext() as pool:
        try:
            results = pool.imap_unordered(work, jobs) if pool else map(work, jobs)
            for _, n in config.progress(results, total=len(jobs), desc=f"[{STAGE}] episodes", unit="ep"):
                lengths.append(n)
        except envs.WorkerDied as e:
            kept = sum(os.path.exists(p) for p in paths.values())
            sys.exit(f"[{STAGE}] error: {e} while generating episodes; the {kept} episodes on disk are kept, "
                     "run the same command again to resume")
        except (Exception, KeyboardInterrupt) as e:
            sys.exit(f"[{STAGE}] {'interrupted' if isinstance(e, KeyboardInterrupt) else f'error: {e}'}")

    config.save(cfg, run.results, STAGE)
    wall = time.time() - t0
    lengths = np.array(lengths)
    print(f"[{STAGE}] generated {len(lengths)} episodes, {lengths.sum()} steps, length "
          f"{lengths.mean():.1f} +- {lengths.std():.1f} (min {lengths.min()}, max {lengths.max()}), "
          f"{wall:.1f}s wall, {lengths.sum() / wall:.0f} steps/s")


def cli():
    """The command line: `python 01_generate_data.py --help`."""
    try:
        main()
    except fileio.DataError as e:
        raise SystemExit(f"[{STAGE}] error: {e}")
