"""M as an environment: the dream in which the Doom controller is trained (paper 4.2, orig doomrnn.py),
and CarRacing's where its M predicts rewards (ours: rnn.predict_reward).

    env = dream.DreamEnv("results/doom/world_model.npz", "results/doom/initial_z.npz", temperature=1.15)
    env = gymnasium.make("worldmodels.dream:WorldModels/Dream-v0", world_model=..., initial_z=...)  # registered; the
                                         # "worldmodels.dream:" prefix makes gymnasium import this module first
    rewards = dream.dream_rollouts(wm, mu0, logvar0, params, trials=16, temperature=1.15,
                                   max_steps=2100, seed=seeds)                   # (P, trials), batched
    rewards = dream.ensemble_rollouts([wm, wm2], mu0, logvar0, params, 16, seed=seeds)  # trials split over dreams

The dream, as the original DoomCoverRNNEnv: reset zeroes the LSTM state, sets restart = 1 for the
first step and samples z from a random real episode's first frame, z = mu + exp(logvar / 2) * eps.
Each step feeds (z, action, restart) to M, samples the next z at temperature tau, pays the step's
reward (reward_source: M's predicted reward where M has a reward head, e.g. CarRacing with
rnn.predict_reward; otherwise Doom's +1 per step survived; a CarRacing M without one pays 0) and
ends the episode where done_logit > 0 (M with a done head), or truncates at max_steps (by default
the real game's cap, MAX_STEPS). Observation = the controller's features (npmodels.Controller: inputs "zh" Doom
[z, c, h], CarRacing [z, h]; "z" and "z_hidden" z alone). Actions outside the game's action space
(npmodels.ACTION_BOUNDS) raise ValueError, as a wrong action would be silently fed to M otherwise;
wrap the env in gymnasium.wrappers.ClipAction to clip instead.

Random numbers: one Generator per rollout stream; per reset it draws the episode index
(integers(N, size=n)) then the initial-z noise (standard_normal((n, Z))); per step the MDN noise
of the rollouts still running (npmodels.mdn_noise: random((n, Z)) then standard_normal((n, Z))).
dream_rollouts gives each candidate (row of params) its own Generator and draws its trials'
numbers in exactly this order, so with trials=1 and seed=[s] it reproduces DreamEnv(...).reset(seed=s)
stepped with the same controller.

Determinism (the guarantee, stated here only): for the same world model, initial z, temperature,
max_steps, trials, controller inputs and `group`, a candidate's rewards from dream_rollouts are a
function of its group's (seeds, params) alone, bit for bit (group 1: its own seed and params): the
same for any number of MPI workers, any controller.chunk and whatever other groups share the
batch, on one machine (one numpy and BLAS build, the same CPU and BLAS thread count). A group is
`group` consecutive candidates of a generation (0..group-1, ...); es.evaluate cuts tasks at its
multiples, so a group is never split. A different CPU or BLAS build may give a different, equally
valid draw: the dream is chaotic, so another summation order in a matmul grows into other episodes.
Why this holds on any CPU, whatever kernels its BLAS picks: the arithmetic a group's rollouts go
through is fixed by the group alone. Every matmul that touches them (the LSTM, the MDN head, whose
output holds M's predicted reward too) is a separate BLAS call over that group's running rows
only, in candidate and trial order (npmodels.block_matmul), and C is a call per candidate: their
shapes and inputs depend on the group's own (seeds, params), never on the batch, so BLAS receives
the identical call (only where the rows sit in memory differs, which OpenBLAS's results do not
depend on: tests/test_npmodels.py checks both assumptions). Rows that end leave only their own
group's block. The other operations are elementwise numpy (each element computed alone; a
rollout's rewards are summed step by step) or reductions over the mixture axis of one row.
Speed: a matmul per candidate (group 1) runs the LSTM on 16-row blocks; groups of 8 candidates
give BLAS 128-row blocks (bench/dream_throughput.py measures each against one matmul per step).
No TensorFlow here.
"""
import os

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from worldmodels.storage import fileio
from worldmodels import npmodels

