"""Real-game steps per second: K envs stepped in lock-step, bare vs driven by the agent (V + M + C
every step), one frame at a time (npmodels.Agent per env) vs batched (npmodels.Agents, K rows).

    python bench/real_env_rate.py                      # both games, K = 16 envs, 100 lock-step steps
    python bench/real_env_rate.py --games doom --steps 300 --envs 8
    python bench/real_env_rate.py --stock              # CarRacing: the stock env, not the fast one
    OPENBLAS_NUM_THREADS=2 python bench/real_env_rate.py   # BLAS threads (default here: 1, as stage 05)

For each game at paper model sizes (config/<game>.yaml: CarRacing z=32, 256 LSTM units; Doom
z=64, 512 units) K envs.make_env(cfg) play in lock-step (an env whose episode ends is reset and
goes on), as stage 05 plays a candidate's trials, four ways:
  bare          uniformly random actions
  agent         one npmodels.Agent per env, act(frame) for each env in turn (the one-frame agent)
  agents f32    one npmodels.Agents of K rows, one act(frames) per lock-step step, in float32
  agents f64    the same in float64 rounded to float32 (controller.arithmetic, stage 05's default)
Printed per row: env steps/s overall, and the time per env step spent in env.step and in the
agent (both timed inside the same loop, so a busy machine shifts both alike), and the agent's
time as a % of the env's; then the float64 agent's time over the float32 one's, and the machine's
float32 matmul GFLOP/s for reference.
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

from worldmodels import config  # noqa: E402
from worldmodels import envs  # noqa: E402
from worldmodels import npmodels  # noqa: E402


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


def lock_step(games, steps, act, seed):
    """steps lock-step steps of all games (an ended episode is reset and goes on); act(frames) ->
    actions, or None for random actions. Returns (env steps/s, s in env.step, s in act, episodes)."""
    obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(games)]
    episodes, env_s, act_s = len(games), 0.0, 0.0
    t_start = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        actions = [env.action_space.sample() for env in games] if act is None else act(np.stack(obs))
        t1 = time.perf_counter()
        act_s += t1 - t0
        for i, (env, action) in enumerate(zip(games, actions)):
            obs[i], _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs[i], _ = env.reset(seed=seed + 1000 + episodes)
                episodes += 1
        env_s += time.perf_counter() - t1
    return steps * len(games) / (time.perf_counter() - t_start), env_s, act_s, episodes


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
    p.add_argument("--steps", type=int, default=100, help="lock-step steps per measurement (x envs env steps)")
    p.add_argument("--envs", type=int, default=16, help="K: envs in lock-step (stage 05: controller.trials)")
    p.add_argument("--stock", action="store_true", help="CarRacing: the stock env (env.fast_render=false)")
    p.add_argument("--world-model", metavar="PATH", help="a trained world_model.npz (one game only)")
    args = p.parse_args()
    threads = os.environ["OPENBLAS_NUM_THREADS"]
    print(f"# {os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={threads}, K={args.envs} envs x {args.steps} lock-step "
          f"steps per row; load average {os.getloadavg()[0]:.2f}")
    print(f"{'game':10s} {'mode':10s} {'env steps/s':>12s} {'env us/step':>12s} {'agent us/step':>14s} "
          f"{'agent/env':>10s}")
    for game in args.games:
        overrides = ["env.max_steps=100000"] + (["env.fast_render=false"] if args.stock else [])
        cfg = config.load([game], overrides)  # no step cap: episodes end by the game only
        wm = npmodels.WorldModel.load(args.world_model) if args.world_model else random_world_model(cfg)
        params = np.random.default_rng(0).normal(0, 0.1, npmodels.Controller(game, wm.z_size, wm.hidden).size)
        one = [npmodels.Agent(wm, params, np.random.default_rng([0, i])) for i in range(args.envs)]
        rngs = [np.random.default_rng([0, i]) for i in range(args.envs)]
        ways = {"bare": None,
                "agent": lambda frames: [agent.act(f) for agent, f in zip(one, frames)],
                "agents f32": npmodels.Agents(wm, params, rngs, arithmetic="float32").act,
                "agents f64": npmodels.Agents(wm, params, rngs, arithmetic="float64").act}
        agent_s = {}
        games = [envs.make_env(cfg) for _ in range(args.envs)]
        try:
            lock_step(games, 5, None, seed=0)  # warm up (first tracks, Doom init)
            for i, env in enumerate(games):
                env.action_space.seed(i)
            for mode, act in ways.items():
                rate, env_s, act_s, _ = lock_step(games, args.steps, act, seed=1)
                agent_s[mode] = act_s
                n = args.steps * args.envs
                agent = "-" if act is None else f"{act_s / n * 1e6:14.0f}"
                share = "-" if act is None else f"{100 * act_s / env_s:9.0f}%"
                print(f"{game:10s} {mode:10s} {rate:12.0f} {env_s / n * 1e6:12.0f} {agent:>14s} {share:>10s}", flush=True)
            print(f"{game}: the float64 agent takes {agent_s['agents f64'] / agent_s['agents f32']:.2f}x "
                  "the float32 agent's time", flush=True)
        finally:
            for env in games:
                env.close()
    print(f"float32 matmul 1024x1024: {matmul_gflops():.1f} GFLOP/s")


if __name__ == "__main__":
    main()
