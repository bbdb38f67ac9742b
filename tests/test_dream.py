"""The dream (M as an environment) and the batched dream_rollouts, on small random world models."""
import os
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from worldmodels import dream  # noqa: E402
from worldmodels import npmodels  # noqa: E402
from worldmodels.storage import episodes  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # conftest.py


Z, H, K = 16, 64, 5
DONE_BIAS = -0.3      # done_logit hovers around 0: episodes last ~40 steps (1 to ~200)


def random_weights(experiment="doom", done_bias=DONE_BIAS, seed=0, gain=1.0, done=None, reward=False):
    """Arguments of npmodels.WorldModel / save_world_model: random V and M (numpy, no Keras),
    M's done head biased so that episodes end. gain > 1 scales the LSTM weights (chaotic M).
    done: a done head (default: Doom's); reward: a reward head (pass predict_reward=reward too)."""
    rng = np.random.default_rng(seed)
    A, pd = npmodels.ACTION_SIZE[experiment], experiment == "doom" if done is None else done
    vae = {}
    for name, shape in npmodels.vae_shapes(Z).items():
        fan_in = np.prod(shape) / shape[-2] if len(shape) == 4 else shape[0]
        vae[name] = (rng.standard_normal(shape) / np.sqrt(fan_in) if len(shape) > 1
                     else np.zeros(shape)).astype(np.float32)
    rnn = {name: (rng.standard_normal(shape) / np.sqrt(shape[0]) if len(shape) > 1 else np.zeros(shape))
           .astype(np.float32) for name, shape in npmodels.rnn_shapes(Z, A, H, K, pd, reward).items()}
    rnn["lstm_kernel"] *= gain
    rnn["lstm_recurrent"] *= gain
    if pd:
        rnn["head_b"][0] = done_bias
    return experiment, Z, A, H, K, pd, vae, rnn


def random_world_model(experiment="doom", done_bias=DONE_BIAS, seed=0, gain=1.0, done=None, reward=False):
    return npmodels.WorldModel(*random_weights(experiment, done_bias, seed, gain, done, reward), predict_reward=reward)


def initial_z(n=20, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, Z)).astype(np.float32), np.full((n, Z), -2.0, np.float32)


def controllers(experiment, count, seed=2, scale=0.3, inputs="zh"):
    n = npmodels.Controller(experiment, Z, H, inputs).size
    return (np.random.default_rng(seed).standard_normal((count, n)) * scale).astype(np.float32)


def run_env(env, params, seed):
    """Steps until the episode ends; returns (steps, total reward, observations)."""
    obs, _ = env.reset(seed=seed)
    observations, total = [obs], 0.0
    while True:
        action = env.unwrapped.controller.act(params, obs[None])[0]
        obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        total += reward
        if terminated or truncated:
            return len(observations) - 1, total, np.array(observations)


@pytest.fixture(scope="module")
def doom():
    return random_world_model("doom")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("dream")
    wm_path, z_path = str(d / "world_model.npz"), str(d / "initial_z.npz")
    npmodels.save_world_model(wm_path, *random_weights("doom"))
    mu, logvar = initial_z()
    episodes.save(z_path, mu=mu, logvar=logvar)
    return wm_path, z_path


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("experiment", ["doom", "carracing"])
def test_check_env(experiment):
    wm = random_world_model(experiment)
    env = dream.DreamEnv(wm, initial_z(), render_mode="rgb_array")
    check_env(env, skip_render_check=False)
    n_in = Z + H * (2 if experiment == "doom" else 1)
    assert env.observation_space.shape == (n_in,) and env.action_space.shape == (wm.action_size,)


def test_make_registered(files):
    wm_path, z_path = files
    env = gymnasium.make("worldmodels.dream:WorldModels/Dream-v0", world_model=wm_path, initial_z=z_path, max_steps=30)
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (Z + 2 * H,)
    # Doom features [z, c, h]: c and h are zero after reset, z comes from an initial (mu, logvar)
    assert np.all(obs[Z:] == 0) and np.any(obs[:Z] != 0)
    steps, total, _ = run_env(env, controllers("doom", 1)[0], seed=3)
    assert 1 <= steps <= 30 and total == steps
    env.close()


