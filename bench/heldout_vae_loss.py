"""V's pixel loss on held-out episodes: the sum of squared errors per frame (ConvVAE's r_loss),
reconstructing each frame from its mean code, for one or more trained V's on the same frames.

    python bench/heldout_vae_loss.py data/doom-held/rollouts results/a/vae.weights.h5 results/b/vae.weights.h5

Prints each V's mean loss with its standard error, and each V's paired difference to the first.
With --png, also draws the same held-out frames (top row) and each V's reconstruction of them (a row
each, labelled by --names):

    python bench/heldout_vae_loss.py data/carracing-heldout/rollouts results/carracing-v500/vae.weights.h5 \
        results/carracing-v500-vaegan/vae.weights.h5 --z 32 --names ConvVAE VAE-GAN --png recon.png
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import keras  # noqa: E402

import arch  # noqa: E402
from worldmodels.storage import episodes  # noqa: E402


def pixel_losses(weights, frames, z_size, keep=(), batch=256):
    """Each frame's loss from its mean code, and the reconstructions (float, [0, 1]) of the frames
    at the sorted indices `keep`."""
    vae = arch.ConvVAE(z_size)
    vae.load_weights(weights)
    out, kept = [], []
    for i in range(0, len(frames), batch):
        x = keras.ops.convert_to_numpy(arch.ConvVAE.to_float(frames[i:i + batch]))
        mu, _ = vae.encode(x)
        y = keras.ops.convert_to_numpy(vae.decoder(mu))
        out.append(((y - x) ** 2).reshape(len(x), -1).sum(1))
        kept.append(y[[j - i for j in keep if i <= j < i + len(x)]])
    return np.concatenate(out), np.concatenate(kept)


def draw(path, frames, recons, names):
    """The held-out frames (uint8) in the top row, each V's reconstructions of them below."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [("held-out frame", frames)] + list(zip(names, (np.clip(y, 0, 1) for y in recons)))
    n = len(frames)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.4 * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows):
        for c in range(n):
            axes[r, c].imshow(images[c])
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rollouts", help="a folder of episode files (ep_*.npz) none of the V's trained on")
    p.add_argument("weights", nargs="+", help="vae.weights.h5 files")
    p.add_argument("--z", type=int, default=64)
    p.add_argument("--png", help="draw held-out frames and each V's reconstructions to this file")
    p.add_argument("--names", nargs="+", help="a row label per weights file (default: the paths)")
    p.add_argument("--frames", type=int, default=8, help="frames in the figure, evenly spaced")
    args = p.parse_args()
    names = args.names or args.weights
    if len(names) != len(args.weights):
        p.error(f"--names gives {len(names)} labels for {len(args.weights)} weights files")
    frames = np.concatenate([episodes.load(f, episodes.ROLLOUT)["obs"]
                             for f in episodes.list_episodes(args.rollouts, "01_generate_data.py")])
    keep = np.linspace(0, len(frames) - 1, args.frames).astype(int) if args.png else []
    losses, recons = zip(*(pixel_losses(w, frames, args.z, keep) for w in args.weights))
    print(f"{len(frames)} held-out frames from {args.rollouts}")
    for w, e in zip(args.weights, losses):
        d = e - losses[0]
        print(f"{w}: {e.mean():.2f} +- {e.std() / np.sqrt(len(e)):.2f} (se); paired difference to the first "
              f"{d.mean():+.2f} +- {d.std() / np.sqrt(len(d)):.2f}")
    if args.png:
        draw(args.png, frames[keep], recons, names)


if __name__ == "__main__":
    main()
