"""V and M in numpy: the world model file, its shapes, the matmul blocks and MDN sampling (see the
package docstring)."""
import math
import os

import numpy as np
from numpy.lib.stride_tricks import as_strided

from worldmodels.config import ACTION_SIZE  # the games' action sizes
from worldmodels.storage import fileio


FORMAT_VERSION = 1
META = ("format_version", "experiment", "z_size", "action_size", "hidden", "mixtures", "predict_done")
OPTIONAL_META = {"predict_reward": False}  # keys files written before them lack, and the value they mean
ENCODER_CONVS = (("enc_conv1", 3, 32), ("enc_conv2", 32, 64), ("enc_conv3", 64, 128), ("enc_conv4", 128, 256))
DECODER_DECONVS = (("dec_deconv1", 5, 1024, 128), ("dec_deconv2", 5, 128, 64),
                   ("dec_deconv3", 6, 64, 32), ("dec_deconv4", 6, 32, 3))


# ----------------------------------------------------------------------------- shapes and I/O
def vae_shapes(z_size):
    """Expected VAE weight shapes by name (arch.ConvVAE.numpy_weights)."""
    shapes = {}
    for name, cin, cout in ENCODER_CONVS:
        shapes[name + "_w"], shapes[name + "_b"] = (4, 4, cin, cout), (cout,)
    for name in ("enc_fc_mu", "enc_fc_logvar"):
        shapes[name + "_w"], shapes[name + "_b"] = (1024, z_size), (z_size,)
    shapes["dec_fc_w"], shapes["dec_fc_b"] = (z_size, 1024), (1024,)
    for name, k, cin, cout in DECODER_DECONVS:
        shapes[name + "_w"], shapes[name + "_b"] = (k, k, cout, cin), (cout,)  # Keras (k, k, out, in)
    return shapes


def rnn_shapes(z_size, action_size, hidden, mixtures, predict_done, predict_reward=False):
    """Expected MDN-RNN weight shapes by name (arch.MDNRNN.numpy_weights)."""
    lstm_in = z_size + action_size + (1 if predict_done else 0)
    out = z_size * mixtures * 3 + (1 if predict_done else 0) + (1 if predict_reward else 0)
    return {"lstm_kernel": (lstm_in, 4 * hidden), "lstm_recurrent": (hidden, 4 * hidden),
            "lstm_bias": (4 * hidden,), "head_w": (hidden, out), "head_b": (out,)}


def _check_weights(kind, weights, shapes):
    missing = sorted(set(shapes) - set(weights))
    if missing:
        raise ValueError(f"{kind} weights missing {missing}")
    for name, shape in shapes.items():
        arr = np.asarray(weights[name])
        if arr.shape != tuple(shape):
            raise ValueError(f"{kind} weight {name} has shape {arr.shape}, expected {tuple(shape)}")
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)):
            raise ValueError(f"{kind} weight {name} is not finite floats ({arr.dtype})")


def save_world_model(path, experiment, z_size, action_size, hidden, mixtures, predict_done,
                     vae_weights, rnn_weights, dtype="float32", decoder_dtype=None, predict_reward=False):
    """Write V and M to one .npz (arrays vae/<name>, rnn/<name>, meta/<key>), atomically.

    dtype="float16" halves the file; outputs then differ from Keras by ~1e-3 (float32 is exact).
    decoder_dtype (default: dtype) applies to V's decoder (dec_*) alone: it only draws pictures,
    so "float16" there shrinks the file while encode, step and sample stay exact.
    """
    if experiment not in ACTION_SIZE:
        raise ValueError(f"unknown experiment {experiment!r}; expected one of {sorted(ACTION_SIZE)}")
    dtype = np.dtype(dtype)
    decoder_dtype = dtype if decoder_dtype is None else np.dtype(decoder_dtype)
    if dtype not in (np.float16, np.float32) or decoder_dtype not in (np.float16, np.float32):
        raise ValueError(f"dtype and decoder_dtype must be float16 or float32, got {dtype}, {decoder_dtype}")
    _check_weights("vae", vae_weights, vae_shapes(z_size))
    _check_weights("rnn", rnn_weights, rnn_shapes(z_size, action_size, hidden, mixtures, predict_done, predict_reward))
    arrays = {"meta/format_version": np.int64(FORMAT_VERSION), "meta/experiment": np.str_(experiment),
              "meta/z_size": np.int64(z_size), "meta/action_size": np.int64(action_size),
              "meta/hidden": np.int64(hidden), "meta/mixtures": np.int64(mixtures),
              "meta/predict_done": np.bool_(predict_done), "meta/predict_reward": np.bool_(predict_reward)}
    for kind, weights in (("vae", vae_weights), ("rnn", rnn_weights)):
        for name, arr in weights.items():
            arrays[f"{kind}/{name}"] = np.asarray(arr).astype(decoder_dtype if name.startswith("dec_") else dtype)
    fileio.save_npz(path, **arrays)


