"""Average the parameters of several controllers (ours, not the paper's): one linear C of the
paper's form whose weights are the mean of independent CMA-ES runs' solutions, optionally scaled.

    python tools/average_controllers.py results/doom/tau1.15/best.npz results/doom/tau1.15-seed{1,2,3,4}/best.npz \\
        --out results/doom/tau1.15-avg5/avg.npz
    python tools/average_controllers.py ... --scale norm --out results/doom/tau1.15-avg5/avg-norm.npz

--scale norm rescales the mean to the inputs' mean L2 norm (averaging nearly orthogonal vectors
shrinks it by about sqrt(count)). Refuses to overwrite --out unless --force.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels import es  # noqa: E402


def average(params, scale="none"):
    """params (k, n) -> (n,): the mean, rescaled to the rows' mean norm where scale == "norm"."""
    params = np.asarray(params, np.float64)
    if params.ndim != 2 or len(params) < 2:
        raise ValueError(f"need at least two parameter vectors of the same size, got shape {params.shape}")
    mean = params.mean(0)
    if scale == "norm":
        mean *= np.linalg.norm(params, axis=1).mean() / np.linalg.norm(mean)
    return mean


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("params", nargs="+", help="controller .npz files (05's best.npz)")
    p.add_argument("--out", required=True)
    p.add_argument("--scale", choices=("none", "norm"), default="none")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    args = p.parse_args()
    if os.path.exists(args.out) and not args.force:
        raise SystemExit(f"{args.out} exists; --force to overwrite")
    try:
        rows = [es.load_params(path) for path in args.params]
        if len({r.size for r in rows}) != 1:
            raise ValueError("controllers differ in size: " + ", ".join(f"{a}: {r.size}" for a, r in zip(args.params, rows)))
        theta = average(np.stack(rows), args.scale)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    es.save_params(args.out, theta)
    print(f"{len(rows)} controllers ({rows[0].size} params), scale {args.scale}: |mean| = "
          f"{np.linalg.norm(theta):.3f} (inputs {np.mean([np.linalg.norm(r) for r in rows]):.3f}) -> {args.out}")


if __name__ == "__main__":
    main()
