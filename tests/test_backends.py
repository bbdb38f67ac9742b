"""Stages 02-04 under Keras' JAX backend (KERAS_BACKEND=jax, JAX's CPU wheel), beside the TensorFlow
runs of tests/test_pipeline.py, so that the GPU path (JAX on a CUDA machine) cannot rot.

One tiny Doom run (M with its done head): 01 once, then 02-04 under JAX as a user runs them. Its
outputs must carry the paper's parameter counts, load under TensorFlow (.weights.h5) and in numpy
(world_model.npz), and the numpy rollout path must agree with the JAX model as it does with
TensorFlow's (tests/test_npmodels.py). A VAE-GAN asked for under JAX is one line, not a traceback.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from test_pipeline import run

jax = pytest.importorskip("jax")

JAX = {"KERAS_BACKEND": "jax"}
COMPARE = """
import json, sys
import numpy as np
import keras
import arch
from worldmodels import npmodels
from worldmodels.storage import episodes
res, data = sys.argv[1], sys.argv[2]
wm = npmodels.WorldModel.load(res + "/world_model.npz")
vae = arch.ConvVAE(wm.z_size)
vae.load_weights(res + "/vae.weights.h5")
frames = episodes.load(episodes.list_episodes(data + "/rollouts", "01")[0], episodes.ROLLOUT)["obs"][:16]
mu, logvar = (keras.ops.convert_to_numpy(t) for t in vae.encode(arch.ConvVAE.to_float(frames)))
np_mu, np_logvar = wm.encode(frames)
rnn = arch.MDNRNN(wm.z_size, 1, wm.hidden, wm.mixtures, predict_done=True)
rnn.load_weights(res + "/rnn.weights.h5")
x = np.random.default_rng(0).normal(size=(2, 5, wm.z_size + 2)).astype(np.float32)
out, h, c = (keras.ops.convert_to_numpy(t) for t in rnn(x))
hn, cn = wm.initial_state(2)
for t in range(5):
    hn, cn = wm.step(x[:, t, :wm.z_size], x[:, t, wm.z_size:wm.z_size + 1], x[:, t, -1], hn, cn)
o = wm.mdn_raw(hn)
print(json.dumps({"backend": keras.backend.backend(), "vae": int(vae.count_params()), "rnn": int(rnn.count_params()),
                  "mu": float(np.abs(mu - np_mu).max()), "logvar": float(np.abs(logvar - np_logvar).max()),
                  "h": float(np.abs(h - hn).max()), "out": float(np.abs(out[:, -1] - o).max())}))
"""


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("jax"))
    run("01_generate_data.py", "doom", tmp)
    logs = {s: run(s, "doom", tmp, env=JAX)[1]
            for s in ("02_train_vae.py", "03_generate_rnn_data.py", "04_train_rnn.py")}
    return tmp, logs


def test_stages_02_to_04_train_under_jax(jax_run):
    import json
    tmp, logs = jax_run
    assert all("Keras backend: jax" in log for log in logs.values())
    assert "4,446,915" in logs["02_train_vae.py"] and "1,678,785" in logs["04_train_rnn.py"]  # the paper's
    res = f"{tmp}/results/doom-tiny"
    hist = json.load(open(f"{res}/rnn_history.json"))["history"]
    assert len(hist) >= 2 and all(np.isfinite(h["loss"]) and h["done_loss"] > 0 for h in hist)
    vae = json.load(open(f"{res}/vae_history.json"))["history"]
    assert all(np.isfinite(h["loss"]) and h["r_loss"] > 0 and h["kl_loss"] > 0 for h in vae)


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_jax_trained_weights_load_on_either_backend_and_agree_with_numpy(jax_run, backend):
    import json
    tmp, _ = jax_run
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", COMPARE, f"{tmp}/results/doom-tiny", f"{tmp}/data/doom-tiny"],
                          cwd=root, env=dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                                             PYTHONPATH=root), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["backend"] == backend and (r["vae"], r["rnn"]) == (4446915, 1678785)
    assert r["mu"] < 1e-3 and r["logvar"] < 1e-3 and r["h"] < 1e-4 and r["out"] < 1e-3, r


def test_a_vaegan_under_jax_is_one_line(jax_run):
    tmp, _ = jax_run
    code, out = run("02_train_vae.py", "doom", tmp, "vae.kind=vaegan", "name=doom-gan",
                    "data.rollouts_dir={data_root}/doom-tiny/rollouts", env=JAX, check=False)
    assert code != 0 and "Traceback" not in out
    assert "vae.kind=vaegan trains under the TensorFlow backend only (KERAS_BACKEND=jax)" in out.strip().splitlines()[-1]