def read_world_model(path):
    """(meta dict, V weights by name, M weights by name) from a world model .npz, unchecked
    shapes aside; DataError naming the path if it is missing, corrupt or not a world model."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise fileio.DataError(f"{path}: world model file not found; run the stage that trains V and M")
    data = fileio.load_npz(path, what="world model .npz")
    missing = [k for k in META if "meta/" + k not in data]
    if missing:
        raise fileio.DataError(f"{path}: not a world model file (missing meta {missing})")
    try:
        meta = {k: data["meta/" + k].item() for k in META}
        meta.update({k: data["meta/" + k].item() if "meta/" + k in data else default
                     for k, default in OPTIONAL_META.items()})
    except ValueError as e:
        raise fileio.DataError(f"{path}: inconsistent world model file: {e}") from None
    if meta["format_version"] != FORMAT_VERSION:
        raise fileio.DataError(f"{path}: inconsistent world model file: format_version "
                                 f"{meta['format_version']}, expected {FORMAT_VERSION}")
    vae = {k[4:]: v for k, v in data.items() if k.startswith("vae/")}
    rnn = {k[4:]: v for k, v in data.items() if k.startswith("rnn/")}
    return meta, vae, rnn


def set_blas_threads(n):
    """Best effort: set the thread count of the OpenBLAS that numpy loaded; returns the previous
    count, or None where none was found. One thread per process is fastest for rollout workers
    (e.g. one MPI rank per core): threads that oversubscribe the cores make OpenBLAS spin and
    stall. Setting OPENBLAS_NUM_THREADS=1 before numpy is imported does the same."""
    import ctypes
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("scipy_openblas", ""), ("openblas", "")):
            setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                previous = int(getter())
                setter(int(n))
                return previous
    return None


# ----------------------------------------------------------------------------- numeric helpers
def _relu_(x):
    return np.maximum(x, 0.0, out=x)


def _sigmoid(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5


def _conv2d_s2(x, w2d, b, k):
    """'valid' 4x4 stride-2 convolution + ReLU via im2col (stride tricks) and one matmul."""
    n, height, width, cin = x.shape
    ho, wo = (height - k) // 2 + 1, (width - k) // 2 + 1
    sb, sh, sw, sc = x.strides
    windows = as_strided(x, (n, ho, wo, k, k, cin), (sb, 2 * sh, 2 * sw, sh, sw, sc), writeable=False)
    y = windows.reshape(n * ho * wo, k * k * cin) @ w2d  # reshape copies: the im2col matrix
    y += b
    return _relu_(y).reshape(n, ho, wo, -1)


def _deconv2d_s2(x, wmat, b, k, cout, activation):
    """Keras Conv2DTranspose, 'valid', stride 2: out[2i + p, 2j + q] += x[i, j] @ w[p, q]."""
    n, height, width, cin = x.shape
    y = (x.reshape(-1, cin) @ wmat).reshape(n, height, width, k, k, cout)
    out = np.zeros((n, 2 * (height - 1) + k, 2 * (width - 1) + k, cout), np.float32)
    for p in range(k):
        for q in range(k):
            out[:, p:p + 2 * height - 1:2, q:q + 2 * width - 1:2, :] += y[:, :, :, p, q, :]
    out += b
    if activation == "relu":
        return _relu_(out)
    return _sigmoid(out)


COLUMN_BLOCK = 512  # ours: weight columns per matmul, so that a block of M's weights stays in the CPU's cache
                    # while every candidate's rows use it (bench/dream_throughput.py measures the gain)


def split_columns(w, width=COLUMN_BLOCK):
    """A weight matrix (k, n) as contiguous column blocks of `width` (the last one narrower)."""
    return tuple(np.ascontiguousarray(w[:, j:j + width]) for j in range(0, w.shape[1], width))


def block_matmul(x, w_columns, blocks=None):
    """x (B, k) @ w (k, n) (float32, or float64 for both), w given as split_columns(w): one matmul per block of rows and
    block of columns.

    blocks: row counts summing to B (None: one block of all rows). Every (block of rows, block of
    columns) product is its own BLAS call whose shapes are fixed by the block alone, so a block's
    result does not depend on the other blocks, nor on how many there are.
    """
    bounds = np.cumsum([0] + [int(rows) for rows in ([len(x)] if blocks is None else blocks)])
    if bounds[-1] != len(x):
        raise ValueError(f"blocks cover {bounds[-1]} rows, the batch has {len(x)}")
    out = np.empty((len(x), sum(w.shape[1] for w in w_columns)), np.result_type(x, w_columns[0]))
    col = 0
    for w in w_columns:
        part = out[:, col:col + w.shape[1]]
        for start, stop in zip(bounds[:-1], bounds[1:]):
            np.matmul(x[start:stop], w, out=part[start:stop])
        col += w.shape[1]
    return out


def mdn_noise(rng, n, z_size):
    """The random numbers of one MDN sample for n rows: (uniform (n, Z) float64, normal (n, Z) float64).

    Drawn in this order from `rng` (a numpy Generator) by every sampler here, so that a dream
    stepped one rollout at a time and the batched dream_rollouts consume identical streams.
    """
    return rng.random((n, z_size)), rng.standard_normal((n, z_size))


def sample_mdn(logmix, mu, logstd, temperature, u, eps):
    """Sample z (B, Z) from mixtures (B, Z, K) at temperature tau, given the noise (mdn_noise).

    As the original: softmax(logmix / tau) per dimension, component = first index whose CDF
    reaches u (get_pi_idx), z = mu + exp(logstd) * eps * sqrt(tau). `logmix` need not be
    normalised (softmax is shift invariant).
    """
    t = (0, 2, 1)
    return _sample_kz(np.transpose(logmix, t), np.transpose(mu, t), np.transpose(logstd, t), temperature, u, eps)


def _sample_kz(logmix, mu, logstd, temperature, u, eps):
    """sample_mdn on (B, K, Z) arrays: the mixture axis in the middle, so every step is a (B, Z) op."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    K = logmix.shape[1]
    logits = logmix / np.float32(temperature)
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))  # unnormalised softmax
    target = np.asarray(u, np.float32) * prob.sum(axis=1)      # u * total: no division needed
    cdf = prob[:, 0].copy()
    idx = (cdf < target).astype(np.intp)
    for k in range(1, K - 1):                                  # idx = #{k < K-1 : cdf_k < u}
        cdf += prob[:, k]
        idx += cdf < target
    idx = idx[:, None, :]
    mean = np.take_along_axis(mu, idx, axis=1)[:, 0]
    std = np.exp(np.take_along_axis(logstd, idx, axis=1)[:, 0])
    std *= np.asarray(eps, np.float32)
    std *= np.float32(math.sqrt(temperature))
    return mean + std


