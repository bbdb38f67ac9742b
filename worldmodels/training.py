"""Helpers shared by the Keras training stages (02 and 04): checkpoints, NaN checks, curves, and M's
data stream. Nothing here imports Keras.

A checkpoint is a folder holding the model weights, the optimizer's variables and a
JSON state (position in the data, loss history). It is written to a fresh folder and
swapped in with renames, so a kill at any moment leaves either the old or the new one.
"""
import hashlib
import json
import math
import os
import shutil
import time

import numpy as np

from worldmodels.storage import fileio


class TrainingError(RuntimeError):
    pass


def weights_bytes(model):
    """About what `model`'s weights take on disk (to check the free space first: h5py crashes on a
    full disk instead of raising)."""
    return sum(int(np.prod(v.shape)) * 4 for v in model.weights) + (1 << 20)


def save_checkpoint(ckpt_dir, model, optimizer, state):
    tmp, old = ckpt_dir + ".tmp", ckpt_dir + ".old"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        os.makedirs(tmp)
        fileio.check_free(tmp, 3 * weights_bytes(model), ckpt_dir)
        model.save_weights(os.path.join(tmp, "model.weights.h5"))
        np.savez(os.path.join(tmp, "optimizer.npz"),
                 **{f"v{i:04d}": np.asarray(v) for i, v in enumerate(optimizer.variables)})
        np.savez(os.path.join(tmp, "rng.npz"), **{f"v{i:04d}": np.asarray(v) for i, v in enumerate(rng_state(model))})
        with open(os.path.join(tmp, "state.json"), "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
    except (OSError, fileio.WriteError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise e if isinstance(e, fileio.WriteError) else fileio.write_error(ckpt_dir, e) from None
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(ckpt_dir):
        os.replace(ckpt_dir, old)
    os.replace(tmp, ckpt_dir)
    shutil.rmtree(old, ignore_errors=True)


def rng_state(model):
    """The model's random-number state (Keras SeedGenerators, e.g. the VAE's sampling noise): not in
    its weights, but a resume must restore it to continue bit for bit."""
    return [v for v in model.variables if "seed_generator" in v.path]


def checkpoint_state(ckpt_dir):
    """The state saved in ckpt_dir (or its .old twin), {} if none or unreadable."""
    for d in (ckpt_dir, ckpt_dir + ".old"):
        try:
            with open(os.path.join(d, "state.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            continue
    return {}


def episodes_signature(names, **more):
    """What a stage's outputs were trained on, as its marker records it (write_outputs' `inputs`):
    how many episodes, a hash of their file names, and `more` (e.g. the VAE that encoded them)."""
    joined = "\n".join(os.path.basename(str(n)) for n in names)
    return dict(episodes=len(names), names_sha1=hashlib.sha1(joined.encode()).hexdigest()[:16], **more)


def done_already(stage, marker, out_paths, history_path, ckpt_dir, epochs, key, redo, inputs=None):
    """True when the stage has nothing left to do: its "done" marker (fileio.write_done, written
    after all its outputs) stands and matches a checkpoint that reached `epochs` (or no checkpoint is
    kept). Raising the epochs (config `key`) and running again trains on from the checkpoint;
    stopping that run early and lowering the epochs again writes the outputs from the checkpoint it
    reached. Outputs made before markers existed (no marker file) count as done where no checkpoint
    says otherwise.

    inputs (episodes_signature of the data on disk now, or None when it cannot be read): where the
    marker recorded other inputs, the finished outputs were trained on other data than is there now
    (more rollouts, a new V): TrainingError, rather than skipping silently or overwriting them."""
    if redo:
        return False
    if os.path.exists(marker):
        done = fileio.is_done(marker)
        last = done and done.get("step")
    else:  # made before markers: the outputs and their history
        done = all(os.path.exists(p) for p in out_paths) or None
        history = done and fileio.read_json(history_path)
        last = ((history or {}).get("history") or [{}])[-1].get("step")
    if not done:
        return False
    ckpt = checkpoint_state(ckpt_dir)
    if not ckpt or (ckpt["epoch"] >= epochs and last == ckpt["step"]):
        was = isinstance(done, dict) and done.get("inputs")
        if inputs and was and was != inputs:
            diff = ", ".join(f"{k} {was.get(k)} -> {v}" for k, v in inputs.items() if was.get(k) != v)
            raise TrainingError(f"[{stage}] {out_paths[0]} was trained on other data than is there now "
                                f"({diff}): --redo trains it again on this data (after moving the "
                                f"finished outputs aside if they are worth keeping)")
        print(f"[{stage}] done already: {out_paths[0]} (use --redo to train again)")
        return True
    print(f"[{stage}] {out_paths[0]} was written after {last} steps, the checkpoint has {ckpt['step']} "
          f"({ckpt['epoch']} epochs); going on to {key}={epochs}")
    return False


def write_outputs(marker, writers, step, epoch, then=(), inputs=None):
    """Write a training stage's outputs, then its marker, last. writers: [(path, write(path)), ...],
    each writing one output atomically (their hashes go in the marker); then: more writes whose
    files other stages share (the resolved config), made before the marker. A failed write leaves
    the previous outputs and marker as they were; a kill between two writes leaves outputs whose
    hashes no longer match the marker, so the stage is not done and the next run writes them again
    (from the checkpoint). Where there is no marker yet, one that lists nothing comes first (outputs
    without a marker count as made before markers: see done_already). inputs: what the outputs were
    trained on (episodes_signature), recorded in the marker for done_already to compare."""
    if not os.path.exists(marker):
        fileio.write_json(marker, {"writing": True})
    for path, write in writers:
        write(path)
    for write in then:
        write()
    fileio.write_done(marker, [p for p, _ in writers], step=step, epoch=epoch,
                      **({"inputs": inputs} if inputs else {}))


def load_checkpoint(ckpt_dir, model, optimizer):
    """Restore model + optimizer from ckpt_dir; return the saved state, or None if there is none."""
    if not os.path.exists(ckpt_dir) and os.path.exists(ckpt_dir + ".old"):
        os.replace(ckpt_dir + ".old", ckpt_dir)  # killed between the two renames
    state_path = os.path.join(ckpt_dir, "state.json")
    if not os.path.exists(state_path):
        return None
    try:
        with open(state_path) as f:
            state = json.load(f)
        model.load_weights(os.path.join(ckpt_dir, "model.weights.h5"))
        optimizer.build(model.trainable_variables)
        with np.load(os.path.join(ckpt_dir, "optimizer.npz"), allow_pickle=False) as saved:
            values = [saved[k] for k in sorted(saved.files)]
        if len(values) != len(optimizer.variables):
            raise ValueError(f"optimizer has {len(optimizer.variables)} variables, checkpoint {len(values)}")
        for var, value in zip(optimizer.variables, values):
            var.assign(value)
        rng_path = os.path.join(ckpt_dir, "rng.npz")
        if os.path.exists(rng_path):  # checkpoints made before it was saved resume with a fresh state
            with np.load(rng_path, allow_pickle=False) as saved:
                values = [saved[k] for k in sorted(saved.files)]
            variables = rng_state(model)
            if len(values) != len(variables):
                raise ValueError(f"model has {len(variables)} random states, checkpoint {len(values)}")
            for var, value in zip(variables, values):
                var.assign(value)
    except Exception as e:
        raise TrainingError(f"{ckpt_dir}: cannot resume from this checkpoint ({e}); "
                            "delete the folder to start the stage over") from None
    return state


def warm_start(model, part, path, experiment, stage):
    """Set V (part "vae") or M ("rnn") of a fresh Keras model from a world_model.npz, e.g. the shipped
    one, so that a run on a machine without the Keras weights or checkpoints trains on from it."""
    from worldmodels import npmodels
    meta, vae, rnn = npmodels.read_world_model(path)
    if meta["experiment"] != experiment:
        raise fileio.DataError(f"{path}: a {meta['experiment']} world model, this run is {experiment}")
    try:
        model.set_numpy_weights(vae if part == "vae" else rnn)
    except (KeyError, ValueError) as e:
        raise fileio.DataError(f"{path}: its {part} does not fit this config's model "
                               f"({type(e).__name__}: {e})") from None
    print(f"[{stage}] {part} starts from {path}")


def join_episodes(episodes):
    """Episodes (mu, logvar, action, reward, done) as one stream for M (stage 04): mu, logvar,
    action (T, A) float32, reward (T,) float32, restart (first frame), done, valid (has a next frame),
    each concatenated over episodes."""
    parts = {k: [] for k in ("mu", "logvar", "action", "reward", "restart", "done", "valid")}
    for mu, logvar, action, reward, done in episodes:
        T = len(mu)
        parts["mu"].append(np.asarray(mu, np.float32))
        parts["logvar"].append(np.asarray(logvar, np.float32))
        parts["action"].append(np.asarray(action, np.float32).reshape(T, -1))
        parts["reward"].append(np.asarray(reward, np.float32).reshape(T))
        parts["restart"].append(np.arange(T) == 0)
        parts["done"].append(done)
        parts["valid"].append(np.arange(T) < T - 1)
    return {k: np.concatenate(v) for k, v in parts.items()}


def epoch_windows(n_steps, seq_len, seed, epoch):
    """Shuffled start indices of the epoch's sequences (each needs seq_len + 1 stream steps)."""
    rng = np.random.default_rng([seed, epoch])
    offset = int(rng.integers(0, seq_len)) if n_steps > 2 * seq_len + 1 else 0
    starts = np.arange(offset, n_steps - seq_len, seq_len)
    return rng.permutation(starts)


def check_finite(logs, stage, where):
    bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
    if bad:
        raise TrainingError(f"{stage}: loss is not finite at {where}: {bad}. Nothing was saved from this "
                            "point on; the last checkpoint and earlier results are untouched.")


class CollapseGuard:
    """Stops a GAN whose discriminator collapsed (stage 02, vae.kind=vaegan; ours). D's loss
    (arch.vaegan_losses' gan_d_loss) averaged over the last `window` batches, once `warmup` batches
    are done, below `low` means D tells every frame apart (the decoder's GAN gradient vanishes);
    within `tol` of log 4 means D sits at chance (it teaches nothing, and Dis_l is no metric).
    window 0 turns it off."""

    AT_CHANCE = math.log(4.0)  # -log 0.5 on the real frames + -log 0.5 on the fakes

    def __init__(self, window, warmup, low, tol):
        self.window, self.warmup, self.low, self.tol = window, warmup, low, tol
        self.recent = []

    def update(self, loss, step, stage, where):
        """Add one batch's loss (batch number `step` of the run); raise TrainingError on collapse."""
        if not self.window:
            return
        self.recent = (self.recent + [loss])[-self.window:]
        if step < self.warmup or len(self.recent) < self.window:
            return
        mean = sum(self.recent) / self.window
        if mean < self.low:
            why = f"below {self.low} (it wins outright)"
        elif abs(mean - self.AT_CHANCE) < self.tol:
            why = f"within {self.tol} of log 4 = {self.AT_CHANCE:.3f} (it is at chance)"
        else:
            return
        raise TrainingError(f"{stage}: the discriminator collapsed at {where}: its loss averaged {mean:.4f} "
                            f"over the last {self.window} batches, {why}. The last checkpoint and earlier "
                            "results are untouched.")


def save_weights_atomic(model, twin, path):
    """Save `model`'s weights through `twin`, an uncompiled model of the same architecture:
    Keras 3's save_weights also stores a compiled model's optimizer state (3x the size).
    Atomic; the free space is checked first (h5py crashes on a full disk)."""
    twin.set_weights(model.get_weights())
    fileio.check_free(os.path.dirname(path) or ".", 2 * weights_bytes(twin), path)
    fileio.atomic_write(path, twin.save_weights, mode=None, suffix=".weights.h5")


def kill_point(done_batches):
    """Fault injection for the resume tests: with WM_KILL_AFTER_BATCHES=N in the environment, the
    process kills itself (SIGKILL, as a crash or an out-of-memory kill would) after N batches."""
    limit = os.environ.get("WM_KILL_AFTER_BATCHES")
    if limit and done_batches >= int(limit):
        import signal
        os.kill(os.getpid(), signal.SIGKILL)


class Timer:
    """Calls `due()` true every `minutes` minutes (for periodic checkpoints)."""

    def __init__(self, minutes):
        self.period, self.last = minutes * 60.0, time.time()

    def due(self):
        if time.time() - self.last >= self.period:
            self.last = time.time()
            return True
        return False


def plot_curves(history, keys, path, title, xlabel="step"):
    """Loss curves (one panel per key) to a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        ax.plot(steps, [h[key] for h in history], lw=1)
        ax.set_title(key)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
