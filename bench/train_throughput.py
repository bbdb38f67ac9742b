"""Training throughput of V and M under each Keras backend: ConvVAE frames/s and MDN-RNN updates/s.

    python bench/train_throughput.py                          # TensorFlow and JAX, Doom's sizes
    python bench/train_throughput.py --backends jax --rnn-batch 100 --seq-len 500   # the authors' M batch
    python bench/train_throughput.py --precision mixed_bfloat16

Each backend runs in its own process (KERAS_BACKEND is read once, at import): arch.py's models,
Keras' own train step (train_on_batch, as stages 02 and 04 call it), synthetic data of the real
shapes (uint8 frames; M: [z, a, restart] sequences with Doom's done head). A few warm-up steps
(compilation) are not timed. Prints each backend's rates and their ratio to the first backend's.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = """
import json, sys, time
sys.path.insert(0, {root!r})
import keras, numpy as np
import arch
a = json.loads(sys.argv[1])
if a["precision"] != "float32":
    keras.mixed_precision.set_dtype_policy(a["precision"])
rng = np.random.default_rng(0)

def rate(step, warmup, steps):
    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t)

vae = arch.ConvVAE(a["z"], seed=0)
vae.compile(optimizer=keras.optimizers.Adam(1e-4))
frames = rng.integers(0, 256, (a["vae_batch"], 64, 64, 3), dtype=np.uint8)
vae_rate = rate(lambda: vae.train_on_batch(frames), 3, a["vae_steps"]) * a["vae_batch"]
rnn = arch.MDNRNN(a["z"], 1, a["hidden"], 5, predict_done=True)
rnn.compile(optimizer=keras.optimizers.Adam(1e-3, clipvalue=1.0))
B, T = a["rnn_batch"], a["seq_len"]
x = rng.normal(size=(B, T, a["z"] + 2)).astype(np.float32)
y = (rng.normal(size=(B, T, a["z"])).astype(np.float32), np.zeros((B, T), np.float32), np.ones((B, T), np.float32),
     np.zeros((B, T), np.float32))
rnn_rate = rate(lambda: rnn.train_on_batch(x, y), 2, a["rnn_steps"])
print(json.dumps({{"backend": keras.backend.backend(), "vae_frames_per_s": vae_rate, "rnn_updates_per_s": rnn_rate}}))
"""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    p.add_argument("--z", type=int, default=64)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--vae-batch", type=int, default=100)
    p.add_argument("--vae-steps", type=int, default=10)
    p.add_argument("--rnn-batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=200)
    p.add_argument("--rnn-steps", type=int, default=5)
    p.add_argument("--precision", default="float32", help="a Keras dtype policy, e.g. mixed_bfloat16")
    args = p.parse_args()
    probe = PROBE.format(root=ROOT)
    print(f"V: ConvVAE z={args.z}, batch {args.vae_batch}; M: LSTM {args.hidden}, batch {args.rnn_batch} x "
          f"{args.seq_len} steps; {args.precision}; {os.cpu_count()} CPUs")
    rows = []
    for backend in args.backends:
        t = time.time()
        proc = subprocess.run([sys.executable, "-c", probe, json.dumps(vars(args))], capture_output=True, text=True,
                              env=dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3"))
        if proc.returncode != 0:
            print(f"{backend}: failed\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(r)
        first = rows[0]
        print(f"{backend:>10}: V {r['vae_frames_per_s']:8.1f} frames/s ({r['vae_frames_per_s'] / first['vae_frames_per_s']:.2f}x)"
              f"   M {r['rnn_updates_per_s']:7.3f} updates/s ({r['rnn_updates_per_s'] / first['rnn_updates_per_s']:.2f}x)"
              f"   [{time.time() - t:.0f} s with start-up and compilation]")


if __name__ == "__main__":
    main()