# ----------------------------------------------------------------------------- world model
class WorldModel:
    """V (ConvVAE) and M (MDN-RNN) in numpy, float32. Build with `load(path)` or `from_keras(...)`."""

    def __init__(self, experiment, z_size, action_size, hidden, mixtures, predict_done,
                 vae_weights, rnn_weights, predict_reward=False, dtype=np.float32):
        if experiment not in ACTION_SIZE:
            raise ValueError(f"unknown experiment {experiment!r}; expected one of {sorted(ACTION_SIZE)}")
        if action_size != ACTION_SIZE[experiment]:
            raise ValueError(f"{experiment} has action_size {ACTION_SIZE[experiment]}, got {action_size}")
        self.experiment, self.z_size, self.action_size = experiment, int(z_size), int(action_size)
        self.hidden, self.mixtures, self.predict_done = int(hidden), int(mixtures), bool(predict_done)
        self.predict_reward = bool(predict_reward)
        _check_weights("rnn", rnn_weights, rnn_shapes(z_size, action_size, hidden, mixtures, predict_done,
                                                      predict_reward))
        self.dtype = dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"a world model computes in float32 or float64, not {dt}")
        self._weights = (vae_weights, rnn_weights)  # as given: as_dtype builds the twin from them
        f32 = {k: np.asarray(v, np.float32).astype(dt, copy=False) for k, v in rnn_weights.items()}
        H = self.hidden
        # One matmul for [x, h] @ [kernel; recurrent]. The i, f, o columns are pre-scaled by 1/2
        # (exact in float) so that one tanh gives tanh(g) for the cell input and tanh(g / 2) for
        # the gates, with sigmoid(g) = (tanh(g / 2) + 1) / 2.
        scale = np.full(4 * H, 0.5, dt)
        scale[2 * H:3 * H] = 1.0
        self._lstm_w = np.ascontiguousarray(np.concatenate([f32["lstm_kernel"], f32["lstm_recurrent"]]) * scale)
        self._lstm_b = f32["lstm_bias"] * scale
        # Head columns reordered from the Keras layout [done, reward] + per z-dim [logmix K, mu K, logstd K]
        # to [done, reward] + [logmix (K, Z), mu (K, Z), logstd (K, Z)]: sampling then works on (B, Z) slices.
        off, K, Zs = int(self.predict_done) + int(self.predict_reward), self.mixtures, self.z_size
        order = list(range(off)) + [off + zi * 3 * K + part * K + k
                                    for part in range(3) for k in range(K) for zi in range(Zs)]
        self._head_w = np.ascontiguousarray(f32["head_w"][:, order])
        self._head_b = f32["head_b"][order]
        self._head_unorder = np.argsort(order)
        self._lstm_cols, self._head_cols = split_columns(self._lstm_w), split_columns(self._head_w)
        self.has_vae = vae_weights is not None
        if self.has_vae:
            _check_weights("vae", vae_weights, vae_shapes(z_size))
            v = {k: np.asarray(w, np.float32).astype(dt, copy=False) for k, w in vae_weights.items()}
            self._enc = []
            for i, (name, cin, cout) in enumerate(ENCODER_CONVS):
                w2d = v[name + "_w"].reshape(16 * cin, cout)  # (kh, kw, cin) rows, as the im2col columns
                if i == 0:
                    w2d = w2d / dt.type(255.0)  # uint8 frames: fold the /255 into the first layer
                self._enc.append((np.ascontiguousarray(w2d), v[name + "_b"]))
            self._enc_fc_w = np.ascontiguousarray(np.concatenate([v["enc_fc_mu_w"], v["enc_fc_logvar_w"]], 1))
            self._enc_fc_b = np.concatenate([v["enc_fc_mu_b"], v["enc_fc_logvar_b"]])
            self._dec_fc = (v["dec_fc_w"], v["dec_fc_b"])
            self._dec = []
            for name, k, cin, cout in DECODER_DECONVS:
                wmat = np.ascontiguousarray(v[name + "_w"].transpose(3, 0, 1, 2).reshape(cin, k * k * cout))
                self._dec.append((wmat, v[name + "_b"], k, cout))

    def as_dtype(self, dtype):
        """This world model computing in `dtype` (float32 or float64): the same weights (float32
        values, converted exactly); built once and kept."""
        dt = np.dtype(dtype)
        if dt == self.dtype:
            return self
        twins = self.__dict__.setdefault("_twins", {})
        if dt not in twins:
            twins[dt] = WorldModel(self.experiment, self.z_size, self.action_size, self.hidden, self.mixtures,
                                   self.predict_done, *self._weights, predict_reward=self.predict_reward, dtype=dt)
        return twins[dt]

    @classmethod
    def from_keras(cls, experiment, vae, rnn, **kwargs):
        """From arch.ConvVAE and arch.MDNRNN instances (no file)."""
        return cls(experiment, rnn.z_size, rnn.action_size, rnn.hidden, rnn.mixtures, rnn.predict_done,
                   vae.numpy_weights() if vae is not None else None, rnn.numpy_weights(),
                   predict_reward=rnn.predict_reward, **kwargs)

    @classmethod
    def load(cls, path, **kwargs):
        """Read a file written by save_world_model; DataError naming the path if missing, corrupt or inconsistent."""
        meta, vae, rnn = read_world_model(path)
        try:
            return cls(str(meta["experiment"]), int(meta["z_size"]), int(meta["action_size"]), int(meta["hidden"]),
                       int(meta["mixtures"]), bool(meta["predict_done"]), vae, rnn,
                       predict_reward=bool(meta["predict_reward"]), **kwargs)
        except (ValueError, TypeError) as e:
            raise fileio.DataError(f"{os.fspath(path)}: inconsistent world model file: {e}") from None

    # ------------------------------------------------------------------ V
    def _need_vae(self):
        if not self.has_vae:
            raise RuntimeError("this WorldModel was built without VAE weights")

    def encode(self, frames):
        """uint8 frames (B, 64, 64, 3) -> (mu, logvar), each (B, Z) in self.dtype."""
        self._need_vae()
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[1:] != (64, 64, 3):
            raise ValueError(f"encode expects uint8 frames (B, 64, 64, 3), got {frames.shape}")
        x = frames.astype(self.dtype)  # the /255 is folded into the first layer's weights
        for w2d, b in self._enc:
            x = _conv2d_s2(x, w2d, b, 4)
        out = x.reshape(len(x), -1) @ self._enc_fc_w + self._enc_fc_b
        return np.ascontiguousarray(out[:, :self.z_size]), np.ascontiguousarray(out[:, self.z_size:])

    def decode(self, z):
        """z (B, Z) -> float32 frames (B, 64, 64, 3) in [0, 1]."""
        self._need_vae()
        z = np.asarray(z, np.float32).reshape(-1, self.z_size)
        w, b = self._dec_fc
        x = (z @ w + b).reshape(-1, 1, 1, 1024)
        for i, (wmat, bias, k, cout) in enumerate(self._dec):
            x = _deconv2d_s2(x, wmat, bias, k, cout, "sigmoid" if i == len(self._dec) - 1 else "relu")
        return x

    # ------------------------------------------------------------------ M
    def initial_state(self, batch):
        """Zero LSTM state (h, c), each (batch, hidden) in self.dtype."""
        return np.zeros((batch, self.hidden), self.dtype), np.zeros((batch, self.hidden), self.dtype)

    def step(self, z, action, restart, h, c, blocks=None):
        """One LSTM step on input [z, action, restart] -> new (h, c).

        z (B, Z); action (B, A); restart scalar or (B,): where > 0.5, h and c are zeroed first.
        blocks: row counts, one matmul each (block_matmul); None: one matmul for the batch.
        """
        dt = self.dtype
        z = np.asarray(z, dt)
        n, H, Z, A = len(z), self.hidden, self.z_size, self.action_size
        restart = np.broadcast_to(np.asarray(restart, dt), (n,))
        x = np.empty((n, self._lstm_w.shape[0]), dt)  # [z, a, (restart), h]
        x[:, :Z] = z
        x[:, Z:Z + A] = np.asarray(action, dt).reshape(n, A)
        if self.predict_done:
            x[:, Z + A] = restart
        reset = restart > 0.5
        h_in = x[:, -H:]
        h_in[:] = h
        c = np.asarray(c, dt)
        if reset.any():
            h_in[reset] = 0.0
            c = np.where(reset[:, None], dt.type(0.0), c)
        g = block_matmul(x, self._lstm_cols, blocks)
        g += self._lstm_b
        np.tanh(g, out=g)
        g[:, :2 * H] *= 0.5
        g[:, :2 * H] += 0.5  # sigmoid(i), sigmoid(f)
        g[:, 3 * H:] *= 0.5
        g[:, 3 * H:] += 0.5  # sigmoid(o)
        c_new = g[:, H:2 * H] * c
        c_new += g[:, :H] * g[:, 2 * H:3 * H]
        h_new = np.tanh(c_new)
        h_new *= g[:, 3 * H:]
        return h_new, c_new

    def _head(self, h, blocks=None):
        """LSTM output h (B, H) -> MDN head output (B, output_width), columns reordered (see __init__)."""
        out = block_matmul(np.asarray(h, self.dtype), self._head_cols, blocks)
        out += self._head_b
        return out

    def mdn_raw(self, h):
        """LSTM output h (B, H) -> raw MDN head output (B, output_width) in the Keras/original layout."""
        return self._head(h)[:, self._head_unorder]

    def _split_kz(self, out):
        """_head output -> (logmix unnormalised, mu, logstd) each (B, K, Z) views, done_logit (B,) or None."""
        done_logit = out[:, 0] if self.predict_done else None
        off = int(self.predict_done) + int(self.predict_reward)
        parts = out[:, off:].reshape(len(out), 3, self.mixtures, self.z_size)
        return parts[:, 0], parts[:, 1], parts[:, 2], done_logit

    def _reward(self, out):
        """_head output -> the predicted reward (B,) float32 (a copy), or None without a reward head."""
        return out[:, int(self.predict_done)].copy() if self.predict_reward else None

    def reward(self, h):
        """h (B, H) -> M's predicted reward of the step that led to h (B,) float32, or None without a reward head."""
        return self._reward(self._head(h))

    def mdn(self, h):
        """h (B, H) -> (logmix normalised over K, mu, logstd) each (B, Z, K), done_logit (B,) or None."""
        logmix, mu, logstd, done_logit = self._split_kz(self._head(h))
        m = logmix.max(axis=1, keepdims=True)
        logmix = logmix - (m + np.log(np.exp(logmix - m).sum(axis=1, keepdims=True)))
        t = (0, 2, 1)
        return (np.ascontiguousarray(logmix.transpose(t)), np.ascontiguousarray(mu.transpose(t)),
                np.ascontiguousarray(logstd.transpose(t)), None if done_logit is None else done_logit.copy())

    def sample_next_with(self, h, temperature, u, eps, blocks=None, with_reward=False):
        """As sample_next, with the noise given (see mdn_noise) and the head's matmul per block;
        with_reward=True also returns the predicted reward (B,) (None without a reward head), from
        the same head output."""
        out = self._head(h, blocks)
        logmix, mu, logstd, done_logit = self._split_kz(out)
        z = _sample_kz(logmix, mu, logstd, temperature, u, eps)
        done = done_logit > 0 if self.predict_done else np.zeros(len(z), bool)
        return (z, done, self._reward(out)) if with_reward else (z, done)

    def sample_next(self, h, temperature, rng):
        """Sample z_{t+1} (B, Z) float32 and done (B,) bool (done_logit > 0; all False without a done head)."""
        u, eps = mdn_noise(rng, len(h), self.z_size)
        return self.sample_next_with(h, temperature, u, eps)


