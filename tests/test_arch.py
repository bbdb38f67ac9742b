"""V, M, C: parameter counts (the paper's table), losses against independent numpy/scipy."""
import keras
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import arch


@pytest.mark.parametrize("z, expected", [(32, 4_348_547), (64, 4_446_915)])
def test_vae_parameter_count(z, expected):
    assert arch.ConvVAE(z).count_params() == expected


@pytest.mark.parametrize("z, a, hidden, done, expected", [
    (32, 3, 256, False, 422_368), (64, 1, 512, True, 1_678_785)])
def test_rnn_parameter_count(z, a, hidden, done, expected):
    assert arch.MDNRNN(z, a, hidden, 5, done).count_params() == expected


def test_rnn_parameter_count_with_reward_head():
    """CarRacing's M with one reward output (481 outputs at z=32, as the authors' book-chapter M):
    the count from the layer shapes, the formula checked on the paper's M without the head."""
    Z, A, H, K = 32, 3, 256, 5

    def count(outputs):
        lstm = (Z + A) * 4 * H + H * 4 * H + 4 * H  # kernel, recurrent kernel, bias (gates i, f, c, o)
        return lstm + H * outputs + outputs          # dense head: weights and bias
    assert count(K * Z * 3) == 422_368 == arch.MDNRNN(Z, A, H, K).count_params()
    rnn = arch.MDNRNN(Z, A, H, K, predict_reward=True)
    assert rnn.output_width == 481 and rnn.count_params() == count(481)


def test_vae_shapes():
    vae = arch.ConvVAE(32)
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    mu, logvar = vae.encode(arch.ConvVAE.to_float(frames))
    assert mu.shape == (3, 32) and logvar.shape == (3, 32)
    y = np.asarray(vae(frames))
    assert y.shape == (3, 64, 64, 3) and y.min() >= 0 and y.max() <= 1


def test_vae_loss_and_kl_floor():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(4, 64, 64, 3)).astype(np.float32)
    y = rng.uniform(size=(4, 64, 64, 3)).astype(np.float32)
    mu = rng.normal(size=(4, 8)).astype(np.float32) * np.array([[0.01], [0.01], [3], [3]], np.float32)
    logvar = np.zeros((4, 8), np.float32)
    total, r, kl = (float(v) for v in arch.vae_losses(x, y, mu, logvar, kl_tolerance=0.5))
    assert r == pytest.approx(np.mean(np.sum((x - y) ** 2, axis=(1, 2, 3))), rel=1e-5)
    kl_each = 0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1 - logvar, axis=1)
    assert kl_each[0] < 4 and kl_each[2] > 4  # two rows below the floor, two above
    assert kl == pytest.approx(np.mean(np.maximum(kl_each, 0.5 * 8)), rel=1e-5)
    assert total == pytest.approx(r + kl, rel=1e-6)


def test_mdn_nll_matches_scipy():
    rng = np.random.default_rng(2)
    B, T, Z, K = 2, 3, 4, 5
    raw = rng.normal(size=(B, T, Z, K))
    logmix = raw - logsumexp(raw, axis=-1, keepdims=True)
    mu = rng.normal(size=(B, T, Z, K))
    logstd = rng.normal(scale=0.3, size=(B, T, Z, K))
    y = rng.normal(size=(B, T, Z))
    mask = np.array([[1, 1, 0], [1, 0, 1]], np.float32)
    pdf = np.sum(np.exp(logmix) * stats.norm.pdf(y[..., None], loc=mu, scale=np.exp(logstd)), axis=-1)
    expected = -np.sum(np.log(pdf) * mask[..., None]) / (mask.sum() * Z)
    got = float(arch.mdn_nll(*(a.astype(np.float32) for a in (logmix, mu, logstd, y)), mask))
    assert got == pytest.approx(expected, rel=1e-4)
    unmasked = float(arch.mdn_nll(*(a.astype(np.float32) for a in (logmix, mu, logstd, y))))
    assert unmasked == pytest.approx(-np.mean(np.log(pdf)), rel=1e-4)


