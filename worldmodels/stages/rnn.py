"""Stage 04: train M, the MDN-RNN (paper appendix A.2), on the encoded series.

    python 04_train_rnn.py --config doom small

As in the original doomrnn.py, all episodes are joined into one stream with a restart
flag at each episode's first frame (the flag zeroes the LSTM state; Doom's M also takes
it as input), and the stream is cut into sequences of `rnn.seq_len` steps from a random
offset each epoch. Teacher forcing: input [z_t, a_t, restart_t], target z_{t+1} (and
done_t for Doom, reward_t with rnn.predict_reward); z is re-sampled from the stored mu,
logvar for every batch. The z loss skips each episode's last step (its next frame belongs
to another episode).

Reads  {data_dir}/series/ep_*.npz (stage 03)
Writes {run_dir}/rnn.weights.h5, world_model.npz (numpy V + M for the controller stage),
       rnn_history.json, figures/rnn_loss.png, config.yaml, then rnn.done.json (the marker that says
       the stage is done: written last, with the outputs' hashes); checkpoints in {data_dir}/ckpt/rnn
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
from worldmodels import npmodels  # noqa: E402
from worldmodels.storage import episodes  # noqa: E402
from worldmodels import training  # noqa: E402

STAGE = "04_train_rnn"


def load_stream(files, widths):
    """All episodes as one stream (training.join_episodes), each file's widths (Run.widths) checked."""
    def series():
        for path in config.progress(files, desc="load series", unit="episode"):
            s = episodes.load(path, episodes.SERIES, widths)
            yield s["mu"], s["logvar"], s["action"], s["reward"], s["done"]
    return training.join_episodes(series())


def make_batch(stream, starts, seq_len, rng):
    idx = starts[:, None] + np.arange(seq_len + 1)[None, :]  # (B, L+1)
    mu, logvar = stream["mu"][idx], stream["logvar"][idx]
    z = mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape, dtype=np.float32)
    x = np.concatenate([z[:, :-1], stream["action"][idx[:, :-1]],
                        stream["restart"][idx[:, :-1], None].astype(np.float32)], axis=-1)
    t = idx[:, :-1]
    return x, (z[:, 1:], stream["done"][t].astype(np.float32), stream["valid"][t].astype(np.float32),
               stream["reward"][t])


def series_signature(init_path):
    """What the series on disk were made from, as 03 records it last in initial_z.npz (the episodes
    and the VAE that encoded them); None before 03 has run."""
    try:
        f = fileio.load_npz(init_path, ["episodes", "vae_hash"])
    except fileio.DataError:
        return None
    return training.episodes_signature(f["episodes"].tolist(), vae_hash=str(f["vae_hash"]))


