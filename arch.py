"""Models and losses of World Models (Ha & Schmidhuber 2018): V, M and C. No I/O here.

- ConvVAE (V): paper appendix A.1. 4,348,547 parameters at z=32, 4,446,915 at z=64.
- VAEGAN (V, config vae.kind=vaegan; ours, after Larsen et al. 2016): the same encoder and decoder
  plus a 691,169-parameter discriminator; only the encoder and decoder leave stage 02.
- MDNRNN (M): LSTM + mixture-density head, paper appendix A.2. 422,368 (CarRacing:
  256 units, input [z, a]) and 1,678,785 (Doom: 512 units, input [z, a, restart],
  plus a done logit). Optionally one reward output (ours for the dream of CarRacing,
  predict_reward; the authors' book-chapter M at z=32 has 481 outputs, 5 x 32 x 3 + 1).
C is never trained by gradient: it lives in numpy (npmodels.Controller), as do the action sizes.

Numbers marked "orig" follow the authors' code (WorldModelsExperiments).

Backends: written against keras.ops, so Keras 3 trains ConvVAE and MDNRNN on any backend
(KERAS_BACKEND: tensorflow, the default and what `make setup` installs, jax or torch). Each
model defines its loss in compute_loss and Keras' own train step does the rest. VAEGAN trains its
three parts on three losses with one optimizer step, which needs the gradient tape of TensorFlow.
"""
import math

