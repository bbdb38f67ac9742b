"""Real-game steps per second: the bare env vs the env driven by the agent (V + M + C every step).

    python bench/real_env_rate.py                      # both games, 1000 steps each
    python bench/real_env_rate.py --games doom --steps 3000
    OPENBLAS_NUM_THREADS=2 python bench/real_env_rate.py   # BLAS threads (default here: 1, as stage 05)

For each game at paper model sizes (config/<game>.yaml: CarRacing z=32, 256 LSTM units; Doom
z=64, 512 units) this prints the steps/s of
  env           envs.make_env(cfg) stepped with uniformly random actions (resets included)
  agent         npmodels.Agent.act alone on real frames: VAE encode + LSTM step + controller
  env + agent   the two together, as stage 05 (mode=real) and --eval run them
and the slowdown env / (env + agent); then the machine's float32 matmul GFLOP/s for reference.
The world model has random weights (the cost does not depend on the values) unless
--world-model PATH names a trained world_model.npz of the same game.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as 05_train_controller.py runs (one BLAS thread per process)
import numpy as np  # noqa: E402

import config  # noqa: E402
import envs  # noqa: E402
import npmodels  # noqa: E402


def random_world_model(cfg, seed=0):
    """A WorldModel of the config's sizes with random (Glorot-uniform-like) weights; no TensorFlow."""
    rng = np.random.default_rng(seed)
    action = npmodels.ACTION_SIZE[cfg.experiment]

    def init(shape):
        if len(shape) == 1:
            return np.zeros(shape, np.float32)
        fan_in, fan_out = int(np.prod(shape[:-1])), int(shape[-1])
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)
    vae = {k: init(s) for k, s in npmodels.vae_shapes(cfg.vae.z_size).items()}
    rnn = {k: init(s) for k, s in npmodels.rnn_shapes(cfg.vae.z_size, action, cfg.rnn.hidden, cfg.rnn.mixtures,
                                                      cfg.rnn.predict_done).items()}
    return npmodels.WorldModel(cfg.experiment, cfg.vae.z_size, action, cfg.rnn.hidden, cfg.rnn.mixtures,
                               cfg.rnn.predict_done, vae, rnn)


def run_steps(env, steps, act, seed):
    """steps env steps (resetting at episode ends); act(obs) -> action. Returns (steps/s, episodes, frames)."""
    obs, _ = env.reset(seed=seed)
    frames, episodes = [obs], 1
    t0 = time.perf_counter()
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(act(obs))
        if terminated or truncated:
            obs, _ = env.reset(seed=seed + episodes)
            episodes += 1
        if len(frames) < 200:
            frames.append(obs)
    return steps / (time.perf_counter() - t0), episodes, frames


def matmul_gflops(n=1024, seconds=2.0):
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    a @ b  # warm up
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2.0 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--games", nargs="+", default=["carracing", "doom"], choices=["carracing", "doom"])
    p.add_argument("--steps", type=int, default=1000, help="env steps per measurement")
    p.add_argument("--world-model", metavar="PATH", help="a trained world_model.npz (one game only)")
    args = p.parse_args()
    threads = os.environ["OPENBLAS_NUM_THREADS"]
    print(f"# {os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={threads}, {args.steps} steps per row; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'game':10s} {'env steps/s':>12s} {'agent acts/s':>13s} {'env+agent steps/s':>18s} {'slowdown':>9s}")
    for game in args.games:
        cfg = config.load([game], ["env.max_steps=100000"])  # no step cap: episodes end by the game only
        wm = npmodels.WorldModel.load(args.world_model) if args.world_model else random_world_model(cfg)
        n = npmodels.Controller(game, wm.z_size, wm.hidden).size
        agent = npmodels.Agent(wm, np.random.default_rng(0).normal(0, 0.1, n), np.random.default_rng(0))
        env = envs.make_env(cfg)
        try:
            run_steps(env, 20, lambda obs: env.action_space.sample(), seed=0)  # warm up (first track, Doom init)
            env.action_space.seed(0)
            bare, eps_bare, frames = run_steps(env, args.steps, lambda obs: env.action_space.sample(), seed=1)
            t0 = time.perf_counter()
            for f in frames:
                agent.act(f)
            agent_rate = len(frames) / (time.perf_counter() - t0)
            agent.reset()

            def act(obs):
                return agent.act(obs)
            both, eps_both, _ = run_steps(env, args.steps, act, seed=1)
        finally:
            env.close()
        print(f"{game:10s} {bare:12.0f} {agent_rate:13.0f} {both:18.0f} {bare / both:8.1f}x"
              f"   (episodes: {eps_bare} bare, {eps_both} with agent)")
    print(f"float32 matmul 1024x1024: {matmul_gflops():.1f} GFLOP/s")


if __name__ == "__main__":
    main()
