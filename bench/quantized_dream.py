"""Does the authors' weight quantization change the dream? Their doomrnn.py exported V and M to
JSON as round(w * 10000) integers, so the dream they trained the controller in ran on weights
rounded to 1e-4. This scores controllers in the dream of a world model and of its 1e-4-rounded
copy, with the same random numbers (the same seed), and prints both scores side by side.

    python bench/quantized_dream.py --world-model results/doom/world_model.npz \\
        --params results/doom/tau1.15/best.npz results/doom/tau1.15-seed1/best.npz

The rounded copy is written to a temporary file and removed. The paired difference is noise where
it is within a few standard errors (std / sqrt(episodes)) of the scores.
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels import dream  # noqa: E402
from worldmodels import npmodels  # noqa: E402

STEP = 1e-4  # orig doomrnn.py: weights saved as np.round(w * 10000).astype(int), loaded as / 10000


def quantized_copy(src, dst):
    """Write src's world model to dst with every V and M weight rounded to STEP; return max |change| in M."""
    with np.load(src) as d:
        arrays = {k: d[k] for k in d.files}
    change = 0.0
    for k, v in arrays.items():
        if k.startswith(("vae/", "rnn/")):
            q = (np.round(v.astype(np.float64) / STEP) * STEP).astype(v.dtype)
            if k.startswith("rnn/"):
                change = max(change, float(np.abs(q.astype(np.float64) - v).max()))
            arrays[k] = q
    np.savez(dst, **arrays)
    return change


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world-model", default="results/doom/world_model.npz")
    p.add_argument("--initial-z", help="default: initial_z.npz beside the world model")
    p.add_argument("--params", nargs="+", default=["results/doom/tau1.15/best.npz"])
    p.add_argument("--episodes", type=int, default=1024, help="dream rollouts per controller and model")
    p.add_argument("--temperature", type=float, default=1.15)
    p.add_argument("--seed", type=int, default=1_500_000_000)
    args = p.parse_args()
    init = args.initial_z or os.path.join(os.path.dirname(args.world_model), "initial_z.npz")
    mu0, logvar0 = dream.load_initial_z(init)
    wm = npmodels.WorldModel.load(args.world_model)
    controller = npmodels.Controller(wm.experiment, wm.z_size, wm.hidden)
    with tempfile.TemporaryDirectory() as tmp:
        qpath = os.path.join(tmp, "quantized.npz")
        print(f"max |w - round(w, 1e-4)| over M: {quantized_copy(args.world_model, qpath):.2e}")
        qwm = npmodels.WorldModel.load(qpath)
        print(f"dream at tau = {args.temperature}, {args.episodes} rollouts each, seed {args.seed}")
        print(f"{'controller':48s} {'float weights':>16s} {'rounded 1e-4':>16s} {'difference':>11s}")
        for path in args.params:
            theta = controller.load(path)
            t0 = time.time()
            a, b = (dream.dream_rollouts(m, mu0, logvar0, theta, trials=args.episodes, temperature=args.temperature,
                                         max_steps=2100, seed=args.seed)
                    for m in (wm, qwm))
            se = np.hypot(a.std(), b.std()) / np.sqrt(args.episodes)
            print(f"{path:48s} {a.mean():7.1f} +- {a.std():5.1f} {b.mean():7.1f} +- {b.std():5.1f} "
                  f"{b.mean() - a.mean():+7.1f} (SE ~{se:.0f}; {time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