import keras
import numpy as np
from keras import layers, ops

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- V
class ConvVAE(keras.Model):
    """ConvVAE with the original's loss: summed L2 reconstruction + KL floored at kl_tolerance * z."""

    def __init__(self, z_size, kl_tolerance=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.z_size = z_size
        self.kl_tolerance = kl_tolerance
        self.seed_generator = keras.random.SeedGenerator(seed)
        conv = dict(kernel_size=4, strides=2, activation="relu")  # paper A.1: 4x4, stride 2
        self.encoder_body = keras.Sequential([
            keras.Input((64, 64, 3)),
            layers.Conv2D(32, name="enc_conv1", **conv),
            layers.Conv2D(64, name="enc_conv2", **conv),
            layers.Conv2D(128, name="enc_conv3", **conv),
            layers.Conv2D(256, name="enc_conv4", **conv),
            layers.Flatten(),  # 2x2x256 = 1024
        ], name="encoder_body")
        self.enc_mu = layers.Dense(z_size, name="enc_fc_mu")
        self.enc_logvar = layers.Dense(z_size, name="enc_fc_logvar")
        self.decoder = keras.Sequential([
            keras.Input((z_size,)),
            layers.Dense(1024, name="dec_fc"),  # paper A.1: dense to 1x1x1024
            layers.Reshape((1, 1, 1024)),
            layers.Conv2DTranspose(128, 5, strides=2, activation="relu", name="dec_deconv1"),
            layers.Conv2DTranspose(64, 5, strides=2, activation="relu", name="dec_deconv2"),
            layers.Conv2DTranspose(32, 6, strides=2, activation="relu", name="dec_deconv3"),
            layers.Conv2DTranspose(3, 6, strides=2, activation="sigmoid", name="dec_deconv4"),
        ], name="decoder")
        self.enc_mu.build((None, 1024))
        self.enc_logvar.build((None, 1024))
        self.r_loss_tracker = keras.metrics.Mean(name="r_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.built = True  # every sub-layer is built above

    @staticmethod
    def to_float(frames):
        """uint8 frames (.., 64, 64, 3) -> float32 in [0, 1]."""
        return ops.cast(frames, "float32") / 255.0

    def encode(self, x):
        h = self.encoder_body(x)
        return self.enc_mu(h), self.enc_logvar(h)

    def sample_z(self, mu, logvar):
        eps = keras.random.normal(ops.shape(mu), dtype=mu.dtype, seed=self.seed_generator)
        return mu + ops.exp(0.5 * logvar) * eps

    def call(self, frames, training=False):
        """uint8 frames -> their reconstruction; in training (y, mu, logvar), what the loss needs."""
        mu, logvar = self.encode(self.to_float(frames))
        y = self.decoder(self.sample_z(mu, logvar))
        return (y, mu, logvar) if training else y

    def compute_losses(self, x, y, mu, logvar):
        return vae_losses(x, y, mu, logvar, self.kl_tolerance)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss Keras' train step (any backend) differentiates: vae_losses of the frames x
        (in float32, also under a mixed-precision policy)."""
        recon, mu, logvar = (ops.cast(t, "float32") for t in y_pred)
        loss, r_loss, kl_loss = self.compute_losses(self.to_float(x), recon, mu, logvar)
        self.r_loss_tracker.update_state(r_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return loss

    def _named_layers(self):
        layers_ = self.encoder_body.layers + [self.enc_mu, self.enc_logvar] + self.decoder.layers
        return [layer for layer in layers_ if layer.weights]

    def numpy_weights(self):
        """Weights by name for the numpy rollout path (worldmodels/npmodels)."""
        out = {}
        for layer in self._named_layers():
            out[layer.name + "_w"] = np.asarray(layer.weights[0])
            out[layer.name + "_b"] = np.asarray(layer.weights[1])
        return out

    def set_numpy_weights(self, weights):
        """The inverse of numpy_weights (e.g. a world model's V); shapes must match."""
        for layer in self._named_layers():
            layer.set_weights([np.asarray(weights[layer.name + "_w"], np.float32),
                               np.asarray(weights[layer.name + "_b"], np.float32)])


def compiled_encoder(vae):
    """uint8 frames (B, 64, 64, 3) -> (mu, logvar), compiled for the running backend (tf.function,
    jax.jit; torch runs it eagerly)."""
    def encode(frames):
        return vae.encode(ConvVAE.to_float(frames))
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.function(encode, reduce_retracing=True)
    if backend == "jax":
        import jax
        return jax.jit(encode)
    return encode


def vae_losses(x, y, mu, logvar, kl_tolerance):
    """Original ConvVAE loss. Returns (total, r_loss, kl_loss), each a batch mean.

    r_loss: squared error summed over pixels and channels. kl_loss: KL(q(z|x) || N(0, I))
    summed over z, then floored at kl_tolerance * z_size per example (orig: "augmented kl").
    """
    r_loss = ops.mean(ops.sum(ops.square(x - y), axis=[1, 2, 3]))
    kl = -0.5 * ops.sum(1.0 + logvar - ops.square(mu) - ops.exp(logvar), axis=1)
    z_size = ops.shape(mu)[-1]
    kl_loss = ops.mean(ops.maximum(kl, kl_tolerance * ops.cast(z_size, kl.dtype)))
    return r_loss + kl_loss, r_loss, kl_loss


class VAEGAN(ConvVAE):
    """V as a VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity
    metric"): ConvVAE's encoder and decoder (the generator), plus a discriminator whose third
    convolution ("Dis_l") measures how alike a frame and its reconstruction are.

    Losses (vaegan_losses) and which part each one trains (Larsen sec. 2.3, Algorithm 1):
      encoder       kl_loss + dis_l_loss (+ pixel_weight * r_loss)
      decoder       gamma * dis_l_loss + gan_g_loss (+ pixel_weight * r_loss)
      discriminator gan_d_loss
    The encoder gets no GAN gradient (Larsen sec. 2.3; the authors' code, github.com/andersbll/
    autoencoding_beyond_pixels, model/aegan.py, scales it to 0). All three parts take one step of one
    optimizer (stage 02: RMSProp, as aegan.py) on their own gradients, so one checkpoint holds the
    whole state. Metrics: loss (the encoder's), r_loss, kl_loss, dis_l_loss, gan_d_loss, gan_g_loss.
    numpy_weights / set_numpy_weights are ConvVAE's: the encoder and decoder under ConvVAE's names,
    so vae.weights.h5, world_model.npz and everything downstream do not know which kind of V
    trained them.
    """

    def __init__(self, z_size, kl_tolerance=0.5, gamma=1.0, pixel_weight=0.1, seed=None, **kwargs):
        super().__init__(z_size, kl_tolerance=kl_tolerance, seed=seed, **kwargs)
        self.gamma = gamma  # Larsen sec. 2.3: weight of Dis_l reconstruction against the GAN loss (decoder)
        self.pixel_weight = pixel_weight  # ours: ConvVAE's pixel L2, to steady the start (Dis_l is random then)
        conv = dict(kernel_size=4, strides=2, activation="relu")  # ours: the encoder's convolutions
        frames = keras.Input((64, 64, 3))
        h = layers.Conv2D(32, name="dis_conv1", **conv)(frames)
        h = layers.Conv2D(64, name="dis_conv2", **conv)(h)
        dis_l = layers.Conv2D(128, name="dis_conv3", **conv)(h)  # 6x6x128. The authors' Dis_l is their 4th, last
        h = layers.Conv2D(256, name="dis_conv4", **conv)(dis_l)  # conv (8x8x256, recon_depth=9); ours is 2x2 there
        logit = layers.Dense(1, name="dis_fc")(layers.Flatten()(h))
        self.discriminator = keras.Model(frames, [dis_l, logit], name="discriminator")
        self.dis_l_tracker = keras.metrics.Mean(name="dis_l_loss")
        self.gan_d_tracker = keras.metrics.Mean(name="gan_d_loss")
        self.gan_g_tracker = keras.metrics.Mean(name="gan_g_loss")

    @property
    def metrics(self):
        return [self._loss_tracker, self.r_loss_tracker, self.kl_loss_tracker, self.dis_l_tracker,
                self.gan_d_tracker, self.gan_g_tracker]

    def vae_count_params(self):
        """Parameters of the encoder and decoder (ConvVAE's count)."""
        return sum(int(np.prod(w.shape)) for layer in self._named_layers() for w in layer.weights)

    def parts(self):
        """(encoder, decoder, discriminator) trainable variables."""
        enc = self.encoder_body.trainable_weights + self.enc_mu.trainable_weights + self.enc_logvar.trainable_weights
        return enc, self.decoder.trainable_weights, self.discriminator.trainable_weights

    @staticmethod
    def backend_error():
        """Why this backend cannot train a VAEGAN (its three losses need TensorFlow's gradient tape), or None."""
        if keras.backend.backend() != "tensorflow":
            return (f"vae.kind=vaegan trains under the TensorFlow backend only (KERAS_BACKEND="
                    f"{keras.backend.backend()}); vae.kind=convvae trains on any backend")
        return None

    def train_step(self, data):
        if error := self.backend_error():
            raise NotImplementedError(error)
        import tensorflow as tf
        frames, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = self.to_float(frames)
        with tf.GradientTape(persistent=True) as tape:
            mu, logvar = self.encode(x)
            y = self.decoder(self.sample_z(mu, logvar))
            y_prior = self.decoder(keras.random.normal(ops.shape(mu), seed=self.seed_generator))  # Larsen sec. 2.3: x_p
            feats, logits = self.discriminator(ops.concatenate([x, y, y_prior], axis=0))
            losses = vaegan_losses(x, y, mu, logvar, feats, logits, self.kl_tolerance)
            r_loss, kl_loss, dis_l, gan_d, gan_g = losses
            pixel = self.pixel_weight * r_loss
            part_losses = (kl_loss + dis_l + pixel, self.gamma * dis_l + gan_g + pixel, gan_d)
        grads = {}
        for loss, variables in zip(part_losses, self.parts()):
            grads.update(zip(map(id, variables), tape.gradient(loss, variables)))
        del tape
        self.optimizer.apply_gradients([(grads[id(v)], v) for v in self.trainable_weights])
        for tracker, value in zip(self.metrics, (part_losses[0], r_loss, kl_loss, dis_l, gan_d, gan_g)):
            tracker.update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def compute_loss(self, *args, **kwargs):
        raise NotImplementedError("VAEGAN trains through its own train_step")


def vaegan_losses(x, y, mu, logvar, feats, logits, kl_tolerance):
    """The VAE-GAN's losses, each a batch mean: (r_loss, kl_loss, dis_l_loss, gan_d_loss, gan_g_loss).

    feats, logits: the discriminator on [x; y; y_prior] (3 B frames: real, reconstructed, decoded from
    z ~ N(0, I)). r_loss, kl_loss: ConvVAE's (vae_losses). dis_l_loss: Larsen sec. 2.3, a Gaussian with
    identity covariance on Dis_l, as squared error summed over the features (as r_loss over pixels;
    the constant and the factor 1/2 dropped). gan_d_loss: sigmoid cross-entropy of real against fake,
    the two kinds of fake weighted 1/2 each (as aegan.py with real_vs_gen_weight 0.5), so a discriminator
    at chance scores log 4. gan_g_loss: the decoder's, -log D on both fakes, halved likewise (ours:
    the non-saturating form of Goodfellow et al. 2014, sec. 3, in place of Algorithm 1's -L_GAN).
    """
    _, r_loss, kl_loss = vae_losses(x, y, mu, logvar, kl_tolerance)
    f_real, f_recon, _ = ops.split(feats, 3, axis=0)
    dis_l = ops.mean(ops.sum(ops.square(f_real - f_recon), axis=[1, 2, 3]))
    l_real, l_recon, l_prior = ops.split(logits, 3, axis=0)

    def bce(logit, target):  # sigmoid cross-entropy, batch mean
        return ops.mean(ops.maximum(logit, 0.0) - logit * target + ops.log1p(ops.exp(-ops.abs(logit))))
    gan_d = bce(l_real, 1.0) + 0.5 * (bce(l_recon, 0.0) + bce(l_prior, 0.0))
    gan_g = 0.5 * (bce(l_recon, 1.0) + bce(l_prior, 1.0))
    return r_loss, kl_loss, dis_l, gan_d, gan_g


# ----------------------------------------------------------------------------- M
class OriginalDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr = (lr0 - lr_min) * decay_rate ** step + lr_min (orig rnn.py / doomrnn.py)."""

    def __init__(self, learning_rate, decay_rate, min_learning_rate):
        self.learning_rate = learning_rate
        self.decay_rate = decay_rate
        self.min_learning_rate = min_learning_rate

    def __call__(self, step):
        step = ops.cast(step, "float32")
        return (self.learning_rate - self.min_learning_rate) * ops.power(self.decay_rate, step) + self.min_learning_rate

    def get_config(self):
        return dict(learning_rate=self.learning_rate, decay_rate=self.decay_rate,
                    min_learning_rate=self.min_learning_rate)


@keras.saving.register_keras_serializable(package="worldmodels")
class RestartLSTMCell(layers.Layer):
    """An LSTM cell whose last input channel is the restart flag (1 at an episode's first frame).

    As in the original doomrnn.py, the state is zeroed where restart > 0.5, so that one long
    stream of concatenated episodes trains like separate episodes. With `restart_input`
    the flag is also fed to the LSTM (Doom: input [z, a, restart]); otherwise only [z, a]
    (CarRacing), which keeps the paper's parameter counts.
    """

    def __init__(self, units, restart_input, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.restart_input = restart_input
        self.cell = layers.LSTMCell(units, name="lstm_cell")
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        width = input_shape[-1] if self.restart_input else input_shape[-1] - 1
        self.cell.build((None, width))

    def call(self, inputs, states, training=False):
        keep = 1.0 - ops.cast(inputs[:, -1:] > 0.5, inputs.dtype)
        h, c = states[0] * keep, states[1] * keep
        x = inputs if self.restart_input else inputs[:, :-1]
        out, new_states = self.cell(x, [h, c], training=training)
        return out, new_states

    def get_config(self):
        return {**super().get_config(), "units": self.units, "restart_input": self.restart_input}


class MDNRNN(keras.Model):
    """M: P(z_{t+1} | a_t, z_t, h_t) as a mixture of Gaussians per latent dimension (+ done for Doom,
    + the step's reward with predict_reward).

    Input per step: [z_t, a_t, restart_t] (the restart flag is always given; see RestartLSTMCell).
    Output per step: [done_logit (predict_done), reward (predict_reward), then per z-dimension
    (logmix K, mu K, logstd K)], the original doomrnn.py layout with the reward after the done logit.
    Targets at step t: z_{t+1}, done_t and reward_t (what the action a_t got). Loss: the MDN's
    NLL + the weighted done cross-entropy + reward_weight * the reward's mean squared error.
    """

    def __init__(self, z_size, action_size, hidden, mixtures=5, predict_done=False,
                 restart_factor=10.0, predict_reward=False, reward_weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.z_size, self.action_size, self.hidden = z_size, action_size, hidden
        self.mixtures, self.predict_done, self.restart_factor = mixtures, predict_done, restart_factor
        self.predict_reward, self.reward_weight = predict_reward, reward_weight
        self.input_width = z_size + action_size + 1
        self.extra_outputs = int(predict_done) + int(predict_reward)  # before the mixtures
        self.output_width = z_size * mixtures * 3 + self.extra_outputs
        self.rnn = layers.RNN(RestartLSTMCell(hidden, restart_input=predict_done, name="restart_lstm"),
                              return_sequences=True, return_state=True, name="rnn")
        self.head = layers.Dense(self.output_width, name="mdn_head")
        self.rnn.build((None, None, self.input_width))
        self.head.build((None, hidden))
        self.z_loss_tracker = keras.metrics.Mean(name="z_loss")
        self.done_loss_tracker = keras.metrics.Mean(name="done_loss")
        self.reward_loss_tracker = keras.metrics.Mean(name="reward_loss")
        self.built = True

    def call(self, inputs, initial_state=None, training=False):
        """inputs (B, T, input_width) -> (raw outputs (B, T, output_width), h, c)."""
        seq, h, c = self.rnn(inputs, initial_state=initial_state, training=training)
        return self.head(seq), h, c

    def split(self, out):
        """Raw outputs -> (logmix normalised over K, mu, logstd) each (B, T, Z, K), done_logit (B, T) or None.

        The predicted reward (B, T) is `reward(out)`."""
        done_logit = out[..., 0] if self.predict_done else None
        out = out[..., self.extra_outputs:]
        shape = ops.shape(out)
        out = ops.reshape(out, (shape[0], shape[1], self.z_size, 3 * self.mixtures))
        logmix, mu, logstd = ops.split(out, 3, axis=-1)
        logmix = logmix - ops.logsumexp(logmix, axis=-1, keepdims=True)
        return logmix, mu, logstd, done_logit

    def reward(self, out):
        """Raw outputs -> the predicted reward (B, T), or None without a reward head."""
        return out[..., int(self.predict_done)] if self.predict_reward else None

    def compute_losses(self, out, z_next, done, mask, reward=None):
        """(total, z_loss, done_loss, reward_loss); reward (B, T) is needed with predict_reward."""
        logmix, mu, logstd, done_logit = self.split(out)
        z_loss = mdn_nll(logmix, mu, logstd, z_next, mask)
        if self.predict_done:
            done_loss = weighted_done_loss(done_logit, done, self.restart_factor)
        else:
            done_loss = ops.zeros(())
        if self.predict_reward:
            reward_loss = ops.mean(ops.square(self.reward(out) - ops.cast(reward, out.dtype)))
        else:
            reward_loss = ops.zeros(())
        return z_loss + done_loss + self.reward_weight * reward_loss, z_loss, done_loss, reward_loss

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss Keras' train step (any backend) differentiates; y = (z_next, done, mask, reward)."""
        z_next, done, mask, reward = y
        out = ops.cast(y_pred[0], "float32")  # the losses in float32, also under a mixed-precision policy
        loss, z_loss, done_loss, reward_loss = self.compute_losses(out, z_next, done, mask, reward)
        self.z_loss_tracker.update_state(z_loss)
        self.done_loss_tracker.update_state(done_loss)
        self.reward_loss_tracker.update_state(reward_loss)
        return loss

    def numpy_weights(self):
        cell = self.rnn.cell.cell
        return {
            "lstm_kernel": np.asarray(cell.kernel), "lstm_recurrent": np.asarray(cell.recurrent_kernel),
            "lstm_bias": np.asarray(cell.bias),
            "head_w": np.asarray(self.head.kernel), "head_b": np.asarray(self.head.bias),
        }

    def set_numpy_weights(self, weights):
        """The inverse of numpy_weights (e.g. a world model's M); shapes must match."""
        cell = self.rnn.cell.cell
        for var, name in ((cell.kernel, "lstm_kernel"), (cell.recurrent_kernel, "lstm_recurrent"),
                          (cell.bias, "lstm_bias"), (self.head.kernel, "head_w"), (self.head.bias, "head_b")):
            value = np.asarray(weights[name], np.float32)
            if tuple(value.shape) != tuple(var.shape):
                raise ValueError(f"{name}: shape {value.shape}, the model has {tuple(var.shape)}")
            var.assign(value)


def mdn_nll(logmix, mu, logstd, target, mask=None):
    """Mean negative log-likelihood of target (B, T, Z) under the mixtures (B, T, Z, K).

    As in the original: log N per component, logsumexp over K, mean over every (step, dim)
    that the mask (B, T) keeps (the last step of an episode has no next frame to predict).
    """
    y = ops.expand_dims(target, -1)
    lognormal = -0.5 * ops.square((y - mu) / ops.exp(logstd)) - logstd - LOG_SQRT_2PI
    ll = ops.logsumexp(logmix + lognormal, axis=-1)  # (B, T, Z)
    if mask is None:
        return -ops.mean(ll)
    m = ops.cast(mask, ll.dtype)[..., None]
    return -ops.sum(ll * m) / ops.maximum(ops.sum(m) * ops.cast(ops.shape(ll)[-1], ll.dtype), 1.0)


def weighted_done_loss(logit, done, restart_factor):
    """Sigmoid cross-entropy with done=1 weighted by restart_factor (orig doomrnn.py)."""
    done = ops.cast(done, logit.dtype)
    ce = ops.maximum(logit, 0.0) - logit * done + ops.log1p(ops.exp(-ops.abs(logit)))
    weight = 1.0 + done * (restart_factor - 1.0)
    return ops.mean(weight * ce)