def test_make_without_importing_dream(files):
    """gymnasium.make("worldmodels.dream:WorldModels/Dream-v0", ...) imports dream itself (gymnasium's
    "module:EnvId" form): a fresh interpreter that never imported dream makes and steps the env."""
    import subprocess
    wm_path, z_path = files
    code = ("import sys, gymnasium, numpy as np\n"
            f"env = gymnasium.make('worldmodels.dream:WorldModels/Dream-v0', world_model={wm_path!r}, initial_z={z_path!r})\n"
            "obs, _ = env.reset(seed=1)\n"
            "obs, reward, *_ = env.step(np.zeros(1, np.float32))\n"
            "print(type(env.unwrapped).__module__, obs.shape, reward)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["worldmodels.dream", f"({Z + 2 * H},)", "1.0"]


@pytest.mark.parametrize("experiment, bad", [("doom", [1.5]), ("doom", [-1.01]), ("doom", [np.nan]),
                                             ("doom", [0.0, 0.0]), ("carracing", [0.0, -0.1, 0.0]),
                                             ("carracing", [1.2, 0.5, 0.0]), ("carracing", [0.0, 0.5])])
def test_actions_outside_the_action_space_raise(experiment, bad):
    env = dream.DreamEnv(random_world_model(experiment), initial_z())
    env.reset(seed=0)
    z = env.z.copy()
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(np.asarray(bad, np.float32))
    assert np.array_equal(env.z, z) and env.steps == 0  # nothing happened
    edge = env.action_space.high if experiment == "doom" else env.action_space.low
    env.step(edge)  # the bounds themselves are fine
    clipped = gymnasium.wrappers.ClipAction(env)
    clipped.step(np.full(env.action_space.shape, 5.0, np.float32))  # the documented way to clip instead
    assert env.steps == 2


def test_reset_seed_determinism(doom):
    env = dream.DreamEnv(doom, initial_z(), max_steps=50)
    params = controllers("doom", 1)[0]
    a = run_env(env, params, seed=11)
    b = run_env(env, params, seed=11)
    c = run_env(env, params, seed=12)
    assert a[0] == b[0] and np.array_equal(a[2], b[2])
    assert not (a[0] == c[0] and np.array_equal(a[2][:2], c[2][:2]))


def test_terminated_truncated_rewards():
    mu, logvar = initial_z()
    dies = dream.DreamEnv(random_world_model("doom", done_bias=50.0), (mu, logvar), max_steps=5)
    dies.reset(seed=0)
    _, reward, terminated, truncated, _ = dies.step(np.zeros(1, np.float32))
    assert (reward, terminated, truncated) == (1.0, True, False)

    lives = dream.DreamEnv(random_world_model("doom", done_bias=-50.0), (mu, logvar), max_steps=7)
    lives.reset(seed=0)
    flags = [lives.step(np.zeros(1, np.float32))[1:4] for _ in range(7)]
    assert flags == [(1.0, False, False)] * 6 + [(1.0, False, True)]

    car = dream.DreamEnv(random_world_model("carracing"), (mu, logvar), max_steps=4)
    car.reset(seed=0)
    flags = [car.step(np.array([0.1, 0.5, 0.0], np.float32))[1:4] for _ in range(4)]
    assert flags == [(0.0, False, False)] * 3 + [(0.0, False, True)]

    with pytest.raises(ValueError, match="no reward head"):
        dream.dream_rollouts(car.wm, mu, logvar, controllers("carracing", 1), 1, seed=0)


def test_render(doom):
    env = dream.DreamEnv(doom, initial_z(), render_mode="rgb_array", render_scale=2)
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (128, 128, 3)
    env.step(np.zeros(1, np.float32))
    frame2 = env.render()
    assert frame2.shape == (128, 128, 3) and not np.array_equal(frame, frame2)
    small = dream.DreamEnv(doom, initial_z(), render_mode="rgb_array")
    small.reset(seed=0)
    expected = np.rint(doom.decode(small.z)[0] * 255).astype(np.uint8)
    assert np.array_equal(small.render(), expected) and np.array_equal(frame[::2, ::2], expected)
    assert dream.DreamEnv(doom, initial_z()).render() is None


def test_initial_z_errors(doom, tmp_path):
    with pytest.raises(episodes.DataError, match="missing_z.npz"):
        dream.DreamEnv(doom, str(tmp_path / "missing_z.npz"))
    wrong = str(tmp_path / "wrong_z.npz")
    episodes.save(wrong, mu=np.zeros((3, Z + 1), np.float32), logvar=np.zeros((3, Z + 1), np.float32))
    with pytest.raises(episodes.DataError, match="wrong_z.npz"):
        dream.DreamEnv(doom, wrong)


def test_batched_equals_env_stepped_one_at_a_time(doom):
    """Same seed per candidate, trials=1: dream_rollouts reproduces DreamEnv exactly."""
    mu, logvar = initial_z()
    params = controllers("doom", 6)
    seeds = [101, 7, 55, 3, 999, 12]
    batched = dream.dream_rollouts(doom, mu, logvar, params, trials=1, temperature=1.15, max_steps=80, seed=seeds)
    env = dream.DreamEnv(doom, (mu, logvar), temperature=1.15, max_steps=80)
    single = [run_env(env, params[p], seeds[p])[1] for p in range(6)]
    assert batched.shape == (6, 1)
    np.testing.assert_array_equal(batched[:, 0], single)
    assert len(set(single)) > 2  # lengths vary


def test_batched_agrees_in_distribution(doom):
    """200 episodes each, independent random streams: episode lengths from the same distribution."""
    from scipy import stats
    mu, logvar = initial_z()
    params = controllers("doom", 1, seed=5)
    batched = dream.dream_rollouts(doom, mu, logvar, params, trials=200, temperature=1.15, max_steps=300,
                                   seed=2024)[0]
    env = dream.DreamEnv(doom, (mu, logvar), temperature=1.15, max_steps=300)
    single = np.array([run_env(env, params[0], seed=10_000 + i)[0] for i in range(200)])
    se = np.sqrt(batched.var() / 200 + single.var() / 200)
    assert abs(batched.mean() - single.mean()) < 4 * se, (batched.mean(), single.mean(), se)
    assert stats.ks_2samp(batched, single).pvalue > 1e-3
    assert 15 < single.mean() < 120 and single.max() < 300  # episodes do end, after tens of steps
    # and a different temperature gives a different distribution (the test can tell them apart)
    cold = dream.dream_rollouts(doom, mu, logvar, params, trials=200, temperature=0.3, max_steps=300, seed=1)[0]
    assert stats.ks_2samp(cold, single).pvalue < 1e-3


def chaotic_world_model():
    """A chaotic M with long episodes: last-bit differences in a matmul grow into other episode lengths."""
    return random_world_model("doom", done_bias=-1.0, gain=4.0)


@pytest.mark.parametrize("inputs", ["zh", "z_hidden"])
def test_chunking_invariance_and_determinism(doom, inputs):
    """The guarantee in dream.py's docstring: a candidate's rewards depend only on (its seed, its
    params), bit for bit, however the population is split and whatever else is in the batch."""
    wm = chaotic_world_model()
    mu, logvar = initial_z()
    P, trials = 8, 12
    params = controllers("doom", P, seed=9, inputs=inputs)
    seeds = dream.candidate_seeds(0, 3, P)
    full = dream.dream_rollouts(wm, mu, logvar, params, trials, 1.15, 300, seed=seeds, inputs=inputs)
    assert full.shape == (P, trials) and full.dtype == np.float64
    assert len(np.unique(full)) > 10 and 50 < full.mean() < 300
    for split in (((0, 1), (1, 5), (5, 8)), ((0, 4), (4, 8)), tuple((p, p + 1) for p in range(P))):
        parts = np.concatenate([dream.dream_rollouts(wm, mu, logvar, params[a:b], trials, 1.15, 300,
                                                     seed=seeds[a:b], inputs=inputs) for a, b in split])
        np.testing.assert_array_equal(parts, full)
    # other companions in the batch (and another position) do not change candidates 5 and 2
    mixed = dream.dream_rollouts(wm, mu, logvar, np.stack([params[5], params[0] * 3, params[2]]), trials, 1.15,
                                 300, seed=[seeds[5], 17, seeds[2]], inputs=inputs)
    np.testing.assert_array_equal(mixed[[0, 2]], full[[5, 2]])
    # an int seed is deterministic; another seed gives other results
    a = dream.dream_rollouts(doom, mu, logvar, params, 4, 1.15, 150, seed=4, inputs=inputs)
    b = dream.dream_rollouts(doom, mu, logvar, params, 4, 1.15, 150, seed=4, inputs=inputs)
    c = dream.dream_rollouts(doom, mu, logvar, params, 4, 1.15, 150, seed=5, inputs=inputs)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len(np.unique(seeds)) == P and not np.array_equal(seeds, dream.candidate_seeds(0, 4, P))


@pytest.mark.parametrize("group", [2, 4])
def test_groups_of_candidates_share_matmuls_and_stay_invariant_to_the_split(group):
    """group > 1: a group of consecutive candidates shares each matmul; its members' rewards depend on
    the group alone, bit for bit, for any split at multiples of the group (what es.evaluate cuts)."""
    wm = chaotic_world_model()
    mu, logvar = initial_z()
    P, trials = 8, 6
    params = controllers("doom", P, seed=9)
    seeds = dream.candidate_seeds(0, 3, P)
    full = dream.dream_rollouts(wm, mu, logvar, params, trials, 1.15, 300, seed=seeds, group=group)
    assert len(np.unique(full)) > 10
    for cuts in ([0, group, P], list(range(0, P + 1, group))):
        parts = np.concatenate([dream.dream_rollouts(wm, mu, logvar, params[a:b], trials, 1.15, 300, seed=seeds[a:b],
                                                     group=group) for a, b in zip(cuts[:-1], cuts[1:])])
        np.testing.assert_array_equal(parts, full)
    # the groups' matmul blocks: running rows merged per group, in candidate order
    np.testing.assert_array_equal(dream.group_blocks(np.array([0, 1, 3, 4, 7]), np.array([2, 1, 3, 1, 2]), 4),
                                  [6, 3])
    np.testing.assert_array_equal(dream.group_blocks(np.array([0, 2]), np.array([2, 1]), 1), [2, 1])
    with pytest.raises(ValueError, match="group"):
        dream.dream_rollouts(wm, mu, logvar, params, 1, max_steps=3, seed=0, group=0)


def test_one_matmul_for_the_batch_would_depend_on_the_split(monkeypatch):
    """What the test above guards against: with one matmul for the whole batch instead of one per
    candidate, a BLAS that computes a row differently at another batch size gives candidates
    other rewards when the population is split (skipped where this BLAS does not)."""
    wm = chaotic_world_model()
    rng = np.random.default_rng(0)
    if all(np.array_equal(x[a:b] @ w, (x @ w)[a:b]) for w in (wm._lstm_w, wm._head_w)
           for x in [rng.standard_normal((96, len(w))).astype(np.float32)] for a, b in ((0, 1), (3, 4), (5, 17))):
        pytest.skip("this BLAS computes rows identically at any batch size: nothing to show")
    monkeypatch.setattr(npmodels.world_model, "block_matmul", lambda x, w_columns, blocks=None: x @ np.concatenate(w_columns, 1))
    mu, logvar = initial_z()
    params, seeds = controllers("doom", 8, seed=9), dream.candidate_seeds(0, 3, 8)
    full = dream.dream_rollouts(wm, mu, logvar, params, 12, 1.15, 300, seed=seeds)
    parts = np.concatenate([dream.dream_rollouts(wm, mu, logvar, params[a:b], 12, 1.15, 300, seed=seeds[a:b])
                            for a, b in ((0, 1), (1, 5), (5, 8))])
    assert not np.array_equal(parts, full)


def test_max_steps_cap():
    wm = random_world_model("doom", done_bias=-50.0)
    mu, logvar = initial_z()
    out = dream.dream_rollouts(wm, mu, logvar, controllers("doom", 3), 2, temperature=1.0, max_steps=9, seed=0)
    np.testing.assert_array_equal(out, np.full((3, 2), 9.0))
    dies = random_world_model("doom", done_bias=50.0)
    np.testing.assert_array_equal(dream.dream_rollouts(dies, mu, logvar, controllers("doom", 2), 3, max_steps=9,
                                                       seed=[1, 2]), np.ones((2, 3)))


def test_ensemble_rollouts_split_trials_over_dreams(doom):
    """Block k of each candidate's trials is wms[k]'s dream; one model alone is dream_rollouts."""
    mu, logvar = initial_z()
    params = controllers("doom", 3, seed=4)
    seeds = [int(s) for s in dream.candidate_seeds(0, 1, 3)]
    alone = dream.dream_rollouts(doom, mu, logvar, params, 4, 1.15, 150, seed=seeds)
    np.testing.assert_array_equal(dream.ensemble_rollouts([doom], mu, logvar, params, 4, 1.15, 150, seed=seeds), alone)
    kind = random_world_model("doom", done_bias=-2.0)  # the same V and sizes, an M that rarely kills
    both = dream.ensemble_rollouts([doom, kind], mu, logvar, params, 4, 1.15, 150, seed=seeds)
    assert both.shape == (3, 4)
    np.testing.assert_array_equal(both[:, :2], dream.dream_rollouts(doom, mu, logvar, params, 2, 1.15, 150, seed=seeds))
    other = dream.dream_rollouts(kind, mu, logvar, params, 2, 1.15, 150,
                                 seed=[np.random.SeedSequence([s, 1]) for s in seeds])
    np.testing.assert_array_equal(both[:, 2:], other)
    assert both[:, 2:].mean() > 2 * both[:, :2].mean()  # the second block did run in the kinder dream
    with pytest.raises(ValueError, match="multiple"):
        dream.ensemble_rollouts([doom, kind], mu, logvar, params, 3, 1.15, 150, seed=seeds)


# ----------------------------------------------------------------------------- CarRacing: M's predicted reward
@pytest.fixture(scope="module")
def car():
    """A CarRacing world model with a reward head (rnn.predict_reward), no done head."""
    return random_world_model("carracing", reward=True)


def test_carracing_dream_pays_m_reward(car):
    """Each step pays M's reward output for the new h; without a done head the episode runs to the
    cap (by default the real game's, 1000 steps); with one (Doom's machinery) it ends where M says."""
    env = dream.DreamEnv(car, initial_z(), temperature=1.0)
    assert env.max_steps == 1000 and env.reward_source == "reward head"
    obs, _ = env.reset(seed=4)
    assert obs.shape == (Z + H,) and env.action_space.shape == (3,)
    np.testing.assert_array_equal(env.action_space.low, npmodels.ACTION_BOUNDS["carracing"][0])
    np.testing.assert_array_equal(env.action_space.high, npmodels.ACTION_BOUNDS["carracing"][1])
    params = controllers("carracing", 1)[0]
    rewards = []
    for t in range(1000):
        obs, reward, terminated, truncated, _ = env.step(env.controller.act(params, obs[None])[0])
        assert reward == float(car.reward(env.h)[0]) and not terminated
        np.testing.assert_array_equal(obs, np.concatenate([env.z[0], env.h[0]]))  # C's input [z, h]
        rewards.append(reward)
        if truncated:
            break
    assert t == 999 and len(set(rewards)) > 100 and min(rewards) < 0 < max(rewards)
    both = random_world_model("carracing", done_bias=50.0, done=True, reward=True)  # M says done at once
    env = dream.DreamEnv(both, initial_z(), max_steps=5)
    env.reset(seed=0)
    _, reward, terminated, truncated, _ = env.step(np.array([0.0, 1.0, 0.0], np.float32))
    assert terminated and not truncated and reward == float(both.reward(env.h)[0])
    survives = random_world_model("carracing", done_bias=-50.0, done=True)  # a done head, no reward head: pays 0
    assert dream.reward_source(survives) is None
    with pytest.raises(ValueError, match="no reward head"):
        dream.dream_rollouts(survives, *initial_z(), controllers("carracing", 1), 1, seed=0)


@pytest.fixture(scope="module")
def car_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("car_dream")
    wm_path, z_path = str(d / "world_model.npz"), str(d / "initial_z.npz")
    npmodels.save_world_model(wm_path, *random_weights("carracing", reward=True), predict_reward=True)
    mu, logvar = initial_z()
    episodes.save(z_path, mu=mu, logvar=logvar)
    return wm_path, z_path


def test_carracing_make_registered_and_render(car_files, car):
    """gymnasium.make works for a CarRacing world model as for Doom's; render() decodes z."""
    wm_path, z_path = car_files
    env = gymnasium.make("worldmodels.dream:WorldModels/Dream-v0", world_model=wm_path, initial_z=z_path, max_steps=30,
                         temperature=1.0, render_mode="rgb_array")
    assert env.unwrapped.wm.predict_reward and env.unwrapped.experiment == "carracing"
    obs, _ = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (Z + H,) and np.all(obs[Z:] == 0)
    frame = env.render()
    np.testing.assert_array_equal(frame, np.rint(car.decode(env.unwrapped.z)[0] * 255).astype(np.uint8))
    steps, total, _ = run_env(env, controllers("carracing", 1)[0], seed=3)
    assert steps == 30 and total != 0
    assert env.render().shape == (64, 64, 3) and not np.array_equal(env.render(), frame)
    env.close()


@pytest.mark.parametrize("done", [False, True])
def test_carracing_batched_equals_env_stepped_one_at_a_time(done):
    """dream_rollouts pays M's rewards, summed as DreamEnv's are: the same totals bit for bit."""
    wm = random_world_model("carracing", done=done, reward=True)  # with a done head: ~20-step episodes
    mu, logvar = initial_z()
    params = controllers("carracing", 5)
    seeds = [101, 7, 55, 3, 999]
    batched = dream.dream_rollouts(wm, mu, logvar, params, trials=1, temperature=1.0, max_steps=60, seed=seeds)
    env = dream.DreamEnv(wm, (mu, logvar), temperature=1.0, max_steps=60)
    single = [run_env(env, params[p], seeds[p]) for p in range(5)]
    assert batched.shape == (5, 1) and batched.dtype == np.float64
    np.testing.assert_array_equal(batched[:, 0], [total for _, total, _ in single])
    lengths = [steps for steps, _, _ in single]
    assert (lengths == [60] * 5) != done and len(set(batched[:, 0])) == 5


@pytest.mark.parametrize("done", [False, True])
def test_carracing_chunking_invariance_and_determinism(done):
    """dream.py's guarantee for CarRacing's dream: a candidate's rewards depend only on (its seed,
    its params), bit for bit, however the population is split (MPI workers, controller.chunk) and
    whatever else is in the batch; with a done head rows also leave the batch."""
    wm = random_world_model("carracing", done_bias=-1.0, gain=4.0, done=done, reward=True)  # chaotic; ~180 steps
    mu, logvar = initial_z()
    P, trials = 8, 6
    params = controllers("carracing", P, seed=9)
    seeds = dream.candidate_seeds(0, 3, P)
    full = dream.dream_rollouts(wm, mu, logvar, params, trials, 1.0, 200, seed=seeds)
    assert full.shape == (P, trials) and len(np.unique(full)) == P * trials
    for split in (((0, 1), (1, 5), (5, 8)), ((0, 4), (4, 8)), tuple((p, p + 1) for p in range(P))):
        parts = np.concatenate([dream.dream_rollouts(wm, mu, logvar, params[a:b], trials, 1.0, 200, seed=seeds[a:b])
                                for a, b in split])
        np.testing.assert_array_equal(parts, full)
    mixed = dream.dream_rollouts(wm, mu, logvar, np.stack([params[5], params[0] * 3, params[2]]), trials, 1.0, 200,
                                 seed=[seeds[5], 17, seeds[2]])
    np.testing.assert_array_equal(mixed[[0, 2]], full[[5, 2]])
    other = dream.dream_rollouts(wm, mu, logvar, params, trials, 1.0, 200, seed=dream.candidate_seeds(0, 4, P))
    assert not np.any(other == full)
