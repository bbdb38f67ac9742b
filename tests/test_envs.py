"""Real CarRacing-v3 and ViZDoom take_cover behind envs.make_env (no mocks)."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels import config  # noqa: E402
from worldmodels import envs  # noqa: E402

GAMES = ["doom", "carracing"]


def make(game, *overrides, render_mode=None):
    return envs.make_env(config.load([game, "tiny"], list(overrides)), render_mode=render_mode)


def play(env, game, seed, steps):
    """Frames and rewards of the data-collection policy for `steps` steps (or until the end)."""
    cfg = config.load([game, "tiny"])
    policy = envs.HeldRandomPolicy(cfg, np.random.default_rng(seed))
    obs, _ = env.reset(seed=seed)
    frames, rewards = [obs], []
    for _ in range(steps):
        obs, r, term, trunc, _ = env.step(policy.act())
        frames.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    return np.stack(frames), np.array(rewards)


@pytest.mark.parametrize("game", GAMES)
def test_obs_shape_dtype_and_spaces(game):
    env = make(game)
    try:
        obs, info = env.reset(seed=0)
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
        assert env.observation_space.contains(obs)
        out = env.step(env.action_space.sample())
        assert len(out) == 5 and out[0].shape == (64, 64, 3) and out[0].dtype == np.uint8
        assert env.action_space.shape == (envs.action_size(config.load([game])),)
        assert out[0].std() > 5  # a real picture, not a blank frame
    finally:
        env.close()


@pytest.mark.parametrize("game,steps", [("doom", 300), ("carracing", 30)])
def test_same_seed_same_episode(game, steps):
    env = make(game, "env.max_steps=2100")
    try:
        a, ra = play(env, game, 11, steps)
        b, rb = play(env, game, 11, steps)  # same env object: the seed alone must fix the episode
        c, _ = play(env, game, 12, steps)
    finally:
        env.close()
    assert a.shape == b.shape and np.array_equal(a, b) and np.array_equal(ra, rb)
    n = min(len(a), len(c))
    assert not np.array_equal(a[:n], c[:n]), "a different seed should give a different episode"


def test_doom_reward_is_one_per_step_and_death_is_clean():
    env = make("doom", "env.max_steps=2100")
    try:
        frames, rewards = play(env, "doom", 3, 2100)
        assert env.game.is_episode_finished() and env.game.is_player_dead()
        assert len(rewards) < 2100  # the random policy dies long before the cap
        assert np.all(rewards == 1.0)
        # after death ViZDoom has no state: the last observation repeats the last frame seen
        assert np.array_equal(frames[-1], frames[-2])
        with pytest.raises(RuntimeError, match="reset"):
            env.step(np.zeros(1, np.float32))
        obs, _ = env.reset(seed=4)  # and the env is usable again
        assert obs.shape == (64, 64, 3)
    finally:
        env.close()


def test_doom_action_mapping_left_none_right():
    import vizdoom as vzd
    env = make("doom")
    try:
        assert env.button_vector([-1.0]) == env._left and env.button_vector([-0.34]) == env._left
        assert env.button_vector([0.0]) == env._none and env.button_vector([0.33]) == env._none
        assert env.button_vector([0.34]) == env._right and env.button_vector([1.0]) == env._right
        assert env._left != env._right and sum(env._left) == sum(env._right) == 1 and sum(env._none) == 0
        moved = {}
        for a in [-1.0, -0.2, 0.0, 0.2, 1.0]:
            env.reset(seed=0)
            y0 = env.game.get_game_variable(vzd.GameVariable.POSITION_Y)
            for _ in range(10):
                env.step(np.array([a], np.float32))
            moved[a] = env.game.get_game_variable(vzd.GameVariable.POSITION_Y) - y0
        # the player faces +x (angle 0), so strafing left is +y and right is -y
        assert moved[-1.0] > 1 and moved[1.0] < -1
        assert moved[-0.2] == moved[0.0] == moved[0.2] == 0
    finally:
        env.close()


@pytest.mark.parametrize("game", GAMES)
def test_episode_cap_truncates(game):
    env = make(game, "env.max_steps=7")
    try:
        env.reset(seed=1)
        for t in range(1, 8):
            _, _, term, trunc, _ = env.step(np.zeros(env.action_space.shape, np.float32))
            assert not term
            assert trunc == (t == 7)
    finally:
        env.close()


def test_carracing_crop_resize_and_render():
    env = make("carracing", render_mode="rgb_array")
    try:
        obs, _ = env.reset(seed=5)
        raw = env.unwrapped.state  # the 96x96 frame before our preprocessing
        assert raw.shape == (96, 96, 3)
        assert np.array_equal(obs, envs.resize(raw[:84]))
        env.step(np.array([0.0, 1.0, 0.0], np.float32))
        assert env.render().shape == (400, 600, 3)
    finally:
        env.close()


def test_random_policy_holds_actions():
    for game in GAMES:
        cfg = config.load([game])
        p = envs.HeldRandomPolicy(cfg, np.random.default_rng(0))
        acts = np.stack([p.act() for _ in range(2000)])
        assert acts.dtype == np.float32 and acts.shape == (2000, envs.action_size(cfg))
        changes = np.flatnonzero(np.any(acts[1:] != acts[:-1], axis=1)) + 1
        holds = np.diff(np.concatenate([[0], changes]))
        assert holds.min() >= cfg.data.repeat_min and holds.max() <= cfg.data.repeat_max
        assert abs(holds.mean() - (cfg.data.repeat_min + cfg.data.repeat_max) / 2) < 0.6
        assert np.all(acts >= -1) and np.all(acts <= 1)
        if game == "carracing":
            assert acts[:, 1].min() >= envs.HeldRandomPolicy.GAS_MIN and np.mean(acts[:, 2] > 0) < 0.2
            assert acts[:, 0].min() < -0.8 and acts[:, 0].max() > 0.8
        else:
            thirds = np.histogram(acts[:, 0], bins=[-1, -1 / 3, 1 / 3, 1])[0] / len(acts)
            assert np.all(np.abs(thirds - 1 / 3) < 0.08)


def test_doom_engines_start_one_at_a_time(tmp_path):
    """Two engines starting at once in one folder raced to create ./_vizdoom/ (seen in CI: one failed
    with "File exists" and its stage then hung). envs serializes init() with a machine-wide lock:
    while the lock is held elsewhere, a new Doom env must wait, then start once it is released."""
    import fcntl
    import subprocess
    import time
    code = ("import sys; sys.path.insert(0, %r); from worldmodels import config, envs; "
            "e = envs.make_env(config.load(['doom', 'tiny'])); e.reset(seed=0); e.close(); print('started')"
            % os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(envs.DOOM_INIT_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(8)  # imports + engine start take ~2 s here
            assert proc.poll() is None, "a Doom engine started while another process held the init lock"
            assert not (tmp_path / "_vizdoom.ini").exists()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "started" in out
    assert (tmp_path / "_vizdoom").is_dir()
