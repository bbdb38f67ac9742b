"""End to end with V as a VAE-GAN: `--config carracing tiny vae.kind=vaegan` runs stages 01-06 on
the real game. Stage 02 writes V as a ConvVAE (what 03, 04 and the numpy agent read) and the
discriminator beside it, resumes bit for bit after a kill (discriminator and optimizer included),
and stops in one line on a NaN loss or a collapsed discriminator, keeping its last checkpoint.
"""
import json
import os
import shutil

import numpy as np
import pytest

from test_pipeline import run

GAN = ["vae.kind=vaegan"]
NAME = "carracing-tiny"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("vaegan"))
    logs = {s: run(s, "carracing", tmp, *GAN)[1] for s in
            ("01_generate_data.py", "02_train_vae.py", "03_generate_rnn_data.py", "04_train_rnn.py")}
    return tmp, logs


def test_vaegan_world_model(pipeline):
    import arch
    from worldmodels.storage import fileio
    from worldmodels import npmodels
    tmp, logs = pipeline
    res = f"{tmp}/results/{NAME}"
    assert ("VAEGAN parameters: encoder+decoder 4,348,547 (as the ConvVAE), discriminator 691,169"
            in logs["02_train_vae.py"])
    hist = json.load(open(f"{res}/vae_history.json"))["history"]
    assert hist and all(np.isfinite(h[k]) for h in hist for k in
                        ("loss", "r_loss", "kl_loss", "dis_l_loss", "gan_d_loss", "gan_g_loss"))
    assert set(fileio.is_done(f"{res}/vae.done.json")["outputs"]) == {
        "vae.weights.h5", "discriminator.weights.h5", "vae_history.json"}
    vae = arch.ConvVAE(32)  # V as 03 and 04 load it
    vae.load_weights(f"{res}/vae.weights.h5")
    gan = arch.VAEGAN(32)
    gan.discriminator.load_weights(f"{res}/discriminator.weights.h5")
    wm = npmodels.WorldModel.load(f"{res}/world_model.npz")
    frames = np.load(sorted(os.scandir(f"{tmp}/data/{NAME}/rollouts"), key=lambda e: e.name)[0].path)["obs"][:5]
    np.testing.assert_allclose(wm.encode(frames)[0], np.asarray(vae.encode(vae.to_float(frames))[0]),
                               rtol=1e-4, atol=1e-4)
    series = np.load(sorted(os.scandir(f"{tmp}/data/{NAME}/series"), key=lambda e: e.name)[0].path)
    np.testing.assert_allclose(series["mu"][:5], wm.encode(frames)[0], rtol=1e-4, atol=1e-4)
    assert os.path.getsize(f"{res}/figures/vae_loss.png") > 1000


def test_vaegan_controller_and_plots(pipeline):
    tmp, _ = pipeline
    res = f"{tmp}/results/{NAME}"
    run("05_train_controller.py", "carracing", tmp, *GAN)
    run("05_train_controller.py", "carracing", tmp, *GAN, "--eval")
    run("06_plot_results.py", "carracing", tmp, *GAN)
    real = json.load(open(f"{res}/controller/eval_real.json"))
    assert len(real["scores"]) == 2 and np.isfinite(real["mean"])
    assert f"{real['mean']:.0f}" in open(f"{res}/results.md").read()


def fresh_copy(tmp, name):
    root = os.path.join(tmp, name)
    shutil.copytree(f"{tmp}/data/{NAME}/rollouts", f"{root}/data/{NAME}/rollouts")
    return root


def test_vaegan_resume_after_kill_is_bit_exact(pipeline):
    """Killed (SIGKILL) after 10 batches and run again, stage 02 ends with the weights (V and the
    discriminator) and history of a run never interrupted."""
    tmp, _ = pipeline
    args = [*GAN, "vae.checkpoint_minutes=0"]  # a checkpoint at every pool boundary
    roots = {kind: fresh_copy(tmp, "gan-" + kind) for kind in ("straight", "killed")}
    run("02_train_vae.py", "carracing", roots["straight"], *args)
    code, _ = run("02_train_vae.py", "carracing", roots["killed"], *args, check=False,
                  env={"WM_KILL_AFTER_BATCHES": "10"})
    assert code == -9 and not os.path.exists(f"{roots['killed']}/results/{NAME}/vae.weights.h5")
    code, out = run("02_train_vae.py", "carracing", roots["killed"], *args)
    assert "resuming from" in out and "step 7" in out
    for f in ("vae.weights.h5", "discriminator.weights.h5"):
        a, b = (open(f"{r}/results/{NAME}/{f}", "rb").read() for r in roots.values())
        assert a == b, f
    ha, hb = (json.load(open(f"{r}/results/{NAME}/vae_history.json"))["history"] for r in roots.values())
    assert ha == hb and "gan_d_loss" in ha[-1]


def test_vaegan_nan_or_collapse_stops_02_keeping_the_checkpoint(pipeline):
    """A NaN loss, or a discriminator whose loss sits near log 4 (the guard made touchy: a window of 2
    batches, any mean within 10 of log 4), ends stage 02 in one line naming the step; nothing is
    written and the checkpoint before it stays."""
    tmp, _ = pipeline
    root = fresh_copy(tmp, "gan-nan")
    code, out = run("02_train_vae.py", "carracing", root, *GAN, "vae.gan_learning_rate=1e30", check=False)
    last = out.strip().splitlines()[-1]
    assert code == 1 and last.startswith("[02_train_vae] error: 02_train_vae: loss is not finite at epoch 1, step")
    assert not os.path.exists(f"{root}/results/{NAME}/vae.weights.h5")
    root = fresh_copy(tmp, "gan-collapse")
    code, out = run("02_train_vae.py", "carracing", root, *GAN, "vae.epochs=2", "vae.checkpoint_minutes=0",
                    "vae.gan_collapse_window=2", "vae.gan_collapse_warmup=16", "vae.gan_collapse_tol=10", check=False)
    last = out.strip().splitlines()[-1]
    assert code == 1 and last.startswith("[02_train_vae] error: 02_train_vae: the discriminator collapsed at "
                                         "epoch 2, step 16: its loss averaged"), out[-2000:]
    assert "within 10.0 of log 4" in last and "Traceback" not in out
    assert not os.path.exists(f"{root}/results/{NAME}/vae.weights.h5")
    assert json.load(open(f"{root}/data/{NAME}/ckpt/vae/state.json"))["step"] == 14  # epoch 1's end