def main():
    args = config.parser(__doc__).parse_args()
    cfg = config.from_args(args)
    run = Run(cfg)
    run_dir, out_path, wm_path, ckpt_dir = run.results, run.rnn_weights, run.world_model, run.checkpoint("rnn")
    history_path, marker = run.rnn_history, run.rnn_done
    inputs = series_signature(run.initial_z)
    if training.done_already(STAGE, marker, [out_path, wm_path], history_path, ckpt_dir, cfg.rnn.epochs,
                             "rnn.epochs", args.redo, inputs):
        return
    vae_path = run.vae_weights
    if not os.path.exists(vae_path):
        raise fileio.DataError(f"{vae_path}: VAE weights not found; run 02_train_vae.py first")
    fileio.check_writable(run_dir, os.path.dirname(ckpt_dir))
    fileio.RunLock(run_dir, STAGE).acquire()  # one writer at a time
    fileio.remove_stale_tmp(run_dir)
    fileio.remove_stale_tmp(ckpt_dir)
    files = episodes.list_episodes(run.series, "03_generate_rnn_data.py")
    rc, z_size = cfg.rnn, cfg.vae.z_size
    widths = run.widths
    action_size = widths["action"]

    stream = load_stream(files, widths)
    n_steps = len(stream["mu"])
    seq_len = min(rc.seq_len, n_steps - 1)
    n_windows = len(training.epoch_windows(n_steps, seq_len, cfg.seed, 0))
    batch_size = min(rc.batch_size, n_windows)
    if batch_size < rc.batch_size or seq_len < rc.seq_len:
        print(f"[{STAGE}] note: only {n_steps} steps of data: using batch {batch_size} x seq {seq_len} "
              f"(config asks {rc.batch_size} x {rc.seq_len})")

    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_dtype_policy(rc.precision)
    rnn = arch.MDNRNN(z_size, action_size, rc.hidden, rc.mixtures, rc.predict_done, rc.restart_factor,
                      rc.predict_reward, rc.reward_weight)
    optimizer = keras.optimizers.Adam(arch.OriginalDecay(rc.learning_rate, rc.decay_rate, rc.min_learning_rate),
                                      clipvalue=rc.grad_clip)
    rnn.compile(optimizer=optimizer)
    print(f"[{STAGE}] MDN-RNN parameters: {rnn.count_params():,} ({rc.hidden} LSTM units, {rc.mixtures} "
          f"mixtures, done head: {rc.predict_done}, reward head: {rc.predict_reward}); {len(files)} episodes, "
          f"{n_steps:,} steps; Keras backend: {keras.backend.backend()}")

    state = None if args.redo else training.load_checkpoint(ckpt_dir, rnn, optimizer)
    if state is None:
        state = {"epoch": 0, "batch": 0, "step": 0, "history": [], "seconds": 0.0}
        if rc.init_from:
            training.warm_start(rnn, "rnn", rc.init_from, cfg.experiment, STAGE)
    else:
        print(f"[{STAGE}] resuming from {ckpt_dir}: epoch {state['epoch']}, batch {state['batch']}")
    timer = training.Timer(rc.checkpoint_minutes)
    t0 = time.time() - state["seconds"]
    first_step = state["step"]  # training.kill_point counts this process's batches
    per_epoch = n_windows // batch_size
    bar = config.progress(total=rc.epochs * per_epoch, initial=state["epoch"] * per_epoch + state["batch"],
               desc="MDN-RNN", unit="batch")
    while state["epoch"] < rc.epochs:
        epoch = state["epoch"]
        starts = training.epoch_windows(n_steps, seq_len, cfg.seed, epoch)
        for b in range(state["batch"], per_epoch):
            rng = np.random.default_rng([cfg.seed, epoch, b])
            x, y = make_batch(stream, starts[b * batch_size:(b + 1) * batch_size], seq_len, rng)
            rnn.reset_metrics()
            logs = {k: float(v) for k, v in rnn.train_on_batch(x, y, return_dict=True).items()}
            training.check_finite(logs, STAGE, f"epoch {epoch + 1}, batch {b + 1}")
            training.kill_point(state["step"] - first_step + 1)
            state["step"] += 1
            state["batch"] = b + 1
            state["history"].append({"step": state["step"], "epoch": epoch, **logs,
                                     "lr": float(optimizer.learning_rate)})
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{logs['loss']:.3f}")
            state["seconds"] = time.time() - t0
            if timer.due():
                training.save_checkpoint(ckpt_dir, rnn, optimizer, state)
        state.update(epoch=epoch + 1, batch=0, seconds=time.time() - t0)
        training.save_checkpoint(ckpt_dir, rnn, optimizer, state)
    bar.close()

    keys = ["loss", "z_loss"] + (["done_loss"] if rc.predict_done else []) + \
        (["reward_loss"] if rc.predict_reward else [])
    vae = arch.ConvVAE(z_size)
    try:
        vae.load_weights(vae_path)
    except Exception as e:
        raise fileio.DataError(f"{vae_path}: cannot load VAE weights for z={z_size} ({e})") from None
    twin = arch.MDNRNN(z_size, action_size, rc.hidden, rc.mixtures, rc.predict_done, rc.restart_factor,
                       rc.predict_reward, rc.reward_weight)
    history = {"history": state["history"], "seconds": state["seconds"], "batch_size": batch_size, "seq_len": seq_len}
    training.write_outputs(marker, [
        (out_path, lambda p: training.save_weights_atomic(rnn, twin, p)),
        # ours: V's decoder is stored in float16 (it only draws pictures); what the agent uses stays float32
        (wm_path, lambda p: npmodels.save_world_model(p, cfg.experiment, z_size, action_size, rc.hidden, rc.mixtures,
                                                      rc.predict_done, vae.numpy_weights(), rnn.numpy_weights(),
                                                      decoder_dtype="float16", predict_reward=rc.predict_reward)),
        (history_path, lambda p: fileio.write_json(p, history))],
        step=state["step"], epoch=state["epoch"], then=[lambda: training.plot_curves(state["history"], keys, os.path.join(run_dir, "figures", "rnn_loss.png"),
                                            f"MDN-RNN training ({cfg.name})"),
              lambda: config.save(cfg, run_dir, STAGE)], inputs=inputs)
    last = state["history"][-1]
    parts = ", ".join(f"{k[:-5]} {last[k]:.3f}" for k in keys[1:])  # only the heads this M has
    print(f"[{STAGE}] wrote {out_path} and {wm_path}: {state['step']} batches in {state['seconds']:.0f}s; "
          f"last loss {last['loss']:.3f} ({parts})")


def cli():
    """The command line: `python 04_train_rnn.py --help`."""
    try:
        main()
    except (fileio.DataError, training.TrainingError) as e:
        raise SystemExit(f"[{STAGE}] error: {e}")