ENV_ID = "WorldModels/Dream-v0"
# A dream episode's default cap: the real game's. Doom: paper 4, 2100 steps; CarRacing: gymnasium's
# CarRacing-v3 (orig extract.py), 1000 steps.
MAX_STEPS = {"doom": 2100, "carracing": 1000}


def reward_source(wm):
    """What a step of wm's dream pays: "reward head" (M's predicted reward, predict_reward),
    "survival" (Doom with a done head: +1 per step until M predicts death, the paper's), or None
    (nothing: a CarRacing M without a reward head)."""
    if wm.predict_reward:
        return "reward head"
    if wm.experiment == "doom" and wm.predict_done:
        return "survival"
    return None


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

    def __init__(self, world_model, initial_z, temperature=1.15, max_steps=None, render_mode=None,
                 render_scale=1, inputs="zh"):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.wm = _as_world_model(world_model)
        max_steps = MAX_STEPS[self.wm.experiment] if max_steps is None else max_steps
        if not temperature > 0 or max_steps < 1:
            raise ValueError(f"need temperature > 0 and max_steps >= 1, got {temperature}, {max_steps}")
        self.init_mu, self.init_logvar = load_initial_z(initial_z, self.wm.z_size)
        self.temperature, self.max_steps = float(temperature), int(max_steps)
        self.render_mode, self.render_scale = render_mode, int(render_scale)
        self.experiment = self.wm.experiment
        self.controller = npmodels.Controller(self.experiment, self.wm.z_size, self.wm.hidden, inputs)
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.controller.n_in,), np.float32)
        low, high = npmodels.ACTION_BOUNDS[self.experiment]
        self.action_space = spaces.Box(np.array(low, np.float32), np.array(high, np.float32), dtype=np.float32)
        self.reward_source = reward_source(self.wm)
        self.z = None

    def _obs(self):
        return self.controller.features(self.z, self.h, self.c)[0]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.z = sample_initial_z(self.np_random, self.init_mu, self.init_logvar, 1)
        self.h, self.c = self.wm.initial_state(1)
        self.restart, self.steps = 1.0, 0
        return self._obs(), {}

    def step(self, action):
        if self.z is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, np.float32)
        space = self.action_space
        if action.shape != space.shape or not np.all((action >= space.low) & (action <= space.high)):
            raise ValueError(f"action {action.tolist()} is outside the action space: shape {space.shape}, "
                             f"low {space.low.tolist()}, high {space.high.tolist()} "
                             "(gymnasium.wrappers.ClipAction clips actions into it)")
        action = action.reshape(1, self.wm.action_size)
        self.h, self.c = self.wm.step(self.z, action, self.restart, self.h, self.c)
        self.restart = 0.0
        u, eps = npmodels.mdn_noise(self.np_random, 1, self.wm.z_size)
        z, done, reward = self.wm.sample_next_with(self.h, self.temperature, u, eps, with_reward=True)
        self.z = z
        self.steps += 1
        terminated = bool(done[0])
        truncated = not terminated and self.steps >= self.max_steps
        reward = float(reward[0]) if reward is not None else 1.0 if self.reward_source == "survival" else 0.0
        return self._obs(), reward, terminated, truncated, {"steps": self.steps}

    def render(self):
        if self.render_mode != "rgb_array" or self.z is None:
            return None
        frame = np.rint(self.wm.decode(self.z)[0] * 255.0).astype(np.uint8)
        if self.render_scale > 1:
            frame = frame.repeat(self.render_scale, axis=0).repeat(self.render_scale, axis=1)
        return frame


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="worldmodels.dream:DreamEnv")


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


def group_blocks(live, counts, group):
    """Row counts of the matmul blocks: the running rows of candidates live[i] (counts[i] each,
    consecutive) merged per group of `group` candidates (candidate p belongs to group p // group)."""
    if group <= 1:
        return counts
    g = np.asarray(live) // group
    return np.add.reduceat(counts, np.flatnonzero(np.r_[True, g[1:] != g[:-1]]))


