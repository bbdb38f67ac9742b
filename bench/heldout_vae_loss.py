"""V's pixel loss on held-out episodes: the sum of squared errors per frame (ConvVAE's r_loss),
reconstructing each frame from its mean code, for one or more trained V's on the same frames.

    python bench/heldout_vae_loss.py data/doom-held/rollouts results/a/vae.weights.h5 results/b/vae.weights.h5

Prints each V's mean loss with its standard error, and each V's paired difference to the first.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import keras  # noqa: E402

import arch  # noqa: E402
import rollouts  # noqa: E402


def pixel_losses(weights, frames, z_size, batch=256):
    vae = arch.ConvVAE(z_size)
    vae.load_weights(weights)
    out = []
    for i in range(0, len(frames), batch):
        x = keras.ops.convert_to_numpy(arch.ConvVAE.to_float(frames[i:i + batch]))
        mu, _ = vae.encode(x)
        y = keras.ops.convert_to_numpy(vae.decoder(mu))
        out.append(((y - x) ** 2).reshape(len(x), -1).sum(1))
    return np.concatenate(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rollouts", help="a folder of episode files (ep_*.npz) none of the V's trained on")
    p.add_argument("weights", nargs="+", help="vae.weights.h5 files")
    p.add_argument("--z", type=int, default=64)
    args = p.parse_args()
    frames = np.concatenate([rollouts.load(f, rollouts.ROLLOUT)["obs"]
                             for f in rollouts.list_episodes(args.rollouts, "01_generate_data.py")])
    losses = [pixel_losses(w, frames, args.z) for w in args.weights]
    print(f"{len(frames)} held-out frames from {args.rollouts}")
    for w, e in zip(args.weights, losses):
        d = e - losses[0]
        print(f"{w}: {e.mean():.2f} +- {e.std() / np.sqrt(len(e)):.2f} (se); paired difference to the first "
              f"{d.mean():+.2f} +- {d.std() / np.sqrt(len(d)):.2f}")


if __name__ == "__main__":
    main()