def test_mdn_split_layout_and_done_loss():
    rnn = arch.MDNRNN(2, 1, 8, mixtures=3, predict_done=True, restart_factor=10.0)
    out = np.arange(1 + 2 * 9, dtype=np.float32).reshape(1, 1, -1)
    logmix, mu, logstd, done = (np.asarray(v) for v in rnn.split(out))
    assert done[0, 0] == 0  # done logit first (orig doomrnn.py layout)
    np.testing.assert_allclose(mu[0, 0, 0], [4, 5, 6])
    np.testing.assert_allclose(logstd[0, 0, 1], [16, 17, 18])
    np.testing.assert_allclose(np.exp(logmix).sum(-1), 1, rtol=1e-6)
    logit = np.array([[-2.0, 0.5, 3.0]], np.float32)
    target = np.array([[0.0, 1.0, 1.0]], np.float32)
    p = 1 / (1 + np.exp(-logit))
    ce = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    expected = np.mean(ce * (1 + 9 * target))
    assert float(arch.weighted_done_loss(logit, target, 10.0)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("done", [False, True])
def test_reward_head_layout_and_loss(done):
    """The reward output sits after the done logit, before the mixtures; its loss is the mean squared
    error, weighted by reward_weight in the total."""
    rnn = arch.MDNRNN(2, 3, 8, mixtures=3, predict_done=done, predict_reward=True, reward_weight=0.5)
    off = 1 + done
    assert rnn.output_width == 2 * 9 + off
    rng = np.random.default_rng(5)
    out = rng.normal(size=(2, 4, rnn.output_width)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(rnn.reward(out)), out[..., off - 1])
    logmix, mu, _, done_logit = (None if v is None else np.asarray(v) for v in rnn.split(out))
    np.testing.assert_allclose(mu[0, 0, 0], out[0, 0, off + 3:off + 6])  # the mixtures start after the reward
    assert (done_logit is None) != done
    z_next = rng.normal(size=(2, 4, 2)).astype(np.float32)
    done_t = (rng.uniform(size=(2, 4)) < 0.3).astype(np.float32)
    mask = np.ones((2, 4), np.float32)
    reward = rng.normal(size=(2, 4)).astype(np.float32) * 3
    total, z_loss, done_loss, reward_loss = (float(v) for v in rnn.compute_losses(out, z_next, done_t, mask, reward))
    assert reward_loss == pytest.approx(np.mean((out[..., off - 1] - reward) ** 2), rel=1e-5)
    assert total == pytest.approx(z_loss + done_loss + 0.5 * reward_loss, rel=1e-5)
    assert (done_loss != 0) == done
    plain = arch.MDNRNN(2, 3, 8, mixtures=3, predict_done=done)
    assert plain.reward(out[..., 1:]) is None
    assert float(plain.compute_losses(out[..., 1:], z_next, done_t, mask)[3]) == 0.0


def test_rnn_trains_its_reward_head():
    """train_step takes (z_next, done, mask, reward) and the reward loss falls."""
    keras.utils.set_random_seed(0)
    rnn = arch.MDNRNN(4, 3, 16, 2, predict_reward=True)
    rnn.compile(optimizer=keras.optimizers.Adam(1e-2))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 10, 8)).astype(np.float32)
    x[..., -1] = 0
    reward = np.where(x[..., 0] > 0, 3.0, -0.1).astype(np.float32)  # a function of the input
    y = (rng.normal(size=(8, 10, 4)).astype(np.float32), np.zeros((8, 10), np.float32), np.ones((8, 10), np.float32),
         reward)
    first = rnn.train_on_batch(x, y, return_dict=True)["reward_loss"]
    for _ in range(40):
        rnn.reset_metrics()
        last = rnn.train_on_batch(x, y, return_dict=True)["reward_loss"]
    assert last < 0.3 * first


def test_restart_flag_zeroes_lstm_state():
    """A restart mid-sequence makes the rest of the outputs independent of what came before."""
    rnn = arch.MDNRNN(4, 1, 16, 5, predict_done=True)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 6)).astype(np.float32)
    x[:, :, -1] = 0
    x[:, 3, -1] = 1
    x[1, :3, :-1] = rng.normal(size=(3, 5))  # different history before the restart
    out, _, _ = rnn(x)
    out = np.asarray(out)
    assert not np.allclose(out[0, :3], out[1, :3])
    x[1, 3:] = x[0, 3:]
    out, _, _ = rnn(x)
    out = np.asarray(out)
    np.testing.assert_allclose(out[0, 3:], out[1, 3:], atol=1e-6)


def test_learning_rate_schedule():
    sched = arch.OriginalDecay(1e-3, 0.99, 1e-5)
    assert float(sched(0)) == pytest.approx(1e-3)
    assert float(sched(100)) == pytest.approx((1e-3 - 1e-5) * 0.99 ** 100 + 1e-5, rel=1e-5)


def test_vae_trains_on_a_batch():
    keras.utils.set_random_seed(0)
    vae = arch.ConvVAE(8)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    frames = np.zeros((8, 64, 64, 3), np.uint8)
    frames[:, 20:40] = 200
    first = vae.train_on_batch(frames, return_dict=True)["r_loss"]
    for _ in range(15):
        vae.reset_metrics()
        last = vae.train_on_batch(frames, return_dict=True)["r_loss"]
    assert last < 0.5 * first


