"""Stage 02: train V, the ConvVAE (paper appendix A.1), on the random-rollout frames; with
vae.kind=vaegan a VAE-GAN (arch.VAEGAN, docs/vaegan.md) with the same encoder and decoder.

    python 02_train_vae.py --config doom small
    python 02_train_vae.py --config carracing vae.epochs=2

Frames stream from disk: each epoch visits the episode files in a seeded random order,
`vae.shuffle_episodes` files at a time, shuffled within that pool. Peak memory is set by
the pool, not by the number of rollouts. A checkpoint is written at pool boundaries every
`vae.checkpoint_minutes`; run the same command again to resume.

Reads  {rollouts_dir}/ep_*.npz                 (stage 01; {data_dir}/rollouts by default)
Writes {run_dir}/vae.weights.h5, vae_history.json, figures/vae_loss.png,
       figures/vae_reconstructions.png, config.yaml, then vae.done.json (the marker that says
       the stage is done: written last, with the outputs' hashes); checkpoints in {data_dir}/ckpt/vae.
       vaegan: vae.weights.h5 holds the encoder and decoder as a ConvVAE's (what 03 and 04 load),
       discriminator.weights.h5 the discriminator; the checkpoints hold both and the optimizer.
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
from worldmodels import training  # noqa: E402

STAGE = "02_train_vae"


def pools(files, pool_size, seed, epoch):
    """The epoch's file order, cut into pools of `pool_size` episodes."""
    order = np.random.default_rng([seed, epoch]).permutation(len(files))
    return [order[i:i + pool_size] for i in range(0, len(order), pool_size)]


def pool_batches(files, idx, batch_size, seed, epoch, pool_no, widths=None):
    """Shuffled full batches of uint8 frames from the episodes in one pool (remainder dropped)."""
    frames = np.concatenate([episodes.load(files[i], episodes.ROLLOUT, widths)["obs"] for i in idx])
    perm = np.random.default_rng([seed, epoch, pool_no]).permutation(len(frames))
    for start in range(0, len(frames) - batch_size + 1, batch_size):
        yield frames[perm[start:start + batch_size]]


