"""What env.no_progress_steps (ours, off by default; training envs only) saves on CarRacing.

    python bench/no_progress.py                      # N = 0, 50, 100; 4 episodes per policy
    python bench/no_progress.py --n 0 25 50 --episodes 8

For each policy and N, plays episodes (seeds 1..episodes, env.max_steps 1000) through
envs.make_env(cfg, training=True) with env.no_progress_steps=N (N = 0: whole episodes, the paper)
and prints the mean steps per episode, the steps saved against N = 0, how many episodes the switch
ended, and the mean episode reward (the early end also drops the -0.1 per step the car would have
collected, so rewards of cut episodes are not the paper's). Policies:
  random    envs.HeldRandomPolicy, the data-collection policy (random actions held 1..10 steps)
  uniform   a new uniformly random action every step (the paper's random-policy baseline)
  straight  no steering, full gas: the car leaves the track at the first corner
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np  # noqa: E402

from worldmodels import config  # noqa: E402
from worldmodels import envs  # noqa: E402


def policy(name, cfg, seed):
    rng = np.random.default_rng(seed)
    if name == "random":
        return envs.HeldRandomPolicy(cfg, rng).act
    if name == "uniform":
        return lambda: rng.uniform([-1, 0, 0], [1, 1, 1]).astype(np.float32)
    return lambda: np.array([0.0, 1.0, 0.0], np.float32)


def episode(env, act, seed):
    env.reset(seed=seed)
    steps, total = 0, 0.0
    while True:
        _, r, term, trunc, info = env.step(act())
        steps, total = steps + 1, total + r
        if term or trunc:
            return steps, total, bool(info.get("no_progress"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[0, 50, 100], help="env.no_progress_steps values")
    p.add_argument("--episodes", type=int, default=4)
    p.add_argument("--policies", nargs="+", default=["random", "uniform", "straight"],
                   choices=["random", "uniform", "straight"])
    args = p.parse_args()
    ns = sorted(set(args.n) | {0})
    print(f"# seeds 1..{args.episodes}, env.max_steps 1000, training=True")
    print(f"{'policy':9s} {'N':>4s} {'steps/episode':>14s} {'saved':>6s} {'ended early':>12s} {'reward':>8s} {'s':>5s}")
    for name in args.policies:
        base = None
        for n in ns:
            cfg = config.load(["carracing"], [f"env.no_progress_steps={n}", "env.max_steps=1000"])
            env = envs.make_env(cfg, training=True)
            t0 = time.perf_counter()
            runs = [episode(env, policy(name, cfg, seed), seed) for seed in range(1, args.episodes + 1)]
            env.close()
            steps = np.mean([r[0] for r in runs])
            base = steps if n == 0 else base
            print(f"{name:9s} {n:4d} {steps:14.0f} {1 - steps / base:6.0%} {sum(r[2] for r in runs):6d} of {len(runs):<3d}"
                  f"{np.mean([r[1] for r in runs]):8.1f} {time.perf_counter() - t0:5.0f}", flush=True)


if __name__ == "__main__":
    main()
