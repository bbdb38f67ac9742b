"""Do several Doom Ms give the controller the same input? Each M runs teacher-forced over the same
real episodes (stage 03's series: z = V's mean, the actions played, restart at each start), and each
LSTM unit's h (and c) is correlated with the reference M's over all those steps. A controller trained
in one M's dream reads [z, c, h]; where the correlations are near 1, it reads the same features in
the other Ms' dreams too (the premise of 05's controller.ensemble).

    python bench/hidden_alignment.py --series data/doom-m500/series --first 9000 --count 40 \\
        --world-model results/doom/world_model.npz results/doom-m500/world_model.npz \\
        results/doom-m500-e26/world_model.npz results/doom-iter1/world_model.npz

Prints, per world model, the median and mean over units of the correlation with the first one's.
The Ms must share V (the series' codes are V's).
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels import npmodels  # noqa: E402
from worldmodels.storage import episodes  # noqa: E402


def states(wm, episodes):
    """(h, c), each (total steps, hidden), teacher-forced over the episodes."""
    hs, cs = [], []
    for ep in episodes:
        h, c = wm.initial_state(1)
        for t in range(len(ep["mu"])):
            h, c = wm.step(ep["mu"][t:t + 1], ep["action"][t:t + 1], 1.0 if t == 0 else 0.0, h, c)
            hs.append(h[0])
            cs.append(c[0])
    return np.array(hs), np.array(cs)


def unit_correlation(a, b):
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0) + 1e-12)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", required=True, help="a stage-03 series folder (ep_XXXXXXXX.npz)")
    p.add_argument("--first", type=int, default=9000, help="first episode index")
    p.add_argument("--count", type=int, default=40, help="episodes")
    p.add_argument("--world-model", nargs="+", required=True, help="the reference first, then the others")
    args = p.parse_args()
    t0 = time.time()
    loaded = []
    for i in range(args.first, args.first + args.count):
        path = os.path.join(args.series, episodes.episode_name(i))
        try:
            ep = episodes.load(path, episodes.SERIES)
        except episodes.DataError as e:
            raise SystemExit(f"[hidden_alignment] {e}")
        loaded.append({"mu": ep["mu"].astype(np.float32), "action": ep["action"].astype(np.float32)})
    steps = sum(len(e["mu"]) for e in loaded)
    print(f"{args.count} episodes ({steps:,} steps) from {args.series}")
    ref = None
    for path in args.world_model:
        try:
            wm = npmodels.WorldModel.load(path)
        except episodes.DataError as e:  # names the path
            raise SystemExit(f"[hidden_alignment] {e}")
        h, c = states(wm, loaded)
        if ref is None:
            ref = (h, c)
        rh, rc = unit_correlation(ref[0], h), unit_correlation(ref[1], c)
        print(f"{path}: h correlation median {np.median(rh):.3f} mean {rh.mean():.3f}; "
              f"c median {np.median(rc):.3f} mean {rc.mean():.3f}")
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