def estimate_batches(files, batch_size):
    """Batches per epoch, for the progress bar (pools drop their last partial batch)."""
    return max(1, sum(episodes.num_steps(f) for f in files) // batch_size)


def save_reconstructions(vae, files, path, n=8):
    """Originals (top row) above their reconstructions (bottom row), z = mu."""
    from PIL import Image
    frames = []
    for f in files[:n]:
        obs = episodes.load(f, episodes.ROLLOUT)["obs"]
        frames.append(obs[len(obs) // 2])
    while len(frames) < n:  # fewer episodes than panels: take more frames from the first one
        obs = episodes.load(files[0], episodes.ROLLOUT)["obs"]
        frames.append(obs[(len(frames) * 7) % len(obs)])
    x = np.stack(frames)
    mu, _ = vae.encode(arch.ConvVAE.to_float(x))
    y = (keras.ops.convert_to_numpy(vae.decoder(mu)) * 255).round().astype(np.uint8)
    grid = np.concatenate([np.concatenate(list(x), axis=1), np.concatenate(list(y), axis=1)], axis=0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(path)


def main():
    p = config.parser(__doc__)
    args = p.parse_args()
    cfg = config.from_args(args)
    run = Run(cfg)
    run_dir, out_path, dis_path = run.results, run.vae_weights, run.discriminator_weights
    history_path, marker, ckpt_dir, rollouts_dir = run.vae_history, run.vae_done, run.checkpoint("vae"), run.rollouts
    try:
        files = episodes.list_episodes(rollouts_dir, "01_generate_data.py")
    except fileio.DataError:
        files = None  # no rollouts on disk: nothing to compare a finished V with
    inputs = files and training.episodes_signature(files)
    if training.done_already(STAGE, marker, [out_path], history_path, ckpt_dir, cfg.vae.epochs, "vae.epochs",
                             args.redo, inputs):
        return
    fileio.check_writable(run_dir, os.path.dirname(ckpt_dir))
    fileio.RunLock(run_dir, STAGE).acquire()  # one writer at a time
    fileio.remove_stale_tmp(run_dir)
    fileio.remove_stale_tmp(ckpt_dir)
    if files is None:  # there is training to do: the error naming the folder and stage 01
        files = episodes.list_episodes(rollouts_dir, "01_generate_data.py")
        inputs = training.episodes_signature(files)
    widths = run.widths
    vc = cfg.vae

    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_dtype_policy(vc.precision)
    gan = vc.kind == "vaegan"
    if gan:
        if error := arch.VAEGAN.backend_error():
            raise training.TrainingError(f"[{STAGE}] {error}")
        vae = arch.VAEGAN(vc.z_size, kl_tolerance=vc.kl_tolerance, gamma=vc.gan_gamma,
                          pixel_weight=vc.gan_pixel_weight, seed=cfg.seed)
        optimizer = keras.optimizers.RMSprop(vc.gan_learning_rate)  # arch.VAEGAN: one step for all three parts
        print(f"[{STAGE}] VAEGAN parameters: encoder+decoder {vae.vae_count_params():,} (as the ConvVAE), "
              f"discriminator {vae.discriminator.count_params():,} (z={vc.z_size})")
    else:
        vae = arch.ConvVAE(vc.z_size, kl_tolerance=vc.kl_tolerance, seed=cfg.seed)
        optimizer = keras.optimizers.Adam(vc.learning_rate)
        print(f"[{STAGE}] ConvVAE parameters: {vae.count_params():,} (z={vc.z_size}); Keras backend: "
              f"{keras.backend.backend()}")
    vae.compile(optimizer=optimizer)
    print(f"[{STAGE}] {len(files)} episodes in {rollouts_dir}")
    guard = training.CollapseGuard(vc.gan_collapse_window, vc.gan_collapse_warmup, vc.gan_collapse_low,
                                   vc.gan_collapse_tol) if gan else None

    state = None if args.redo else training.load_checkpoint(ckpt_dir, vae, optimizer)
    if state is None:
        state = {"epoch": 0, "pool": 0, "step": 0, "epoch_step": 0, "frames": 0, "history": [], "seconds": 0.0}
        if vc.init_from:
            training.warm_start(vae, "vae", vc.init_from, cfg.experiment, STAGE)
    else:
        print(f"[{STAGE}] resuming from {ckpt_dir}: epoch {state['epoch']}, pool {state['pool']}, step {state['step']}")

    timer = training.Timer(vc.checkpoint_minutes)
    t0 = time.time() - state["seconds"]
    n_run = 0  # batches in this process (training.kill_point)
    per_epoch = estimate_batches(files, vc.batch_size)
    while state["epoch"] < vc.epochs:
        epoch = state["epoch"]
        epoch_pools = pools(files, vc.shuffle_episodes, cfg.seed, epoch)
        bar = config.progress(total=per_epoch, initial=state["epoch_step"], desc=f"VAE epoch {epoch + 1}/{vc.epochs}",
                   unit="batch")
        for pool_no in range(state["pool"], len(epoch_pools)):
            sums, n = {}, 0
            for batch in pool_batches(files, epoch_pools[pool_no], vc.batch_size, cfg.seed, epoch, pool_no, widths):
                vae.reset_metrics()
                logs = {k: float(v) for k, v in vae.train_on_batch(batch, return_dict=True).items()}
                where = f"epoch {epoch + 1}, step {state['step'] + 1}"
                training.check_finite(logs, STAGE, where)
                if guard:
                    guard.update(logs["gan_d_loss"], state["step"] + 1, STAGE, where)
                state["step"] += 1
                state["epoch_step"] += 1
                state["frames"] += len(batch)
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                n += 1
                bar.update(1)
                bar.set_postfix(loss=f"{logs['loss']:.1f}", kl=f"{logs['kl_loss']:.1f}")
                training.kill_point(n_run := n_run + 1)
            if n:
                state["history"].append({"step": state["step"], "epoch": epoch, **{k: s / n for k, s in sums.items()}})
            state["pool"] = pool_no + 1
            state["seconds"] = time.time() - t0
            if timer.due() and state["pool"] < len(epoch_pools):
                training.save_checkpoint(ckpt_dir, vae, optimizer, state)
        bar.close()
        state.update(epoch=epoch + 1, pool=0, epoch_step=0, seconds=time.time() - t0)
        training.save_checkpoint(ckpt_dir, vae, optimizer, state)

    if not state["history"] and not (vc.epochs == 0 and vc.init_from):  # epochs 0: V as init_from has it
        raise SystemExit(f"[{STAGE}] no training batches: episodes are shorter than vae.batch_size={vc.batch_size}")
    def figures():
        if state["history"]:
            keys = ["loss", "r_loss", "kl_loss"] + (["dis_l_loss", "gan_d_loss", "gan_g_loss"] if gan else [])
            training.plot_curves(state["history"], keys, os.path.join(run_dir, "figures", "vae_loss.png"),
                                 f"{'VAEGAN' if gan else 'ConvVAE'} training ({cfg.name})")
        save_reconstructions(vae, files, os.path.join(run_dir, "figures", "vae_reconstructions.png"))
    twin = arch.ConvVAE(vc.z_size, kl_tolerance=vc.kl_tolerance)
    if gan:  # V as 03 and 04 load it: a ConvVAE with the VAE-GAN's encoder and decoder
        twin.set_numpy_weights(vae.numpy_weights())
    history = {"history": state["history"], "frames_seen": state["frames"], "seconds": state["seconds"]}
    training.write_outputs(marker, [
        (out_path, lambda p: training.save_weights_atomic(twin if gan else vae, twin, p)),
        *([(dis_path, lambda p: training.save_weights_atomic(vae.discriminator, vae.discriminator, p))] if gan else []),
        (history_path, lambda p: fileio.write_json(p, history))],
        step=state["step"], epoch=state["epoch"], then=[figures, lambda: config.save(cfg, run_dir, STAGE)],
        inputs=inputs)
    last = (state["history"] or [None])[-1]
    print(f"[{STAGE}] wrote {out_path}: {state['frames']:,} frames in {state['seconds']:.0f}s "
          f"({state['frames'] / max(state['seconds'], 1e-9):.0f} frames/s)" + (
              f"; last loss {last['loss']:.2f} (r {last['r_loss']:.2f}, kl {last['kl_loss']:.2f})" if last else ""))


def cli():
    """The command line: `python 02_train_vae.py --help`."""
    try:
        main()
    except (fileio.DataError, training.TrainingError) as e:
        raise SystemExit(f"[{STAGE}] error: {e}")
