"""Does a shipped controller play the same episodes whatever arithmetic path the CPU takes? Each
path (other OpenBLAS kernels, numpy's SIMD paths off, two BLAS threads: only what this CPU can run)
plays the same stock CarRacing-v3 episodes (the evaluation seeds of stage 05) in a subprocess, for
each agent arithmetic (controller.arithmetic), and the scores are compared with the default path's.

    python bench/arithmetic_paths.py                               # the V-only row, 4 episodes
    python bench/arithmetic_paths.py --row zh --episodes 10
    python bench/arithmetic_paths.py --arithmetic float64          # one arithmetic only

Prints, per arithmetic and path, the scores and how many equal the default path's; then, per
arithmetic, the paths that played every episode as the default one did.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL_SEED = 1_500_000_000  # 05_train_controller.EVAL_SEED: seed 0's evaluation episodes


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def arithmetic_paths():
    """{name: environment variables} that change the agent's arithmetic on this CPU (kernels it can run)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    flags = cpu_flags()
    paths = {"default": {}, "OpenBLAS Prescott (SSE3)": {"OPENBLAS_CORETYPE": "Prescott"}}
    if "avx2" in flags:
        paths["OpenBLAS Haswell (AVX2)"] = {"OPENBLAS_CORETYPE": "Haswell"}
    if "avx512f" in flags:
        paths["OpenBLAS SkylakeX (AVX-512)"] = {"OPENBLAS_CORETYPE": "SkylakeX"}
    simd = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    if simd:
        paths["numpy without " + " ".join(simd) + ", 2 BLAS threads"] = {
            "NPY_DISABLE_CPU_FEATURES": " ".join(simd), "OPENBLAS_NUM_THREADS": "2"}
    return paths


def environment(env):
    """os.environ with one BLAS thread, without this process's path variables, plus `env`."""
    out = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")}
    out["OPENBLAS_NUM_THREADS"] = "1"
    out.update(env)
    return out


def play(row, episodes, arithmetic):
    """The child: `episodes` stock episodes of results/carracing/<row>/best.npz; prints JSON scores."""
    import numpy as np
    sys.path.insert(0, ROOT)
    from worldmodels import config
    from worldmodels import envs
    from worldmodels import npmodels
    cfg = config.load(["carracing", "cpu"], ["env.fast_render=false"])
    wm = npmodels.WorldModel.load(os.path.join(ROOT, "results", "carracing", "world_model.npz"))
    params = np.load(os.path.join(ROOT, "results", "carracing", row, "best.npz"))["params"]
    env = envs.make_env(cfg)
    scores = []
    for j in range(episodes):
        seed = EVAL_SEED + j
        agent = npmodels.Agent(wm, params, np.random.default_rng([seed, 0]), row, arithmetic)
        obs, _ = env.reset(seed=seed)
        total = 0.0
        for _ in range(cfg.env.max_steps):
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
            total += reward
            if terminated or truncated:
                break
        scores.append(total)
    print(json.dumps(scores))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--row", default="z", choices=["z", "z_hidden", "zh"], help="results/carracing/<row>/best.npz")
    p.add_argument("--episodes", type=int, default=4)
    p.add_argument("--arithmetic", nargs="+", default=["float64", "float32"])
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return play(args.row, args.episodes, args.child)
    paths = arithmetic_paths()
    print(f"# {args.episodes} stock CarRacing episodes of the shipped {args.row} row per path; "
          f"load average {os.getloadavg()[0]:.2f}")
    for arithmetic in args.arithmetic:
        same_paths, base = 0, None
        for name, env in paths.items():
            t0 = time.time()
            out = subprocess.run([sys.executable, __file__, "--row", args.row, "--episodes", str(args.episodes),
                                  "--child", arithmetic], env=environment(env), capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{name}: {out.stderr[-2000:]}")
            scores = json.loads(out.stdout.strip().splitlines()[-1])
            base = scores if base is None else base
            equal = sum(a == b for a, b in zip(scores, base))
            same_paths += equal == len(base)
            print(f"{arithmetic:8s} {name:60s} {' '.join(f'{s:9.3f}' for s in scores)}  "
                  f"{equal} of {len(base)} as default  ({time.time() - t0:.0f} s)", flush=True)
        print(f"{arithmetic}: {same_paths} of {len(paths)} paths played every episode as the default path")


if __name__ == "__main__":
    main()