def test_set_numpy_weights_round_trip():
    """set_numpy_weights is numpy_weights' inverse; a wrong shape is an error naming the weight."""
    a, b = arch.MDNRNN(8, 1, 16, 5, True), arch.MDNRNN(8, 1, 16, 5, True)
    b.set_numpy_weights(a.numpy_weights())
    x = np.random.default_rng(0).standard_normal((2, 3, 10)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(a(x)[0]), np.asarray(b(x)[0]))
    bad = dict(a.numpy_weights(), head_b=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="head_b"):
        b.set_numpy_weights(bad)
    v, w = arch.ConvVAE(8), arch.ConvVAE(8)
    w.set_numpy_weights(v.numpy_weights())
    frames = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(v.encode(v.to_float(frames))[0]),
                                  np.asarray(w.encode(w.to_float(frames))[0]))


def test_vaegan_parameter_counts():
    """The encoder and decoder are the ConvVAE's; the discriminator's count follows from its layers:
    4x4 stride-2 valid convolutions 3 -> 32 -> 64 -> 128 -> 256 channels, then one dense logit."""
    gan = arch.VAEGAN(32)
    assert gan.vae_count_params() == arch.ConvVAE(32).count_params() == 4_348_547
    size, cin, expected = 64, 3, 0
    for cout in (32, 64, 128, 256):
        expected += 4 * 4 * cin * cout + cout
        size, cin = (size - 4) // 2 + 1, cout
    expected += size * size * cin + 1
    assert gan.discriminator.count_params() == expected == 691_169
    assert gan.count_params() == 4_348_547 + expected
    assert tuple(gan.discriminator.outputs[0].shape[1:]) == (6, 6, 128)  # Dis_l


def test_vaegan_losses_against_numpy():
    rng = np.random.default_rng(4)
    B = 3
    x, y = (rng.uniform(size=(B, 64, 64, 3)).astype(np.float32) for _ in range(2))
    mu, logvar = rng.normal(size=(B, 8)).astype(np.float32), np.zeros((B, 8), np.float32)
    feats = rng.normal(size=(3 * B, 6, 6, 4)).astype(np.float32)
    logits = rng.normal(size=(3 * B, 1)).astype(np.float32) * 3
    r, kl, dis_l, gan_d, gan_g = (float(v) for v in arch.vaegan_losses(x, y, mu, logvar, feats, logits, 0.5))
    _, r_vae, kl_vae = (float(v) for v in arch.vae_losses(x, y, mu, logvar, 0.5))
    assert (r, kl) == (r_vae, kl_vae)
    assert dis_l == pytest.approx(np.mean(np.sum((feats[:B] - feats[B:2 * B]) ** 2, axis=(1, 2, 3))), rel=1e-5)
    p = 1 / (1 + np.exp(-logits[:, 0].astype(np.float64)))
    real, recon, prior = p[:B], p[B:2 * B], p[2 * B:]
    d = -np.mean(np.log(real)) - 0.5 * (np.mean(np.log(1 - recon)) + np.mean(np.log(1 - prior)))
    g = -0.5 * (np.mean(np.log(recon)) + np.mean(np.log(prior)))
    assert gan_d == pytest.approx(d, rel=1e-5) and gan_g == pytest.approx(g, rel=1e-5)
    chance = arch.vaegan_losses(x, y, mu, logvar, feats, np.zeros_like(logits), 0.5)
    assert float(chance[3]) == pytest.approx(np.log(4), rel=1e-6)  # what the collapse guard looks for


def test_vaegan_trains_each_part():
    """One step moves the encoder, the decoder and the discriminator; a few steps on one batch cut
    the pixel error as the ConvVAE's do; numpy_weights are the ConvVAE's, under its names."""
    keras.utils.set_random_seed(0)
    gan = arch.VAEGAN(8, seed=0)
    gan.compile(optimizer=keras.optimizers.RMSprop(1e-3))
    frames = np.zeros((8, 64, 64, 3), np.uint8)
    frames[:, 20:40] = 200
    before = [[v.numpy().copy() for v in part] for part in gan.parts()]
    logs = gan.train_on_batch(frames, return_dict=True)
    assert set(logs) == {"loss", "r_loss", "kl_loss", "dis_l_loss", "gan_d_loss", "gan_g_loss"}
    for old, part in zip(before, gan.parts()):
        assert any(not np.array_equal(a, np.asarray(v)) for a, v in zip(old, part))
    first = logs["r_loss"]
    for _ in range(15):
        gan.reset_metrics()
        last = gan.train_on_batch(frames, return_dict=True)["r_loss"]
    assert last < 0.5 * first
    vae = arch.ConvVAE(8)
    assert sorted(gan.numpy_weights()) == sorted(vae.numpy_weights())
    vae.set_numpy_weights(gan.numpy_weights())
    np.testing.assert_array_equal(np.asarray(vae.encode(vae.to_float(frames))[0]),
                                  np.asarray(gan.encode(gan.to_float(frames))[0]))
    np.testing.assert_array_equal(np.asarray(vae.decoder(np.ones((1, 8)))), np.asarray(gan.decoder(np.ones((1, 8)))))
