"""M as an environment: the dream in which the Doom controller is trained (paper 4.2, orig doomrnn.py).

    env = dream.DreamEnv("results/doom/world_model.npz", "results/doom/initial_z.npz", temperature=1.15)
    env = gymnasium.make("WorldModels/Dream-v0", world_model=..., initial_z=...)   # the same, registered
    rewards = dream.dream_rollouts(wm, mu0, logvar0, params, trials=16, temperature=1.15,
                                   max_steps=2100, seed=seeds)                   # (P, trials), batched
    rewards = dream.ensemble_rollouts([wm, wm2], mu0, logvar0, params, 16, seed=seeds)  # trials split over dreams

The dream, as the original DoomCoverRNNEnv: reset zeroes the LSTM state, sets restart = 1 for the
first step and samples z from a random real episode's first frame, z = mu + exp(logvar / 2) * eps.
Each step feeds (z, action, restart) to M, samples the next z at temperature tau, pays +1 (Doom;
CarRacing has no reward model: 0) and ends the episode where done_logit > 0, or truncates at
max_steps (2100). Observation = the controller's features: Doom [z, c, h], CarRacing [z, h].

Random numbers: one Generator per rollout stream; per reset it draws the episode index
(integers(N, size=n)) then the initial-z noise (standard_normal((n, Z))); per step the MDN noise
(npmodels.mdn_noise: random((n, Z)) then standard_normal((n, Z))). dream_rollouts gives each
candidate (row of params) its own Generator and draws its trials' numbers in exactly this order,
so with trials=1 and seed=[s] it reproduces DreamEnv(...).reset(seed=s) stepped with the same
controller, and a candidate's result depends only on (its seed, its params), for one BLAS build and
thread count: the dream is chaotic, so another summation order in the matmuls gives another draw.
No TensorFlow here.
"""
import os

import gymnasium as gym
import numpy as np
from gymnasium import spaces

import fileio
import npmodels

ENV_ID = "WorldModels/Dream-v0"


def load_initial_z(initial_z, z_size=None):
    """(mu, logvar) float32 (N, Z) from an .npz with arrays mu, logvar, or from a (mu, logvar) tuple."""
    if isinstance(initial_z, (str, os.PathLike)):
        path = os.fspath(initial_z)
        if not os.path.exists(path):
            raise fileio.DataError(f"{path}: initial-z file not found")
        f = fileio.load_npz(path, ["mu", "logvar"])
        mu, logvar = f["mu"], f["logvar"]
        where = path
    else:
        mu, logvar = initial_z
        where = "initial_z"
    mu, logvar = np.asarray(mu), np.asarray(logvar)
    problem = None
    if mu.ndim != 2 or mu.shape != logvar.shape or len(mu) == 0:
        problem = f"mu {mu.shape} and logvar {logvar.shape} must both be (N, Z) with N > 0"
    elif z_size is not None and mu.shape[1] != z_size:
        problem = f"z size {mu.shape[1]} but the world model has {z_size}"
    elif mu.dtype.kind != "f" or logvar.dtype.kind != "f" or not (np.all(np.isfinite(mu)) and np.all(np.isfinite(logvar))):
        problem = "mu and logvar must be finite floats"
    if problem:
        raise fileio.DataError(f"{where}: {problem}")
    return np.ascontiguousarray(mu, np.float32), np.ascontiguousarray(logvar, np.float32)


def sample_initial_z(rng, mu, logvar, n):
    """n starting z: a random episode's first-frame (mu, logvar), z = mu + exp(logvar / 2) * eps."""
    idx = rng.integers(len(mu), size=n)
    eps = rng.standard_normal((n, mu.shape[1]))
    return (mu[idx] + np.exp(logvar[idx] / 2.0) * eps.astype(np.float32)).astype(np.float32)


def _as_world_model(world_model):
    return world_model if isinstance(world_model, npmodels.WorldModel) else npmodels.WorldModel.load(world_model)


