"""training.done_already: "done" is the marker written last (its outputs' hashes) and a checkpoint
that agrees; outputs made before markers count as done where no checkpoint says otherwise."""
import json
import math
import os

import numpy as np
import pytest

from worldmodels.storage import fileio
from worldmodels import training


def setup(tmp_path, step=5):
    out = tmp_path / "vae.weights.h5"
    out.write_bytes(b"weights")
    hist = tmp_path / "vae_history.json"
    hist.write_text(json.dumps({"history": [{"step": step}]}))
    return str(out), str(hist), str(tmp_path / "vae.done.json"), str(tmp_path / "ckpt")


def checkpoint(ckpt, epoch, step):
    os.makedirs(ckpt, exist_ok=True)
    with open(os.path.join(ckpt, "state.json"), "w") as f:
        json.dump({"epoch": epoch, "step": step}, f)


def done(out, hist, marker, ckpt, epochs=1, redo=False):
    return training.done_already("02", marker, [out], hist, ckpt, epochs, "vae.epochs", redo)


def test_marker_decides(tmp_path, capsys):
    out, hist, marker, ckpt = setup(tmp_path)
    fileio.write_json(marker, {"writing": True})  # a run that died before its marker
    assert not done(out, hist, marker, ckpt)
    fileio.write_done(marker, [out, hist], step=5, epoch=1)
    assert done(out, hist, marker, ckpt) and not done(out, hist, marker, ckpt, redo=True)
    checkpoint(ckpt, 1, 5)
    assert done(out, hist, marker, ckpt)
    checkpoint(ckpt, 2, 9)  # the checkpoint went on (more epochs asked): train on
    assert not done(out, hist, marker, ckpt, epochs=2)
    assert "going on to vae.epochs=2" in capsys.readouterr().out
    checkpoint(ckpt, 1, 5)
    with open(hist, "w") as f:  # the history rewritten after the marker (a kill before the marker)
        json.dump({"history": [{"step": 6}]}, f)
    assert not done(out, hist, marker, ckpt)


def test_a_finished_stage_names_changed_inputs(tmp_path):
    """A marker that records its inputs (episodes_signature) is done for the same inputs, for
    inputs that cannot be read now (None), and stops with TrainingError for others; markers
    without inputs (older runs) stay done."""
    out, hist, marker, ckpt = setup(tmp_path)
    names = [f"ep_{i:06d}.npz" for i in range(4)]
    sig = training.episodes_signature(names, vae_hash="abc")
    assert sig["episodes"] == 4 and sig == training.episodes_signature(["/x/" + n for n in names], vae_hash="abc")
    assert sig != training.episodes_signature(names[:3] + ["ep_000009.npz"], vae_hash="abc")
    fileio.write_done(marker, [out, hist], step=5, epoch=1, inputs=sig)

    def check(inputs):
        return training.done_already("04", marker, [out], hist, ckpt, 1, "rnn.epochs", False, inputs)
    assert check(sig) and check(None)
    with pytest.raises(training.TrainingError, match=r"trained on other data than is there now "
                                                     r"\(episodes 4 -> 3, names_sha1 .*\): --redo"):
        check(training.episodes_signature(names[:3], vae_hash="abc"))
    with pytest.raises(training.TrainingError, match=r"vae_hash abc -> def"):
        check(training.episodes_signature(names, vae_hash="def"))
    assert not training.done_already("04", marker, [out], hist, ckpt, 1, "rnn.epochs", True, {"episodes": 1})
    fileio.write_done(marker, [out, hist], step=5, epoch=1)  # a marker from before inputs were recorded
    assert check(training.episodes_signature(names[:3]))


def test_outputs_from_before_markers(tmp_path):
    out, hist, marker, ckpt = setup(tmp_path)
    assert done(out, hist, marker, ckpt)  # no marker file, no checkpoint
    checkpoint(ckpt, 1, 7)  # a checkpoint past what the history describes
    assert not done(out, hist, marker, ckpt)
    os.remove(out)
    assert not done(out, hist, marker, ckpt)


def test_collapse_guard_trips_on_a_collapsed_discriminator_only():
    """Synthetic discriminator losses: a healthy, noisy one never trips the guard; one pinned near 0
    or near log 4 trips it after the warm-up, naming the step; window 0 never trips."""
    rng = np.random.default_rng(0)

    def feed(losses, window=200, warmup=500):
        guard = training.CollapseGuard(window, warmup, low=0.01, tol=0.005)
        for step, loss in enumerate(losses, 1):
            guard.update(float(loss), step, "02", f"step {step}")

    feed(np.clip(1.0 + 0.3 * rng.standard_normal(3000), 0.05, None))  # healthy
    feed(np.concatenate([np.full(400, math.log(4)), 1.0 + 0.3 * rng.standard_normal(2000)]))  # at chance in warm-up
    feed(np.full(3000, math.log(4)), window=0)  # off
    at_chance = math.log(4) + 0.002 * rng.standard_normal(3000)
    with pytest.raises(training.TrainingError, match=r"collapsed at step 500: .* within 0.005 of log 4"):
        feed(at_chance)
    wins = np.concatenate([np.full(1000, 1.0), np.full(2000, 0.0)])  # the mean drops below 0.01 at 199 zeros
    with pytest.raises(training.TrainingError, match=r"collapsed at step 1199: .* below 0.01"):
        feed(wins)
