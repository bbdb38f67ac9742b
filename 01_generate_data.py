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
"""
import os
import sys
import time
from multiprocessing import Pool

import numpy as np

import config
import envs
import rollouts

STAGE = "01"


def episode_seed(cfg, i):
    return cfg.seed * 1_000_000 + i


def rollout(cfg, env, seed):
    """One episode of the random policy -> dict of arrays in the rollouts.ROLLOUT format."""
    policy = envs.RandomPolicy(cfg, np.random.default_rng(seed))
    obs, _ = env.reset(seed=seed)
    frames, actions, rewards, dones = [], [], [], []
    while True:
        action = policy.act()
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


def work(job):
    """Run and save one episode in a worker; any error names the episode's seed."""
    global _env
    cfg, seed, path = job
    try:
        if _env is None:
            _env = envs.make_env(cfg)
        data = rollout(cfg, _env, seed)
        rollouts.save(path, **data)
        return seed, len(data["done"])
    except Exception as e:  # re-raised in the parent as one picklable error
        raise RuntimeError(f"episode seed {seed} ({os.path.basename(path)}): {type(e).__name__}: {e}") from None


def main():
    args = config.parser(__doc__).parse_args()
    cfg = config.from_args(args)
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

    jobs = [(cfg, s, paths[s]) for s in todo]
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
    main()