class DreamEnv(gym.Env):
    """M as a gymnasium environment (single rollout). Observation: the controller features."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 35}

    def __init__(self, world_model, initial_z, temperature=1.15, max_steps=2100, render_mode=None,
                 render_scale=1):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if not temperature > 0 or max_steps < 1:
            raise ValueError(f"need temperature > 0 and max_steps >= 1, got {temperature}, {max_steps}")
        self.wm = _as_world_model(world_model)
        self.init_mu, self.init_logvar = load_initial_z(initial_z, self.wm.z_size)
        self.temperature, self.max_steps = float(temperature), int(max_steps)
        self.render_mode, self.render_scale = render_mode, int(render_scale)
        self.experiment = self.wm.experiment
        n_in = npmodels.controller_input_size(self.experiment, self.wm.z_size, self.wm.hidden)
        self.observation_space = spaces.Box(-np.inf, np.inf, (n_in,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (self.wm.action_size,), np.float32)
        self.reward_per_step = 1.0 if self.wm.predict_done else 0.0
        self.z = None

    def _obs(self):
        return npmodels.controller_features(self.experiment, self.z, self.h, self.c)[0]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.z = sample_initial_z(self.np_random, self.init_mu, self.init_logvar, 1)
        self.h, self.c = self.wm.initial_state(1)
        self.restart, self.steps = 1.0, 0
        return self._obs(), {}

    def step(self, action):
        if self.z is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, np.float32).reshape(1, self.wm.action_size)
        self.h, self.c = self.wm.step(self.z, action, self.restart, self.h, self.c)
        self.restart = 0.0
        u, eps = npmodels.mdn_noise(self.np_random, 1, self.wm.z_size)
        z, done = self.wm.sample_next_with(self.h, self.temperature, u, eps)
        self.z = z
        self.steps += 1
        terminated = bool(done[0])
        truncated = not terminated and self.steps >= self.max_steps
        return self._obs(), self.reward_per_step, terminated, truncated, {"steps": self.steps}

    def render(self):
        if self.render_mode != "rgb_array" or self.z is None:
            return None
        frame = np.rint(self.wm.decode(self.z)[0] * 255.0).astype(np.uint8)
        if self.render_scale > 1:
            frame = frame.repeat(self.render_scale, axis=0).repeat(self.render_scale, axis=1)
        return frame


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point=f"{__name__}:DreamEnv")


def candidate_seeds(seed, generation, count):
    """Distinct per-candidate seeds for one generation (uint64 (count,)), the same on every worker.

    Pass seeds[i] for candidate i (or a chunk seeds[a:b] with params[a:b]) to dream_rollouts:
    results then do not depend on how the population is split.
    """
    return np.random.SeedSequence([int(seed), int(generation)]).generate_state(count, dtype=np.uint64)


def _generators(seed, count):
    if np.ndim(seed) == 0 and not isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
        return np.random.default_rng(int(seed)).spawn(count)
    seeds = list(seed)
    if len(seeds) != count:
        raise ValueError(f"seed must be an int or {count} per-candidate seeds, got {len(seeds)}")
    return [np.random.default_rng(int(s) if isinstance(s, (int, np.integer)) else s) for s in seeds]


def dream_rollouts(wm, initial_mu, initial_logvar, params, trials, temperature=1.15, max_steps=2100, seed=0):
    """Total dream rewards (P, trials) float64 for P controllers (params (P, n) or (n,)), all batched.

    All P * trials rollouts advance together: one LSTM matmul and one MDN matmul per step for the
    whole batch; rollouts that end are dropped from the batch (finished ones cost nothing).
    seed: an int (candidate p then uses np.random.default_rng(seed).spawn(P)[p]), or P seeds, one
    per candidate (row p uses np.random.default_rng(seed[p])) -- the way to get results that depend
    only on (seed[p], params[p]) whatever the rest of the batch, e.g. under MPI chunking; see
    candidate_seeds. Doom only (needs the done head): reward = steps survived, at most max_steps.
    """
    wm = _as_world_model(wm)
    if not wm.predict_done:
        raise ValueError(f"{wm.experiment}: the world model has no done head, so dream rewards are all 0")
    if not temperature > 0 or max_steps < 1 or trials < 1:
        raise ValueError(f"need temperature > 0, max_steps >= 1, trials >= 1; got {temperature}, {max_steps}, {trials}")
    mu0, logvar0 = load_initial_z((initial_mu, initial_logvar), wm.z_size)
    params = np.asarray(params, np.float32)
    if params.ndim == 1:
        params = params[None]
    P, Z, exp = len(params), wm.z_size, wm.experiment
    n_in = npmodels.controller_input_size(exp, Z, wm.hidden)
    W, b = npmodels.controller_weights(exp, params, n_in)  # (P, n_in, A), (P, A)
    rngs = _generators(seed, P)

    z = np.concatenate([sample_initial_z(r, mu0, logvar0, trials) for r in rngs])
    cand = np.repeat(np.arange(P), trials)        # candidate of each live row (sorted: rows stay grouped)
    row = np.arange(P * trials)                   # flat (candidate, trial) index of each live row
    W_rows, b_rows = W[cand], b[cand]
    h, c = wm.initial_state(P * trials)
    steps = np.full(P * trials, max_steps, np.float64)
    restart = 1.0
    for t in range(max_steps):
        features = npmodels.controller_features(exp, z, h, c)
        action = npmodels.squash(exp, np.matmul(features[:, None, :], W_rows)[:, 0] + b_rows)
        h, c = wm.step(z, action, restart, h, c)
        restart = 0.0
        n = len(z)
        u, eps = np.empty((n, Z)), np.empty((n, Z))
        counts = np.bincount(cand, minlength=P)
        start = 0
        for p in np.flatnonzero(counts):
            stop = start + counts[p]
            u[start:stop], eps[start:stop] = npmodels.mdn_noise(rngs[p], stop - start, Z)
            start = stop
        z, done = wm.sample_next_with(h, temperature, u, eps)
        if t + 1 == max_steps:
            break
        if done.any():
            steps[row[done]] = t + 1
            keep = ~done
            if not keep.any():
                break
            z, h, c = z[keep], h[keep], c[keep]
            cand, row, W_rows, b_rows = cand[keep], row[keep], W_rows[keep], b_rows[keep]
    return steps.reshape(P, trials)


def ensemble_rollouts(wms, initial_mu, initial_logvar, params, trials, temperature=1.15, max_steps=2100, *, seed):
    """dream_rollouts with each candidate's trials split over several dreams (ours, not the paper's).

    wms: world models that share V (so z means the same in each); the trials are cut into
    len(wms) equal blocks and block k is played in wms[k]'s dream, all from the same initial z.
    seed: one int per candidate (as from candidate_seeds). Block 0 uses those seeds, so a
    one-model ensemble is exactly dream_rollouts; block k > 0 uses SeedSequence([seed, k]).
    Returns (P, trials) float64, block k in columns [k * trials / K, (k + 1) * trials / K).
    """
    wms = [_as_world_model(wm) for wm in wms]
    if not wms or trials % len(wms):
        raise ValueError(f"trials ({trials}) must be a positive multiple of the number of world models ({len(wms)})")
    seeds = [int(s) for s in seed]
    per = trials // len(wms)
    blocks = [dream_rollouts(wm, initial_mu, initial_logvar, params, per, temperature, max_steps,
                             seed=seeds if k == 0 else [np.random.SeedSequence([s, k]) for s in seeds])
              for k, wm in enumerate(wms)]
    return np.concatenate(blocks, axis=1)
