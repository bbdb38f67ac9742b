"""Stage 02's training speed, VAEGAN (vae.kind=vaegan) vs ConvVAE: train_on_batch steps per second on
one batch of random 64x64 frames, z=32, each model's own optimizer (RMSProp / Adam). The two
alternate in rounds, so that a machine whose load changes slows both alike.

    python bench/vaegan_speed.py --batch 100 --steps 5 --rounds 3

Prints each model's steps/s and frames/s (median over rounds) and their ratio.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import arch  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--steps", type=int, default=5, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    keras.utils.set_random_seed(0)
    frames = np.random.default_rng(0).integers(0, 256, (args.batch, 64, 64, 3), dtype=np.uint8)
    models = {"ConvVAE": arch.ConvVAE(32, seed=0), "VAEGAN": arch.VAEGAN(32, seed=0)}
    models["ConvVAE"].compile(optimizer=keras.optimizers.Adam(1e-4))
    models["VAEGAN"].compile(optimizer=keras.optimizers.RMSprop(1e-4))
    for m in models.values():  # trace and warm up
        m.train_on_batch(frames)
        m.train_on_batch(frames)
    rates = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, m in models.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                m.train_on_batch(frames)
            rates[name].append(args.steps / (time.perf_counter() - t))
    for name, r in rates.items():
        print(f"{name}: {np.median(r):.3f} steps/s ({np.median(r) * args.batch:.0f} frames/s) at batch {args.batch}; "
              f"rounds {', '.join(f'{x:.3f}' for x in r)}")
    print(f"VAEGAN / ConvVAE: {np.median(rates['VAEGAN']) / np.median(rates['ConvVAE']):.2f}")


if __name__ == "__main__":
    main()
