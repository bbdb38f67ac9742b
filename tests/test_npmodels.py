"""npmodels (numpy V, M, C) against the Keras models in arch.py, file I/O, and MDN sampling statistics."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from worldmodels import npmodels  # noqa: E402
from worldmodels.storage import episodes  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # conftest.py


TOL = dict(rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def keras_arch():
    keras = pytest.importorskip("keras")
    import arch
    keras.utils.set_random_seed(0)
    return keras, arch


@pytest.fixture(scope="module")
def vaes(keras_arch):
    _, arch = keras_arch
    return {("convvae", z): arch.ConvVAE(z) for z in (32, 64)} | {("vaegan", 32): arch.VAEGAN(32)}


# Doom-like (done head, restart fed to the LSTM) and CarRacing-like, small for speed; CarRacing with
# a reward head, and with both heads (the done logit first, then the reward).
RNN_CONFIGS = {"doom": dict(z_size=16, action_size=1, hidden=32, mixtures=5, predict_done=True),
               "carracing": dict(z_size=8, action_size=3, hidden=24, mixtures=5, predict_done=False),
               "carracing-reward": dict(z_size=8, action_size=3, hidden=24, mixtures=5, predict_done=False,
                                        predict_reward=True),
               "carracing-done-reward": dict(z_size=8, action_size=3, hidden=24, mixtures=5, predict_done=True,
                                             predict_reward=True)}


def test_no_tensorflow_import():
    code = ("import sys; sys.path.insert(0, %r); from worldmodels import npmodels, dream; "
            "bad = [m for m in ('tensorflow', 'keras', 'arch') if m in sys.modules]; "
            "assert not bad, bad") % ROOT
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kind, z_size", [("convvae", 32), ("convvae", 64), ("vaegan", 32)])
def test_vae_matches_keras(vaes, kind, z_size):
    """A VAE-GAN's encoder and decoder (vae.kind=vaegan) go to the numpy V as a ConvVAE's do."""
    vae = vaes[kind, z_size]
    wm = npmodels.WorldModel.from_keras("doom" if z_size == 64 else "carracing", vae,
                                        _rnn_for(z_size, "doom" if z_size == 64 else "carracing"))
    rng = np.random.default_rng(z_size)
    frames = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    frames[0] = np.linspace(0, 255, 64, dtype=np.uint8)[:, None, None]  # a smooth frame too
    mu_k, logvar_k = vae.encode(vae.to_float(frames))
    mu, logvar = wm.encode(frames)
    assert mu.dtype == np.float32 and mu.shape == (3, z_size) and logvar.shape == (3, z_size)
    assert np.std(np.asarray(mu_k)) > 1e-3  # non-trivial outputs
    np.testing.assert_allclose(mu, np.asarray(mu_k), **TOL)
    np.testing.assert_allclose(logvar, np.asarray(logvar_k), **TOL)

    z = rng.standard_normal((2, z_size)).astype(np.float32) * 2
    y_k = np.asarray(vae.decoder(z))
    y = wm.decode(z)
    assert y.shape == (2, 64, 64, 3) and y.dtype == np.float32 and y.min() >= 0 and y.max() <= 1
    assert np.std(y_k) > 1e-3
    np.testing.assert_allclose(y, y_k, **TOL)


_RNNS = {}


def _rnn_for(z_size, experiment):
    """A small Keras MDNRNN matching z_size (for VAE tests that need a complete WorldModel)."""
    import arch
    key = (z_size, experiment)
    if key not in _RNNS:
        _RNNS[key] = arch.MDNRNN(z_size, npmodels.ACTION_SIZE[experiment], 8, 2, experiment == "doom")
    return _RNNS[key]


@pytest.mark.parametrize("name", list(RNN_CONFIGS))
def test_rnn_matches_keras(keras_arch, name):
    _, arch = keras_arch
    experiment, cfg = name.split("-")[0], RNN_CONFIGS[name]
    rnn = arch.MDNRNN(**cfg)
    wm = npmodels.WorldModel.from_keras(experiment, None, rnn)
    assert wm.predict_reward == cfg.get("predict_reward", False)
    B, T, Z, A, H = 3, 12, cfg["z_size"], cfg["action_size"], cfg["hidden"]
    rng = np.random.default_rng(1)
    z = rng.standard_normal((B, T, Z)).astype(np.float32)
    a = rng.uniform(-1, 1, (B, T, A)).astype(np.float32)
    restart = np.zeros((B, T, 1), np.float32)
    restart[0, 0] = 1.0   # row 0 restarts at the start (from a non-zero state) ...
    restart[:2, 6] = 1.0  # ... rows 0 and 1 mid-sequence; row 2 never
    h0 = rng.uniform(-0.9, 0.9, (B, H)).astype(np.float32)
    c0 = rng.standard_normal((B, H)).astype(np.float32)
    out_k, h_k, c_k = rnn(np.concatenate([z, a, restart], -1), initial_state=[h0, c0])
    logmix_k, mu_k, logstd_k, done_k = rnn.split(out_k)
    reward_k = rnn.reward(out_k)

    h, c = h0, c0
    outs = []
    for t in range(T):
        h, c = wm.step(z[:, t], a[:, t], restart[:, t, 0], h, c)
        outs.append(wm.mdn_raw(h))
        logmix, mu, logstd, done = wm.mdn(h)
        np.testing.assert_allclose(logmix, np.asarray(logmix_k)[:, t], **TOL)
        np.testing.assert_allclose(mu, np.asarray(mu_k)[:, t], **TOL)
        np.testing.assert_allclose(logstd, np.asarray(logstd_k)[:, t], **TOL)
        if cfg["predict_done"]:
            np.testing.assert_allclose(done, np.asarray(done_k)[:, t], **TOL)
        else:
            assert done is None and done_k is None
        if wm.predict_reward:
            np.testing.assert_allclose(wm.reward(h), np.asarray(reward_k)[:, t], **TOL)
            u, eps = npmodels.mdn_noise(np.random.default_rng(t), B, Z)
            z_next, _, reward = wm.sample_next_with(h, 1.0, u, eps, with_reward=True)
            np.testing.assert_array_equal(reward, wm.reward(h))
            np.testing.assert_array_equal(z_next, wm.sample_next_with(h, 1.0, u, eps)[0])
        else:
            assert wm.reward(h) is None and reward_k is None
    np.testing.assert_allclose(np.stack(outs, 1), np.asarray(out_k), **TOL)
    np.testing.assert_allclose(h, np.asarray(h_k), **TOL)
    np.testing.assert_allclose(c, np.asarray(c_k), **TOL)
    # the restart matters: without it row 0 would end elsewhere
    h2, c2 = h0, c0
    for t in range(T):
        h2, c2 = wm.step(z[:, t], a[:, t], 0.0, h2, c2)
    assert np.abs(h2[0] - h[0]).max() > 1e-3 and np.allclose(h2[2], h[2])


@pytest.mark.parametrize("experiment, inputs, z, hidden, expected", [
    ("carracing", "zh", 32, 256, 867),      # paper 2.3: W [z, h] + b
    ("carracing", "z", 32, 256, 99),        # paper's CarRacing table, "V model only": W z + b
    ("carracing", "z_hidden", 32, 256, 1443),  # orig MODE_Z_HIDDEN: 32*40+40 + 40*3+3
    ("doom", "zh", 64, 512, 1088)])         # paper 4: W [z, c, h], no bias
def test_controller_parameter_count(experiment, inputs, z, hidden, expected):
    assert npmodels.Controller(experiment, z, hidden, inputs).size == expected


def _by_hand(experiment, inputs, params, feature_row):
    """C written out with explicit loops in float64: the layers, then the squash."""
    n_in = len(feature_row)
    A = npmodels.ACTION_SIZE[experiment]
    bias = experiment != "doom"
    sizes = [(n_in, 40, True), (40, A, bias)] if inputs == "z_hidden" else [(n_in, A, bias)]
    y, k = [float(v) for v in feature_row], 0
    for i, (n, m, has_b) in enumerate(sizes):
        w = [[float(params[k + r * m + col]) for col in range(m)] for r in range(n)]
        k += n * m
        b = [float(params[k + col]) for col in range(m)] if has_b else [0.0] * m
        k += m if has_b else 0
        y = [sum(y[r] * w[r][col] for r in range(n)) + b[col] for col in range(m)]
        if i < len(sizes) - 1:
            y = [np.tanh(v) for v in y]
    assert k == len(params)
    a = [np.tanh(v) for v in y]
    if experiment == "carracing":
        a = [a[0], (a[1] + 1) / 2, min(max(a[2], 0.0), 1.0)]
    return a


@pytest.mark.parametrize("experiment, inputs", [("doom", "zh"), ("carracing", "zh"), ("carracing", "z"),
                                                ("carracing", "z_hidden"), ("doom", "z_hidden")])
def test_controller(experiment, inputs):
    Z, H = 6, 5
    ctrl = npmodels.Controller(experiment, Z, H, inputs)
    rng = np.random.default_rng(2)
    params = rng.standard_normal(ctrl.size).astype(np.float32)
    z, h, c = rng.standard_normal((4, Z)), rng.standard_normal((4, H)), rng.standard_normal((4, H))
    features = ctrl.features(z, h, c)
    # feature layout: "zh" Doom [z, c, h], CarRacing [z, h]; otherwise z alone (no M state)
    want = {"zh": np.concatenate([z, c, h] if experiment == "doom" else [z, h], axis=1)}.get(inputs, z)
    np.testing.assert_array_equal(features, want.astype(np.float32))
    assert features.shape == (4, ctrl.n_in) and ctrl.needs_m == (inputs == "zh")
    actions = ctrl.act(params, features)
    assert actions.shape == (4, npmodels.ACTION_SIZE[experiment]) and actions.dtype == np.float32
    for row, action in zip(features, actions):
        np.testing.assert_allclose(action, _by_hand(experiment, inputs, params, row), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ctrl.act(ctrl.unpack(params), features), actions)  # unpacked once
    low, high = npmodels.ACTION_BOUNDS[experiment]
    big = ctrl.act(params * 100, features)  # saturated: still inside the game's action space
    assert np.all(big >= np.array(low, np.float32)) and np.all(big <= np.array(high, np.float32))
    with pytest.raises(ValueError, match=f"expects {ctrl.size} parameters"):
        ctrl.act(params[1:], features)
    with pytest.raises(ValueError, match="features"):
        ctrl.act(params, features[:, 1:])
    with pytest.raises(ValueError, match="inputs must be one of"):
        npmodels.Controller(experiment, Z, H, "zch")


def test_controller_files_record_their_inputs(tmp_path):
    from worldmodels import es
    car = npmodels.Controller("carracing", 32, 256, "z")
    path = str(tmp_path / "best.npz")
    params = np.arange(car.size, dtype=np.float64)
    es.save_params(path, params, inputs=car.inputs)
    np.testing.assert_array_equal(car.load(path), params)
    with pytest.raises(ValueError, match="z_hidden.npz.*inputs=z_hidden.*controller.inputs=z_hidden"):
        npmodels.Controller("carracing", 32, 256, "z").load(_saved(tmp_path, "carracing", "z_hidden"))
    old = str(tmp_path / "old.npz")  # written before the key: the paper's C
    es.save_params(old, np.zeros(867))
    assert npmodels.Controller("carracing", 32, 256).load(old).shape == (867,)
    with pytest.raises(ValueError, match="old.npz.*inputs=zh"):
        car.load(old)


def _saved(tmp_path, experiment, inputs, z=32, h=256, seed=0):
    from worldmodels import es
    ctrl = npmodels.Controller(experiment, z, h, inputs)
    path = str(tmp_path / f"{experiment}-{inputs}.npz")
    es.save_params(path, np.random.default_rng(seed).standard_normal(ctrl.size), inputs=inputs)
    return path


@pytest.mark.parametrize("experiment, z, h", [("carracing", 32, 256), ("doom", 64, 512)])
def test_a_z_controller_loads_into_zh_as_the_same_policy(tmp_path, experiment, z, h):
    """A V-only controller is the full one with zeros on M's state: widened into a zh controller (a
    starting point for CMA-ES) it acts the same whatever h (and c) hold; z_hidden does not widen."""
    small, wide = npmodels.Controller(experiment, z, h, "z"), npmodels.Controller(experiment, z, h, "zh")
    path = _saved(tmp_path, experiment, "z", z, h)
    with pytest.raises(ValueError, match="inputs=z, but this one has inputs=zh"):
        wide.load(path)  # only as a starting point
    params = wide.load(path, widen=True)
    assert params.shape == (wide.size,) and params.dtype == np.float64
    assert np.count_nonzero(params) == small.size  # every z weight and bias kept, the rest zero
    rng = np.random.default_rng(1)
    zs, hs, cs = (rng.standard_normal((16, n)).astype(np.float32) for n in (z, h, h))
    np.testing.assert_array_equal(wide.act(params, wide.features(zs, hs, cs)),
                                  small.act(small.load(path), small.features(zs, hs, cs)))
    with pytest.raises(ValueError, match="inputs=z_hidden.*controller.inputs=z_hidden"):
        wide.load(_saved(tmp_path, experiment, "z_hidden", z, h), widen=True)


def _random_weights(experiment, z_size=16, hidden=32, mixtures=5, seed=0, reward=False):
    """Arguments of WorldModel / save_world_model (a reward head: pass predict_reward=True too)."""
    rng = np.random.default_rng(seed)
    A, pd = npmodels.ACTION_SIZE[experiment], experiment == "doom"
    vae = {k: (rng.standard_normal(s) * 0.05).astype(np.float32) for k, s in npmodels.vae_shapes(z_size).items()}
    rnn = {k: (rng.standard_normal(s) * 0.2).astype(np.float32)
           for k, s in npmodels.rnn_shapes(z_size, A, hidden, mixtures, pd, reward).items()}
    return (experiment, z_size, A, hidden, mixtures, pd, vae, rnn)


def test_rnn_shapes_parameter_counts():
    """rnn_shapes holds the paper's 422,368 for CarRacing's M (1,678,785 for Doom's); a reward head
    adds one output: hidden weights and a bias."""
    def count(*args):
        return sum(int(np.prod(s)) for s in npmodels.rnn_shapes(*args).values())
    assert count(32, 3, 256, 5, False) == 422_368 and count(64, 1, 512, 5, True) == 1_678_785
    shapes = npmodels.rnn_shapes(32, 3, 256, 5, False, True)
    assert shapes["head_w"] == (256, 481) and shapes["head_b"] == (481,)
    assert count(32, 3, 256, 5, False, True) == 422_368 + 256 + 1


def test_reward_head_save_load(tmp_path):
    """world_model.npz records the reward head (meta/predict_reward); a file written before the key
    loads as a world model without one."""
    args = _random_weights("carracing", z_size=8, hidden=16, reward=True)
    path = str(tmp_path / "wm.npz")
    npmodels.save_world_model(path, *args, predict_reward=True)
    wm, ref = npmodels.WorldModel.load(path), npmodels.WorldModel(*args, predict_reward=True)
    assert wm.predict_reward and not wm.predict_done
    h = np.random.default_rng(0).uniform(-1, 1, (3, 16)).astype(np.float32)
    np.testing.assert_array_equal(wm.reward(h), ref.reward(h))
    np.testing.assert_allclose(wm.reward(h), h @ args[7]["head_w"][:, 0] + args[7]["head_b"][0], rtol=1e-5, atol=1e-6)
    with np.load(path, allow_pickle=False) as f:
        assert bool(f["meta/predict_reward"])
        arrays = {k: f[k] for k in f.files}
    with pytest.raises(episodes.DataError, match="inconsistent.*head_w"):  # the head's extra column is checked
        episodes.save(str(tmp_path / "no_meta.npz"), **{k: v for k, v in arrays.items() if k != "meta/predict_reward"})
        npmodels.WorldModel.load(str(tmp_path / "no_meta.npz"))
    old_args = _random_weights("carracing", z_size=8, hidden=16)
    npmodels.save_world_model(path, *old_args)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k != "meta/predict_reward"}
    old = str(tmp_path / "old.npz")
    episodes.save(old, **arrays)
    wm = npmodels.WorldModel.load(old)
    assert not wm.predict_reward and wm.reward(h) is None
    np.testing.assert_array_equal(wm.mdn(h)[1], npmodels.WorldModel(*old_args).mdn(h)[1])


def test_save_load_roundtrip(tmp_path):
    args = _random_weights("doom")
    path = str(tmp_path / "wm.npz")
    npmodels.save_world_model(path, *args)
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]
    wm = npmodels.WorldModel.load(path)
    ref = npmodels.WorldModel(*args)
    assert (wm.experiment, wm.z_size, wm.action_size, wm.hidden, wm.mixtures, wm.predict_done) == \
        ("doom", 16, 1, 32, 5, True)
    with np.load(path, allow_pickle=False) as f:
        assert "vae/enc_conv1_w" in f.files and "rnn/head_w" in f.files and "meta/z_size" in f.files
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    for a, b in zip(wm.encode(frames), ref.encode(frames)):
        np.testing.assert_array_equal(a, b)
    h, c = wm.initial_state(2)
    z = rng.standard_normal((2, 16)).astype(np.float32)
    np.testing.assert_array_equal(wm.step(z, [[0.5], [-0.5]], 1.0, h, c)[0], ref.step(z, [[0.5], [-0.5]], 1.0, h, c)[0])
    # float16 storage: half the size, close but not exact
    path16 = str(tmp_path / "wm16.npz")
    npmodels.save_world_model(path16, *args, dtype="float16")
    wm16 = npmodels.WorldModel.load(path16)
    np.testing.assert_allclose(wm16.decode(z), ref.decode(z), atol=5e-3)
    # float16 decoder only: smaller file; what the agent uses (encode, step) stays exact
    path_dec16 = str(tmp_path / "wm_dec16.npz")
    npmodels.save_world_model(path_dec16, *args, decoder_dtype="float16")
    assert os.path.getsize(path16) < os.path.getsize(path_dec16) < os.path.getsize(path)
    wmd = npmodels.WorldModel.load(path_dec16)
    for a, b in zip(wmd.encode(frames), ref.encode(frames)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(wmd.step(z, [[0.5], [-0.5]], 1.0, h, c)[0], ref.step(z, [[0.5], [-0.5]], 1.0, h, c)[0])
    np.testing.assert_allclose(wmd.decode(z), ref.decode(z), atol=5e-3)
    assert np.abs(wmd.decode(z) - ref.decode(z)).max() > 0


def test_bad_files_raise_data_error(tmp_path):
    missing = str(tmp_path / "nope.npz")
    with pytest.raises(episodes.DataError, match="nope.npz"):
        npmodels.WorldModel.load(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file" * 10)
    with pytest.raises(episodes.DataError, match="garbage.npz"):
        npmodels.WorldModel.load(str(garbage))
    good = str(tmp_path / "good.npz")
    npmodels.save_world_model(good, *_random_weights("carracing", z_size=8, hidden=16))
    data = open(good, "rb").read()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(episodes.DataError, match="truncated.npz"):
        npmodels.WorldModel.load(str(truncated))
    # readable but inconsistent: meta says z 8, weights are for z 16
    args = list(_random_weights("carracing", z_size=16, hidden=16))
    with np.load(good, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["rnn/head_w"] = np.zeros((16, 7), np.float32)
    bad = str(tmp_path / "inconsistent.npz")
    episodes.save(bad, **arrays)
    with pytest.raises(episodes.DataError, match="inconsistent.npz.*head_w"):
        npmodels.WorldModel.load(bad)
    with pytest.raises(ValueError):
        npmodels.save_world_model(str(tmp_path / "x.npz"), *args[:6], args[7], args[6])  # swapped dicts


# ----------------------------------------------------------------------------- MDN sampling statistics
K_WEIGHTS = np.array([0.2, 0.5, 0.3])
K_MEANS = np.array([-20.0, 0.0, 20.0])  # far apart: nearest mean = component
K_STDS = np.array([0.5, 1.0, 0.3])


def _mixture_wm(done_bias):
    """A Doom world model whose MDN head ignores h: dim 0 is the known 3-mixture, dim 1 the same
    mixture with components reversed, so the layout and the per-dimension pick are both tested."""
    Z, H, K = 2, 4, 3
    args = list(_random_weights("doom", z_size=Z, hidden=H, mixtures=K))
    rnn = args[7]
    rnn["head_w"][:] = 0.0
    rev = slice(None, None, -1)
    per_dim = [np.concatenate([np.log(K_WEIGHTS) + 1.7, K_MEANS, np.log(K_STDS)]),  # unnormalised logmix
               np.concatenate([np.log(K_WEIGHTS[rev]), K_MEANS[rev], np.log(K_STDS[rev])])]
    rnn["head_b"][:] = np.concatenate([[done_bias]] + per_dim)
    return npmodels.WorldModel(*args)


@pytest.mark.parametrize("tau", [1.0, 0.5, 2.0])
def test_mdn_sampling_statistics(tau):
    wm = _mixture_wm(done_bias=-1.0)
    N = 100_000
    h = np.zeros((N, wm.hidden), np.float32)
    z, done = wm.sample_next(h, tau, np.random.default_rng(int(tau * 10)))
    assert z.shape == (N, 2) and z.dtype == np.float32 and done.shape == (N,) and not done.any()
    p = K_WEIGHTS ** (1 / tau)
    p /= p.sum()
    std = K_STDS * np.sqrt(tau)
    for dim, order in ((0, slice(None)), (1, slice(None, None, -1))):
        x = z[:, dim].astype(np.float64)
        comp = np.argmin(np.abs(x[:, None] - K_MEANS[order][None]), axis=1)
        freq = np.bincount(comp, minlength=3) / N
        se = np.sqrt(p[order] * (1 - p[order]) / N)
        assert np.all(np.abs(freq - p[order]) < 5 * se), (tau, dim, freq, p[order])
        for k in range(3):
            xs = x[comp == k]
            m, s = K_MEANS[order][k], std[order][k]
            assert abs(xs.mean() - m) < 5 * s / np.sqrt(len(xs)), (tau, dim, k, xs.mean())
            assert abs(xs.std() / s - 1) < 0.03, (tau, dim, k, xs.std(), s)
    logmix, mu, logstd, done_logit = wm.mdn(h[:2])
    np.testing.assert_allclose(np.exp(logmix[0, 0]), K_WEIGHTS, rtol=1e-5)  # normalised
    np.testing.assert_allclose(mu[0, 1], K_MEANS[::-1])
    np.testing.assert_allclose(done_logit, [-1.0, -1.0])


def test_mdn_low_temperature_picks_argmax_and_done():
    wm = _mixture_wm(done_bias=0.5)
    N = 20_000
    z, done = wm.sample_next(np.zeros((N, wm.hidden), np.float32), 0.01, np.random.default_rng(0))
    assert done.all()
    np.testing.assert_array_less(np.abs(z[:, 0]), 0.5)       # component 1 (weight 0.5), std 0.1
    np.testing.assert_array_less(np.abs(z[:, 1]), 0.5)
    assert np.abs(z[:, 0]).std() < 0.2
    # same noise -> same sample; vectorised over rows and dims
    u, eps = npmodels.mdn_noise(np.random.default_rng(5), 3, 2)
    a = wm.sample_next_with(np.zeros((3, wm.hidden), np.float32), 1.0, u, eps)[0]
    b = np.concatenate([wm.sample_next_with(np.zeros((1, wm.hidden), np.float32), 1.0, u[i:i + 1], eps[i:i + 1])[0]
                        for i in range(3)])
    np.testing.assert_array_equal(a, b)


def test_block_matmul_blocks_are_independent():
    """A block's rows are one matmul of their own: changing or removing other blocks changes nothing."""
    wm = npmodels.WorldModel(*_random_weights("doom", z_size=16, hidden=64))
    rng = np.random.default_rng(3)
    blocks = [3, 1, 12, 5, 2]
    B = sum(blocks)
    z = rng.standard_normal((B, 16)).astype(np.float32)
    a = rng.uniform(-1, 1, (B, 1)).astype(np.float32)
    h = rng.uniform(-1, 1, (B, 64)).astype(np.float32)
    c = rng.standard_normal((B, 64)).astype(np.float32)
    h_all, c_all = wm.step(z, a, 0.0, h, c, blocks=blocks)
    out_all, _ = wm.sample_next_with(h_all, 1.0, np.full((B, 16), 0.5), np.ones((B, 16)), blocks=blocks)
    starts = np.cumsum([0] + blocks)
    for i, (lo, hi) in enumerate(zip(starts[:-1], starts[1:])):
        alone = wm.step(z[lo:hi], a[lo:hi], 0.0, h[lo:hi], c[lo:hi])  # one matmul over the block alone
        np.testing.assert_array_equal(alone[0], h_all[lo:hi])
        np.testing.assert_array_equal(alone[1], c_all[lo:hi])
        z_alone, _ = wm.sample_next_with(alone[0], 1.0, np.full((hi - lo, 16), 0.5), np.ones((hi - lo, 16)))
        np.testing.assert_array_equal(z_alone, out_all[lo:hi])
        other = h.copy()
        other[:lo], other[hi:] = other[:lo] * 3, -other[hi:]
        np.testing.assert_array_equal(wm.step(z, a, 0.0, other, c, blocks=blocks)[0][lo:hi], h_all[lo:hi])
    with pytest.raises(ValueError, match="blocks cover"):
        npmodels.block_matmul(z, npmodels.split_columns(np.ones((16, 2), np.float32)), [3, 4])
    w = np.random.default_rng(5).standard_normal((16, 1100)).astype(np.float32)
    assert [c.shape[1] for c in npmodels.split_columns(w)] == [512, 512, 76]
    np.testing.assert_allclose(npmodels.block_matmul(z, npmodels.split_columns(w), blocks), z @ w, rtol=1e-5, atol=1e-5)


def test_matmul_does_not_depend_on_memory_alignment():
    """What worldmodels/dream.py's determinism also rests on: BLAS gives a block the same result wherever its
    rows (and the output) sit in memory, for M's shapes and one to 16 rows."""
    rng = np.random.default_rng(6)

    def at(a, offset):  # a copy of `a` starting `offset` floats after a 64-byte boundary
        buf = np.empty(a.size + 32, np.float32)
        start = (-buf.ctypes.data % 64) // 4 + offset
        view = buf[start:start + a.size].reshape(a.shape)
        view[...] = a
        return view
    for k, n in ((98, 256), (64, 241), (1088, 1)):
        w = rng.standard_normal((k, n)).astype(np.float32)
        for rows in (1, 3, 16):
            x = rng.standard_normal((rows, k)).astype(np.float32)
            want = x @ w
            for offset in range(1, 16, 3):
                out = at(np.zeros((rows, n), np.float32), offset % 5)
                np.matmul(at(x, offset), w, out=out)
                np.testing.assert_array_equal(out, want)


def test_elementwise_numpy_is_position_invariant():
    """What worldmodels/dream.py's determinism also rests on: numpy's elementwise float32 functions give an
    element the same value wherever it sits in an array of any length."""
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(1000) * 4).astype(np.float32)
    for fn in (np.tanh, np.exp, np.log1p):
        arg = np.abs(x) if fn is np.log1p else x
        full = fn(arg)
        for lo, hi in ((0, 1), (3, 4), (5, 22), (7, 1000), (1, 999)):
            np.testing.assert_array_equal(fn(arg[lo:hi].copy()), full[lo:hi])
        np.testing.assert_array_equal(fn(arg[::3]), full[::3])


