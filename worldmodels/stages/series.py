"""Stage 03: encode every frame of every rollout with V into (mu, logvar) for training M.

    python 03_generate_rnn_data.py --config doom small

One series file per rollout, with the episode's actions, rewards and dones. Each file
records which VAE weights made it (a hash); re-running skips files made by the current
VAE and redoes the rest, so a retrained VAE never leaves stale series behind.

Reads  {run_dir}/vae.weights.h5 (stage 02), {rollouts_dir}/ep_*.npz (stage 01; {data_dir}/rollouts
       by default)
Writes {data_dir}/series/ep_*.npz (mu, logvar, action, reward, done, vae_hash), then, last,
       {run_dir}/initial_z.npz (mu, logvar of each episode's first frame: dream start states; with
       `episodes`, the names of the episodes it was made from, and `vae_hash`: the stage is done
       while they match the rollouts on disk and the VAE) and config.yaml
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402

import arch  # noqa: E402
from worldmodels import config  # noqa: E402
from worldmodels.run import Run  # noqa: E402
from worldmodels.storage import fileio  # noqa: E402
from worldmodels.storage import episodes  # noqa: E402

STAGE = "03_generate_rnn_data"
BATCH = 500  # frames per encoder call


def made_by(path, vae_hash, widths):
    """True if the series file exists, is readable, fits the config and was made by this VAE."""
    if not os.path.exists(path):
        return False
    try:
        episodes.check_header(path, episodes.SERIES, widths)
        return str(fileio.load_npz(path, ["vae_hash"])["vae_hash"]) == vae_hash
    except fileio.DataError:
        return False  # corrupt or of another shape: redo it


def initial_z_matches(path, names, vae_hash):
    """True if initial_z.npz was made from exactly these episodes by this VAE."""
    try:
        f = fileio.load_npz(path, ["episodes", "vae_hash"])
    except fileio.DataError:
        return False  # missing, corrupt or made before it recorded its episodes
    return f["episodes"].tolist() == names and str(f["vae_hash"]) == vae_hash


def main():
    args = config.parser(__doc__).parse_args()
    cfg = config.from_args(args)
    run = Run(cfg)
    run_dir, vae_path = run.results, run.vae_weights
    if not os.path.exists(vae_path):
        raise fileio.DataError(f"{vae_path}: VAE weights not found; run 02_train_vae.py first")
    files = episodes.list_episodes(run.rollouts, "01_generate_data.py")
    names = [os.path.basename(f) for f in files]
    series_dir, init_path = run.series, run.initial_z
    vae_hash = fileio.file_sha1(vae_path)[:16]
    widths = run.widths
    todo = [f for f in files if args.redo or not made_by(os.path.join(series_dir, os.path.basename(f)), vae_hash,
                                                          widths)]
    on_disk = set(os.listdir(series_dir)) if os.path.isdir(series_dir) else set()
    gone = sorted(f for f in on_disk - set(names) if f.startswith("ep_") and ".tmp" not in f)
    if not todo and not gone and initial_z_matches(init_path, names, vae_hash):
        print(f"[{STAGE}] done already: {len(files)} series in {series_dir} match {vae_path} (use --redo to redo)")
        return
    fileio.check_writable(series_dir, run_dir)
    fileio.RunLock(series_dir, STAGE).acquire()  # one writer at a time
    fileio.remove_stale_tmp(series_dir)
    if gone:  # series of episodes no longer in the rollouts: 04 would train on them
        print(f"[{STAGE}] removing {len(gone)} series whose episodes are gone from the rollouts: {', '.join(gone[:5])}"
              + (" ..." if len(gone) > 5 else ""))
        for name in gone:
            os.remove(os.path.join(series_dir, name))

    vae = arch.ConvVAE(cfg.vae.z_size)
    try:
        vae.load_weights(vae_path)
    except Exception as e:
        raise fileio.DataError(f"{vae_path}: cannot load VAE weights for z={cfg.vae.z_size} ({e})") from None
    encode = arch.compiled_encoder(vae)
    print(f"[{STAGE}] Keras backend: {keras.backend.backend()}")

    t0, frames = time.time(), 0
    print(f"[{STAGE}] encoding {len(todo)} of {len(files)} episodes ({len(files) - len(todo)} already done)")
    for path in config.progress(todo, desc="encode", unit="episode"):
        ep = episodes.load(path, episodes.ROLLOUT, widths)
        mus, logvars = [], []
        for start in range(0, len(ep["obs"]), BATCH):
            mu, logvar = encode(ep["obs"][start:start + BATCH])
            mus.append(keras.ops.convert_to_numpy(mu))
            logvars.append(keras.ops.convert_to_numpy(logvar))
        mu, logvar = np.concatenate(mus), np.concatenate(logvars)
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(logvar))):
            raise fileio.DataError(f"{path}: the VAE produced NaN/inf codes; is {vae_path} a diverged model?")
        episodes.save(os.path.join(series_dir, os.path.basename(path)), mu=mu, logvar=logvar,
                      action=ep["action"], reward=ep["reward"], done=ep["done"], vae_hash=np.array(vae_hash))
        frames += len(mu)

    firsts = [episodes.load(os.path.join(series_dir, name), episodes.SERIES, widths) for name in names]
    fileio.save_npz(init_path, mu=np.stack([s["mu"][0] for s in firsts]), logvar=np.stack([s["logvar"][0] for s in firsts]),
                    episodes=np.array(names), vae_hash=np.array(vae_hash))
    config.save(cfg, run_dir, STAGE)
    dt = time.time() - t0
    print(f"[{STAGE}] encoded {frames:,} frames in {dt:.0f}s ({frames / max(dt, 1e-9):.0f} frames/s); "
          f"wrote {series_dir} and {init_path}")


def cli():
    """The command line: `python 03_generate_rnn_data.py --help`."""
    try:
        main()
    except fileio.DataError as e:
        raise SystemExit(f"[{STAGE}] error: {e}")
