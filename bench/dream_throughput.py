"""Dream throughput: batched dream_rollouts per `group`, against one plain matmul per step and against
stepping single dreams one at a time (Doom-sized M).

    python bench/dream_throughput.py              # BLAS threads as numpy found them
    python bench/dream_throughput.py --threads 1  # as one MPI worker per core would run

Random world model at Doom size (z 64, LSTM 512, 5 mixtures, done head); its done bias is set
so that no rollout ends, so every step runs the full batch. Prints rollout-steps/s for
  batched  dream.dream_rollouts, 64 candidates x 16 trials = batch 1024, `--steps` steps, with
           group 1 (a matmul per candidate), the config's default group (8) and group 64 (one plain
           matmul for the whole batch, which makes results depend on the batch: the reference speed),
           each as a ratio to the plain one, all measured in this run
  single   dream.DreamEnv stepped one rollout at a time with the same controller
and the machine's float32 matmul throughput (1024x1024 @ 1024x1024) for reference.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels import dream  # noqa: E402
from worldmodels import npmodels  # noqa: E402

Z, A, H, K = 64, 1, 512, 5


def doom_sized_world_model(seed=0):
    rng = np.random.default_rng(seed)
    rnn = {name: (rng.standard_normal(shape) / np.sqrt(shape[0]) if len(shape) > 1 else np.zeros(shape))
           .astype(np.float32) for name, shape in npmodels.rnn_shapes(Z, A, H, K, True).items()}
    rnn["head_w"][:, 0] = 0.0
    rnn["head_b"][0] = -100.0  # never done: full batches throughout
    return npmodels.WorldModel("doom", Z, A, H, K, True, None, rnn)


def matmul_gflops(n=1024, repeats=5):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def single_steps_per_s(wm, initial, params, steps, seed=0):
    env = dream.DreamEnv(wm, initial, temperature=1.15, max_steps=10 ** 9)
    obs, _ = env.reset(seed=seed)
    t = time.perf_counter()
    for _ in range(steps):
        action = env.controller.act(params, obs[None])[0]
        obs, _, terminated, truncated, _ = env.step(action)
    return steps / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--candidates", type=int, default=64)
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--steps", type=int, default=60, help="dream steps of the batched run")
    p.add_argument("--single-steps", type=int, default=1500, help="steps of each single-rollout run")
    p.add_argument("--group", type=int, default=8, help="the group measured beside 1 and all candidates")
    p.add_argument("--threads", type=int, default=None, help="OpenBLAS threads (default: as configured)")
    args = p.parse_args()

    if args.threads:
        npmodels.set_blas_threads(args.threads)
    threads = npmodels.set_blas_threads(1)
    if threads is not None:
        npmodels.set_blas_threads(threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cpus {os.cpu_count()}, OpenBLAS threads {threads}, load average {load:.1f}, numpy {np.__version__}")
    gflops = matmul_gflops()
    print(f"float32 matmul 1024x1024 @ 1024x1024: {gflops:.1f} GFLOP/s")

    wm = doom_sized_world_model()
    rng = np.random.default_rng(1)
    initial = (rng.standard_normal((100, Z)).astype(np.float32), np.full((100, Z), -2.0, np.float32))
    n = npmodels.Controller("doom", Z, H).size
    params = (rng.standard_normal((args.candidates, n)) * 0.1).astype(np.float32)
    batch = args.candidates * args.trials
    flop_step = 2 * batch * (wm._lstm_w.size + wm._head_w.size)
    dream.dream_rollouts(wm, *initial, params[:2], 2, max_steps=3, seed=0)  # warm up
    rates = {}
    for group in sorted({1, args.group, args.candidates}):
        t = time.perf_counter()
        out = dream.dream_rollouts(wm, *initial, params, args.trials, temperature=1.15, max_steps=args.steps, seed=0,
                                   group=group)
        dt = time.perf_counter() - t
        assert out.shape == (args.candidates, args.trials) and np.all(out == args.steps)
        rates[group] = batch * args.steps / dt
        print(f"batched  {args.candidates} x {args.trials} = batch {batch}, group {group:>3}: {dt:.2f} s, "
              f"{rates[group]:,.0f} rollout-steps/s ({dt / args.steps * 1e3:.1f} ms/step; LSTM+MDN matmuls "
              f"{flop_step * args.steps / dt / 1e9:.1f} GFLOP/s)")
    plain = rates[args.candidates]
    for group, rate in rates.items():
        print(f"ratio    group {group:>3} / one plain matmul per step: {rate / plain:.2f}")
    batched = rates[args.group]

    single = single_steps_per_s(wm, initial, params[0], args.single_steps)
    print(f"single   DreamEnv one rollout at a time: {single:,.0f} steps/s")
    print(f"ratio    batched (group {args.group}) / single: {batched / single:.1f}x")


if __name__ == "__main__":
    main()
