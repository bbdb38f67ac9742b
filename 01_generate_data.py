"""Stage 01: collect random-policy rollouts in the real game (paper 3.1 / 4.1: 10,000 rollouts).

    python 01_generate_data.py --config doom small
    python 01_generate_data.py --config carracing small data.workers=2 data_root=/tmp/wm

Episode i (0 <= i < data.episodes) uses seed = cfg.seed * 1_000_000 + i, both for env.reset(seed)
and for the policy's numpy rng, so every file can be regenerated from its seed on any machine.
Each episode is written as {data_dir}/rollouts/ep_<seed>.npz with
    obs    uint8   (T, 64, 64, 3)  the frame the agent saw before acting
    action float32 (T, A)
    reward float32 (T,)
    done   bool    (T,)            True on the last step only if the episode terminated (death,
                                   off the playfield), False if it was cut at env.max_steps
Episodes already on disk are skipped (files are written atomically); --redo regenerates them.

Iterative training (paper 5; ours, not the paper's Doom recipe): with data.agent = a stage-05
controller (e.g. results/doom/tau1.15/best.npz, its V + M being the world_model.npz two folders up),
episodes i >= data.agent_from are played by that agent instead of the random policy, and at each
step, with probability data.agent_explore, a random action held 1..10 steps (the random policy's)
replaces C's action for exploration. M's state follows the action played. For example, 1,000 agent
episodes beside 10,000 random ones already on disk:

    python 01_generate_data.py --config doom cpu name=doom-iter1 data.episodes=11000 \
        data.agent=results/doom/tau1.15/best.npz data.agent_from=10000
"""
import os
import sys
import time
from multiprocessing import Pool

import numpy as np

import config
import envs
import es
import npmodels
import rollouts

STAGE = "01"


def episode_seed(cfg, i):
    return cfg.seed * 1_000_000 + i


def agent_files(cfg):
    """(world model path, controller params, its inputs mode) for data.agent, checked; None without an agent."""
    if not cfg.data.agent:
        return None
    wm_path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(cfg.data.agent))), "world_model.npz")
    if not os.path.exists(wm_path):
        raise rollouts.DataError(f"data.agent: {wm_path} (V + M beside the controller's folder) not found; "
                                 "run 04_train_rnn.py for that run first")
    wm = npmodels.WorldModel.load(wm_path)
    if wm.experiment != cfg.experiment:
        raise rollouts.DataError(f"data.agent: {wm_path} is a {wm.experiment} model, not {cfg.experiment}")
    try:
        inputs = npmodels.saved_inputs(cfg.data.agent)
        params = npmodels.Controller(wm.experiment, wm.z_size, wm.hidden, inputs).load(cfg.data.agent)
    except (OSError, ValueError) as e:
        raise rollouts.DataError(f"data.agent: {e}") from None
    return wm_path, params, inputs


class AgentPolicy:
    """V + M + C in the real game; with probability `explore` per step a held random action instead."""

    def __init__(self, cfg, rng, world_model, params, inputs="zh"):
        self.agent = npmodels.Agent(world_model, params, rng, inputs)
        self.random = envs.RandomPolicy(cfg, rng)
        self.explore = cfg.data.agent_explore
        self.rng = rng

    def act(self, obs):
        if self.random.left > 0 or self.rng.random() < self.explore:
            return self.agent.act(obs, override=self.random.act())
        return self.agent.act(obs)


def rollout(cfg, env, seed, agent=None):
    """One episode (random policy, or `agent` = (WorldModel, params, inputs)) -> arrays in rollouts.ROLLOUT format."""
    rng = np.random.default_rng(seed)
    policy = AgentPolicy(cfg, rng, *agent) if agent else envs.RandomPolicy(cfg, rng)
    obs, _ = env.reset(seed=seed)
    frames, actions, rewards, dones = [], [], [], []
    while True:
        action = policy.act(obs) if agent else policy.act()
        frames.append(obs)
        actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward)
        dones.append(terminated)
        if terminated or truncated:
            break
    return dict(obs=np.stack(frames).astype(np.uint8), action=np.stack(actions).astype(np.float32),
                reward=np.asarray(rewards, np.float32), done=np.asarray(dones, bool))


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
        data = rollout(cfg, _env, seed, _agent if agent else None)
        rollouts.save(path, **data)
        return seed, len(data["done"])
    except Exception as e:  # re-raised in the parent as one picklable error
        raise RuntimeError(f"episode seed {seed} ({os.path.basename(path)}): {type(e).__name__}: {e}") from None


def main():
    args = config.parser(__doc__).parse_args()
    cfg = config.from_args(args)
    agent = agent_files(cfg)  # checked before anything is written
    out_dir = os.path.join(config.data_dir(cfg), "rollouts")
    os.makedirs(out_dir, exist_ok=True)
    config.save(cfg, config.run_dir(cfg), STAGE)
    for f in os.listdir(out_dir):  # leftovers of an interrupted run (rollouts.save writes *.tmp*)
        if ".tmp" in f:
            os.remove(os.path.join(out_dir, f))

    seeds = [episode_seed(cfg, i) for i in range(cfg.data.episodes)]
    paths = {s: os.path.join(out_dir, rollouts.episode_name(s)) for s in seeds}
    todo = seeds if args.redo else [s for s in seeds if not os.path.exists(paths[s])]
    if not todo:
        print(f"[{STAGE}] done: all {len(seeds)} episodes already in {out_dir} (--redo to regenerate)")
        return
    print(f"[{STAGE}] {cfg.experiment}: {len(todo)} episodes to generate ({len(seeds) - len(todo)} on disk) "
          f"-> {out_dir}, {cfg.data.workers} workers")

    if agent:
        print(f"[{STAGE}] episodes {cfg.data.agent_from}+ played by {cfg.data.agent} (V + M: {agent[0]}), "
              f"exploring with probability {cfg.data.agent_explore} per step")
    jobs = [(cfg, s, paths[s], agent if agent and s - episode_seed(cfg, 0) >= cfg.data.agent_from else None)
            for s in todo]
    lengths, t0 = [], time.time()
    workers = max(1, min(cfg.data.workers, len(jobs)))
    pool = Pool(workers, envs.worker_init) if workers > 1 else None
    results = pool.imap_unordered(work, jobs) if pool else map(work, jobs)
    try:
        for _, n in config.progress(results, total=len(jobs), desc=f"[{STAGE}] episodes", unit="ep"):
            lengths.append(n)
    except (Exception, KeyboardInterrupt) as e:
        if pool:
            pool.terminate()  # workers close their games first (envs.worker_init)
        sys.exit(f"[{STAGE}] {'interrupted' if isinstance(e, KeyboardInterrupt) else f'error: {e}'}")
    if pool:
        pool.close()
        pool.join()

    wall = time.time() - t0
    lengths = np.array(lengths)
    print(f"[{STAGE}] generated {len(lengths)} episodes, {lengths.sum()} steps, length "
          f"{lengths.mean():.1f} +- {lengths.std():.1f} (min {lengths.min()}, max {lengths.max()}), "
          f"{wall:.1f}s wall, {lengths.sum() / wall:.0f} steps/s")


if __name__ == "__main__":
    try:
        main()
    except rollouts.DataError as e:
        raise SystemExit(f"[{STAGE}] error: {e}")