def test_agent(tmp_path):
    args = _random_weights("doom", z_size=16, hidden=32)
    path = str(tmp_path / "wm.npz")
    npmodels.save_world_model(path, *args)
    wm = npmodels.WorldModel.load(path)
    ctrl = npmodels.Controller("doom", 16, 32)
    params = np.random.default_rng(0).standard_normal(ctrl.size).astype(np.float32)
    frames = np.random.default_rng(1).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)

    def run(agent):
        agent.reset()
        return np.array([agent.act(f) for f in frames])

    agent = npmodels.Agent(path, params, np.random.default_rng(7))
    acts = run(agent)
    assert acts.shape == (5, 1) and acts.dtype == np.float32 and np.all(np.abs(acts) <= 1)
    # by hand: z from the encoder sample, action from [z, c, h], then the LSTM step (restart first)
    rng = np.random.default_rng(7)
    h, c = wm.initial_state(1)
    for t, f in enumerate(frames):
        mu, logvar = wm.encode(f[None])
        z = mu + np.exp(logvar / 2) * rng.standard_normal(mu.shape).astype(np.float32)
        a = ctrl.act(params, ctrl.features(z, h, c))
        np.testing.assert_allclose(a[0], acts[t], rtol=1e-6, atol=1e-6)
        h, c = wm.step(z, a, 1.0 if t == 0 else 0.0, h, c)
    assert np.array_equal(run(npmodels.Agent(wm, params, np.random.default_rng(7))), acts)
    assert not np.array_equal(run(agent), acts)  # reset keeps the rng going: fresh noise
    zero = npmodels.Agent(wm, None, np.random.default_rng(0))
    zero.reset()
    assert np.array_equal(zero.act(frames[0]), [0.0])

    # override: the given action is played and M advances with it (not with C's action)
    played = np.float32([[-0.9], [0.0], [0.9], [0.5], [-0.2]])
    agent = npmodels.Agent(wm, params, np.random.default_rng(7))
    out = [agent.act(f, override=a) for f, a in zip(frames, played)]
    assert np.array_equal(np.array(out), played)
    rng = np.random.default_rng(7)
    h, c = wm.initial_state(1)
    for t, f in enumerate(frames):
        mu, logvar = wm.encode(f[None])
        z = mu + np.exp(logvar / 2) * rng.standard_normal(mu.shape).astype(np.float32)
        h, c = wm.step(z, played[t:t + 1], 1.0 if t == 0 else 0.0, h, c)
    np.testing.assert_allclose(agent.h, h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(agent.c, c, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("arithmetic", ["float32", "float64"])
def test_agent_without_m(tmp_path, arithmetic):
    """A C that reads z alone: the Agent never runs M (h, c stay zero); its action is C(z), computed
    in the agent's arithmetic from z rounded to float32, and rounded to float32 itself."""
    wm = npmodels.WorldModel(*_random_weights("carracing", z_size=16, hidden=32))
    calc, dt = wm.as_dtype(arithmetic), np.dtype(arithmetic)
    frames = np.random.default_rng(1).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    for inputs in ("z", "z_hidden"):
        ctrl = npmodels.Controller("carracing", 16, 32, inputs)
        params = np.random.default_rng(0).standard_normal(ctrl.size).astype(np.float32)
        agent = npmodels.Agent(wm, params, np.random.default_rng(7), inputs=inputs, arithmetic=arithmetic)
        agent.reset()
        rng = np.random.default_rng(7)
        for f in frames:
            action = agent.act(f)
            mu, logvar = calc.encode(f[None])
            z = (mu + np.exp(logvar / 2) * rng.standard_normal(mu.shape).astype(dt)).astype(np.float32)
            expected = ctrl.act(ctrl.unpack(params, dt), z.astype(dt))[0].astype(np.float32)
            assert action.dtype == np.float32
            np.testing.assert_array_equal(action, expected)
        assert not agent.h.any() and not agent.c.any()
        with pytest.raises(ValueError, match="parameters"):
            npmodels.Agent(wm, np.zeros(867), inputs=inputs)
