"""CMA-ES step size under noisy fitness: CSA (the authors' cma 2.2) against TPA (what cma 4.5
picks by itself from 300 parameters), at the Doom controller's size (1,088 params, population 64,
sigma0 = 0.1, x0 = 0), on two stand-ins for the dream's fitness: pure noise, and a weak signal along
one direction under noise of the size of a 16-rollout mean (std ~500 / 4).

    python bench/step_size.py                    # ~2 min here
    python bench/step_size.py --generations 200

Prints the per-coordinate step size (sigma * sqrt(diag C), what the authors' log calls sigma) every
25 generations for each adaptation, and the TPA / CSA ratio at the end. For comparison, the authors'
run logged 0.0986 at generation 1 and 0.0771 at generation 100 (orig
doomrnn/log/doomrnn.cma.16.64.hist.json); our TPA runs in the dream reached ~0.2.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels import es  # noqa: E402


def run(kind, fitness, n, generations, seed):
    s = es.Settings(population=64, sigma0=0.1, seed=seed, step_size=kind)
    cmaes = es.new_state(n, s)["es"]
    rng = np.random.default_rng(seed)
    out = {}
    for g in range(1, generations + 1):
        x = np.array(cmaes.ask())
        cmaes.tell(list(x), list(-fitness(x, rng)))
        if g % 25 == 0:
            out[g] = float(np.mean(cmaes.result.stds))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generations", type=int, default=100)
    ap.add_argument("--params", type=int, default=1088)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    d = np.random.default_rng(a.seed).standard_normal(a.params)
    d /= np.linalg.norm(d)
    problems = {"pure noise": lambda x, rng: rng.standard_normal(len(x)),
                "signal + noise": lambda x, rng: 300 * np.tanh(x @ d) + 125 * rng.standard_normal(len(x))}
    for name, fitness in problems.items():
        res = {k: run(k, fitness, a.params, a.generations, a.seed) for k in es.STEP_SIZES}
        print(f"{name}: per-coordinate step size at generation")
        print("  gen  " + "  ".join(f"{k:>6}" for k in es.STEP_SIZES))
        for g in res["csa"]:
            print(f"  {g:4d} " + "  ".join(f"{res[k][g]:6.4f}" for k in es.STEP_SIZES))
        last = max(res["csa"])
        print(f"  tpa / csa at generation {last}: {res['tpa'][last] / res['csa'][last]:.2f}")


if __name__ == "__main__":
    main()
