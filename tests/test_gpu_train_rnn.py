"""tools/gpu_train_rnn.py: its PyTorch M and loss against arch.py's on the same batch (needs torch,
which the project does not install: skipped without it), its batches (stage 04's windows), and merge."""
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import gpu_train_rnn  # noqa: E402
import npmodels  # noqa: E402

SIZES = dict(z_size=6, action_size=1, hidden=16, mixtures=3, predict_done=True)


def random_world_model(path, rng):
    vae = {k: rng.normal(0, 0.1, s).astype(np.float32) for k, s in npmodels.vae_shapes(SIZES["z_size"]).items()}
    rnn = {k: rng.normal(0, 0.3, s).astype(np.float32) for k, s in npmodels.rnn_shapes(**SIZES).items()}
    npmodels.save_world_model(path, "doom", vae_weights=vae, rnn_weights=rnn, **SIZES)
    return vae, rnn


def random_stream(rng, lengths):
    import training
    z = SIZES["z_size"]
    return training.join_episodes((rng.normal(0, 1, (T, z)), rng.normal(-1, 0.3, (T, z)), rng.uniform(-1, 1, (T, 1)),
                                   np.arange(T) == T - 1) for T in lengths)


def test_windows_are_stage_04s():
    """The tool cuts the stream with stage 04's own windows and stream (training.py), not a copy."""
    pytest.importorskip("keras")
    m04 = importlib.import_module("04_train_rnn")
    import training
    assert gpu_train_rnn.training is training and m04.training is training
    it = gpu_train_rnn.windows(1_000, 40, 8, seed=0)
    for epoch in (0, 1):
        starts = training.epoch_windows(1_000, 40, 0, epoch)
        for b in range(len(starts) // 8):
            e, bi, per_epoch, got = next(it)
            assert (e, bi, per_epoch) == (epoch, b, len(starts) // 8)
            np.testing.assert_array_equal(got, starts[b * 8:(b + 1) * 8])


def test_loss_matches_arch(tmp_path):
    """Windows that hold several episode starts: cutting them into zero-state segments gives
    arch.MDNRNN's outputs and losses (its state reset at each restart flag)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    import arch
    m04 = importlib.import_module("04_train_rnn")
    rng = np.random.default_rng(0)
    vae, rnn_w = random_world_model(str(tmp_path / "wm.npz"), rng)
    stream = random_stream(rng, [7, 30, 1, 12, 45, 3, 25, 60, 9, 18])
    L = 20
    starts = gpu_train_rnn.training.epoch_windows(len(stream["mu"]), L, 0, 0)[:6]
    assert sum(stream["restart"][s + 1:s + L].sum() for s in starts) >= 3  # resets inside windows

    class Zero:
        def standard_normal(self, shape, dtype):
            return np.zeros(shape, dtype)

    x, (z_next, done, valid) = m04.make_batch(stream, starts, L, Zero())
    keras_rnn = arch.MDNRNN(SIZES["z_size"], 1, SIZES["hidden"], SIZES["mixtures"], True, 10.0)
    keras_rnn.set_numpy_weights(rnn_w)
    out_k, _, _ = keras_rnn(x)
    want = [float(v) for v in keras_rnn.compute_losses(out_k, z_next, done, valid)]

    meta = npmodels.read_world_model(str(tmp_path / "wm.npz"))[0]
    _, rnn_t = gpu_train_rnn.torch_models(meta, vae, rnn_w, "cpu")
    t_stream = {k: torch.tensor(v.astype(np.float32) if v.dtype == bool else v) for k, v in stream.items()}
    with torch.no_grad():
        out, zt, dt, vt = gpu_train_rnn.forward_windows(rnn_t, t_stream, torch.tensor(starts), L, None)
        got = [float(v) for v in gpu_train_rnn.losses(out, zt, dt, vt, SIZES["z_size"], SIZES["mixtures"], 10.0)]
    np.testing.assert_allclose(out.numpy().reshape(out_k.shape), np.asarray(out_k), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    back = rnn_t.numpy_weights()
    for k, v in rnn_w.items():
        np.testing.assert_array_equal(back[k], v)


def test_encoder_matches_numpy(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    vae, rnn_w = random_world_model(str(tmp_path / "wm.npz"), rng)
    meta = npmodels.read_world_model(str(tmp_path / "wm.npz"))[0]
    enc, _ = gpu_train_rnn.torch_models(meta, vae, rnn_w, "cpu")
    frames = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        mu, logvar = enc(torch.tensor(frames))
    want_mu, want_lv = npmodels.WorldModel.load(str(tmp_path / "wm.npz")).encode(frames)
    np.testing.assert_allclose(mu.numpy(), want_mu, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logvar.numpy(), want_lv, rtol=1e-4, atol=1e-5)


def test_merge(tmp_path):
    """merge keeps V (its decoder stored in float16) and takes M from m.npz, refuses to overwrite,
    shifts only the done logit's bias with --done-shift; a bad M fails naming it."""
    rng = np.random.default_rng(2)
    vae, _ = random_world_model(str(tmp_path / "wm.npz"), rng)
    new_m = {k: rng.normal(0, 0.3, s).astype(np.float32) for k, s in npmodels.rnn_shapes(**SIZES).items()}
    np.savez(tmp_path / "m.npz", **new_m)
    tool = [sys.executable, os.path.join(ROOT, "tools", "gpu_train_rnn.py"), "merge",
            "--world-model", str(tmp_path / "wm.npz"), "--m", str(tmp_path / "m.npz")]
    subprocess.run(tool + ["--to", str(tmp_path / "out.npz")], check=True, capture_output=True)
    meta, v2, r2 = npmodels.read_world_model(str(tmp_path / "out.npz"))
    assert meta["hidden"] == SIZES["hidden"]
    for k, v in new_m.items():
        np.testing.assert_array_equal(r2[k], v)
    for k, v in vae.items():
        np.testing.assert_array_equal(v2[k], v.astype(np.float16) if k.startswith("dec_") else v)
    r = subprocess.run(tool + ["--to", str(tmp_path / "out.npz")], capture_output=True, text=True)
    assert r.returncode != 0 and "exists" in r.stderr  # never overwrites without --force
    subprocess.run(tool + ["--to", str(tmp_path / "shift.npz"), "--done-shift", "1.5"], check=True, capture_output=True)
    shifted = npmodels.read_world_model(str(tmp_path / "shift.npz"))[2]
    np.testing.assert_allclose(shifted["head_b"][0] - new_m["head_b"][0], 1.5, rtol=1e-6)
    np.testing.assert_array_equal(shifted["head_b"][1:], new_m["head_b"][1:])
    np.savez(tmp_path / "bad.npz", **{k: v for k, v in new_m.items() if k != "head_b"})
    r = subprocess.run(tool[:-1] + [str(tmp_path / "bad.npz"), "--to", str(tmp_path / "out2.npz")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "head_b" in r.stderr and "bad.npz" in r.stderr
    assert not os.path.exists(tmp_path / "out2.npz")