def dream_rollouts(wm, initial_mu, initial_logvar, params, trials, temperature=1.15, max_steps=None, seed=0,
                   inputs="zh", group=1):
    """Total dream rewards (P, trials) float64 for P controllers (params (P, n) or (n,)), all batched.

    All P * trials rollouts advance together; the elementwise work is done for the whole batch,
    every matmul per candidate over its running rows (see the module docstring: what makes the
    result independent of the batch). Rollouts that end leave the batch (they cost nothing more).
    seed: an int (candidate p then uses np.random.default_rng(seed).spawn(P)[p]), or P seeds, one
    per candidate (row p uses np.random.default_rng(seed[p])) -- the way to get results that depend
    only on (seed[p], params[p]) whatever the rest of the batch, e.g. under MPI chunking; see
    candidate_seeds. inputs: C's form (npmodels.Controller). The reward of a rollout is the sum of
    what its steps pay (reward_source: M's predicted rewards, or Doom's steps survived), summed in
    float64 step by step, as DreamEnv's rewards summed in order; it ends where M predicts done (with
    a done head) or after max_steps (None: MAX_STEPS of the game).
    group: candidates whose running rows share each matmul (candidates 0..group-1, then the next
    group, ...; 1: a matmul per candidate). Larger groups run faster; a candidate's rewards then
    depend on its group's (seeds, params), so callers keep the groups whatever the batch
    (es.evaluate cuts tasks at multiples of `group`).
    """
    if int(group) < 1:
        raise ValueError(f"group must be >= 1, got {group}")
    wm = _as_world_model(wm)
    source = reward_source(wm)
    if source is None:
        raise ValueError(f"{wm.experiment}: the world model has no reward head (rnn.predict_reward) "
                         "and no done head for Doom's survival reward, so dream rewards are all 0")
    max_steps = MAX_STEPS[wm.experiment] if max_steps is None else max_steps
    if not temperature > 0 or max_steps < 1 or trials < 1:
        raise ValueError(f"need temperature > 0, max_steps >= 1, trials >= 1; got {temperature}, {max_steps}, {trials}")
    mu0, logvar0 = load_initial_z((initial_mu, initial_logvar), wm.z_size)
    controller = npmodels.Controller(wm.experiment, wm.z_size, wm.hidden, inputs)
    params = np.asarray(params, np.float32)
    if params.ndim == 1:
        params = params[None]
    P, Z = len(params), wm.z_size
    layers = [controller.unpack(theta) for theta in params]
    rngs = _generators(seed, P)

    z = np.concatenate([sample_initial_z(r, mu0, logvar0, trials) for r in rngs])
    live = np.arange(P)                           # candidates with running rows, in order
    counts = np.full(P, trials)                   # their running rows (consecutive, in trial order)
    row = np.arange(P * trials)                   # flat (candidate, trial) index of each running row
    h, c = wm.initial_state(P * trials)
    total = np.zeros(P * trials, np.float64)
    restart = 1.0
    action = np.empty((P * trials, wm.action_size), np.float32)
    for t in range(max_steps):
        n = len(z)
        features = controller.features(z, h, c)
        u, eps = np.empty((n, Z)), np.empty((n, Z))
        start = 0
        for p, count in zip(live, counts):
            stop = start + count
            action[start:stop] = controller.act(layers[p], features[start:stop])
            u[start:stop], eps[start:stop] = npmodels.mdn_noise(rngs[p], count, Z)
            start = stop
        blocks = group_blocks(live, counts, int(group))
        h, c = wm.step(z, action[:n], restart, h, c, blocks=blocks)
        restart = 0.0
        z, done, reward = wm.sample_next_with(h, temperature, u, eps, blocks=blocks, with_reward=True)
        total[row] += 1.0 if reward is None else reward
        if t + 1 == max_steps:
            break
        if done.any():
            keep = ~done
            if not keep.any():
                break
            z, h, c, row = z[keep], h[keep], c[keep], row[keep]
            counts = np.add.reduceat(keep.astype(np.intp), np.cumsum(counts) - counts)
            live, counts = live[counts > 0], counts[counts > 0]
    return total.reshape(P, trials)


def ensemble_rollouts(wms, initial_mu, initial_logvar, params, trials, temperature=1.15, max_steps=None, *, seed,
                      inputs="zh", group=1):
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
                             seed=seeds if k == 0 else [np.random.SeedSequence([s, k]) for s in seeds],
                             inputs=inputs, group=group)
              for k, wm in enumerate(wms)]
    return np.concatenate(blocks, axis=1)
