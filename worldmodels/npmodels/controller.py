"""C, the one definition of the controller: its layout, parameters, inputs and actions (numpy)."""
import os

import numpy as np

from worldmodels.config import ACTION_SIZE, CONTROLLER_INPUTS  # the games' action sizes; C's forms
from worldmodels.storage import fileio


# ----------------------------------------------------------------------------- C
Z_HIDDEN_UNITS = 40  # orig carracing/model.py, MODE_Z_HIDDEN: hidden_size = 40


class Controller:
    """C, the one definition: its layout, parameter count, inputs and actions (numpy, float32).

    inputs "zh" (paper 2.3, the default): CarRacing a = W [z, h] + b (867 params at z 32, h 256);
      Doom a = W [z, c, h], no bias (orig doomrnn; 1,088 at z 64, h 512).
    inputs "z": a = W z (+ b), C without M's state (CarRacing: 99 params).
    inputs "z_hidden": a = W2 tanh(W1 z + b1) (+ b2), 40 hidden units (CarRacing: 1,443 params).
    The output layer has a bias for CarRacing, none for Doom; the hidden layer always has one.
    Squash: CarRacing steer tanh, gas (tanh + 1) / 2, brake clip(tanh, 0, 1); Doom tanh.
    Flat params: layer by layer, W row-major (in, out), then b.

    `needs_m`: whether C reads M's state (h, c); where it does not, the real game needs no M.
    """

    def __init__(self, experiment, z_size, hidden, inputs="zh"):
        if experiment not in ACTION_SIZE:
            raise ValueError(f"unknown experiment {experiment!r}; expected one of {sorted(ACTION_SIZE)}")
        if inputs not in CONTROLLER_INPUTS:
            raise ValueError(f"controller inputs must be one of {CONTROLLER_INPUTS}, got {inputs!r}")
        self.experiment, self.z_size, self.hidden, self.inputs = experiment, int(z_size), int(hidden), inputs
        self.action_size = ACTION_SIZE[experiment]
        self.needs_m = inputs == "zh"
        self.n_in = self.z_size + (self.hidden * (2 if experiment == "doom" else 1) if self.needs_m else 0)
        out_bias = experiment != "doom"
        if inputs == "z_hidden":
            self.layers = ((self.n_in, Z_HIDDEN_UNITS, True), (Z_HIDDEN_UNITS, self.action_size, out_bias))
        else:
            self.layers = ((self.n_in, self.action_size, out_bias),)
        self.size = sum(i * o + (o if bias else 0) for i, o, bias in self.layers)

    def __repr__(self):
        return f"Controller({self.experiment!r}, {self.z_size}, {self.hidden}, inputs={self.inputs!r})"

    def features(self, z, h, c, dtype=np.float32):
        """C's input (last axis): "zh" CarRacing [z, h], Doom [z, c, h]; otherwise z."""
        if not self.needs_m:
            return np.asarray(z, dtype)
        parts = [z, c, h] if self.experiment == "doom" else [z, h]
        return np.concatenate([np.asarray(p, dtype) for p in parts], axis=-1)

    def unpack(self, params, dtype=np.float32):
        """Flat params (size,) -> ((W, b), ...) per layer (b zeros where there is no bias): the
        params rounded to float32 (C's values), held in `dtype` (float32, or float64 to compute in)."""
        params = np.asarray(params, np.float32).astype(dtype, copy=False)
        if params.shape != (self.size,):
            raise ValueError(f"{self.experiment} controller (inputs={self.inputs}, {self.n_in} inputs) expects "
                             f"{self.size} parameters, got shape {params.shape}")
        out, start = [], 0
        for n_in, n_out, bias in self.layers:
            w = params[start:start + n_in * n_out].reshape(n_in, n_out)
            start += n_in * n_out
            b = params[start:start + n_out] if bias else np.zeros(n_out, params.dtype)
            start += n_out if bias else 0
            out.append((w, b))
        return tuple(out)

    def act(self, params, features):
        """Actions (B, action_size) for features (B, n_in): one matmul per layer, in the layers'
        dtype (float32 for flat params).

        params: flat (size,), or the tuple unpack returns (unpack once, act many times).
        """
        layers = params if isinstance(params, tuple) else self.unpack(params)
        y = np.asarray(features, layers[0][0].dtype)
        if y.ndim != 2 or y.shape[1] != self.n_in:
            raise ValueError(f"{self!r} expects features (B, {self.n_in}), got {y.shape}")
        for i, (w, b) in enumerate(layers):
            y = y @ w + b
            if i < len(layers) - 1:
                y = np.tanh(y)
        return self.squash(y)

    def squash(self, y):
        """Linear outputs -> actions: tanh, then CarRacing's gas (tanh+1)/2 and brake clip(tanh, 0, 1)."""
        y = np.asarray(y)
        a = np.tanh(y.astype(np.float64 if y.dtype == np.float64 else np.float32))
        if self.experiment == "carracing":
            a[..., 1] = (a[..., 1] + 1.0) / 2.0
            a[..., 2] = np.clip(a[..., 2], 0.0, 1.0)
        return a

    def load(self, path, widen=False):
        """Params (size,) float64 from a controller .npz (es.save_params), checking the inputs mode
        it records (saved_inputs); ValueError naming the file on a mismatch.

        widen=True (a starting point, never a controller to score) allows one mismatch: a "z"
        controller loads into a "zh" one as the same policy, its weights on z and its bias as they
        are, zeros on M's state (h, and c for Doom).
        """
        from worldmodels import es
        inputs = saved_inputs(path)
        if widen and inputs == "z" and self.inputs == "zh":
            small = es.load_params(path, Controller(self.experiment, self.z_size, self.hidden, "z").size)
            n_w = self.z_size * self.action_size  # W row-major (in, out), then b: as unpack reads it
            wide = np.zeros(self.size, np.float64)
            wide[:n_w] = small[:n_w]  # features() puts z first: [z, h] or [z, c, h]
            wide[self.n_in * self.action_size:] = small[n_w:]  # the bias, where there is one
            return wide
        if inputs != self.inputs:
            raise ValueError(f"{path}: a controller with inputs={inputs}, but this one has "
                             f"inputs={self.inputs} (set controller.inputs={inputs})")
        return es.load_params(path, self.size)


def record_arithmetic(record):
    """The agent's arithmetic an evaluation record (05 --eval) was played in: its "arithmetic",
    float32 for records made before it was written, None for the random policy's."""
    return record.get("arithmetic", "float32") if record.get("policy") != "random" else None


def saved_inputs(path):
    """The controller inputs mode a params .npz records; "zh" for files written before the key
    existed (the only mode then)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: controller params not found")
    arrays = fileio.load_npz(path, what="controller .npz")  # DataError naming a damaged file
    return str(arrays["inputs"]) if "inputs" in arrays else "zh"


