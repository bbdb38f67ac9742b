"""Random-policy baseline in the real game (paper table, DoomTakeCover: random policy 210 +- 108).

    python bench/random_baseline.py --config doom --episodes 200
    python bench/random_baseline.py --config doom --episodes 200 env.doom_skill=5

Runs N real episodes (episode i: seed cfg.seed * 1_000_000 + i for the env and the policy rng)
and prints mean +- std of the steps survived (= the return: +1 per tic) for
  repeat   the data-collection HeldRandomPolicy (action held randint(repeat_min, repeat_max+1) steps)
  uniform  a uniformly random action every step
  orig     the exact schedule of orig doomrnn/extract.py (`if frame % repeat == 0` with a fresh
           repeat each time, so actions are held for fewer steps than `repeat`).
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels import config  # noqa: E402
from worldmodels import envs  # noqa: E402

POLICIES = ("repeat", "uniform", "orig")


def run_episode(cfg, env, policy, seed):
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    random_policy = envs.HeldRandomPolicy(cfg, rng)
    repeat, action = int(rng.integers(1, 11)), None
    steps, ret = 0, 0.0
    while True:
        if policy == "repeat":
            a = random_policy.act()
        elif policy == "uniform":
            a = random_policy.sample()
        else:  # orig extract.py, verbatim schedule
            if steps % repeat == 0:
                action = random_policy.sample()
                repeat = int(rng.integers(1, 11))
            a = action
        _, reward, terminated, truncated, _ = env.step(a)
        steps, ret = steps + 1, ret + reward
        if terminated or truncated:
            return steps, ret


_env = None


def _work(job):
    global _env
    cfg, policy, seed = job
    if _env is None:
        _env = envs.make_env(cfg)
    return run_episode(cfg, _env, policy, seed)


def main():
    p = config.parser(__doc__)
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    cfg = config.from_args(args)
    e = cfg.env
    print(f"{cfg.experiment}: doom_skill={e.doom_skill} frame_skip={e.frame_skip} resolution={e.resolution} "
          f"max_steps={e.max_steps} episodes={args.episodes} seeds {cfg.seed * 1_000_000}+i")
    with envs.WorkerPool(args.workers) as pool:
        for policy in args.policies:
            t = time.time()
            jobs = [(cfg, policy, cfg.seed * 1_000_000 + i) for i in range(args.episodes)]
            res = np.array(list(pool.imap_unordered(_work, jobs)))  # in any order: only statistics follow
            steps, rets = res[:, 0], res[:, 1]
            wall = time.time() - t
            print(f"  {policy:8s} steps {steps.mean():7.1f} +- {steps.std():6.1f}  (median {np.median(steps):.0f}, "
                  f"min {steps.min():.0f}, max {steps.max():.0f}, capped {np.mean(steps >= e.max_steps):.0%})  "
                  f"return {rets.mean():.1f} +- {rets.std():.1f}  [{steps.sum() / wall:.0f} steps/s, {wall:.0f}s]",
                  flush=True)


if __name__ == "__main__":
    main()
