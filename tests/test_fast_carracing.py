"""fast_carracing.FastCarRacing against gymnasium's stock CarRacing-v3 (the judge), and the
training-only early end of envs.CarRacing (env.no_progress_steps). Real games, no mocks.

The identity test plays 3 episodes of 1000 steps (seeds 3, 4, 5; random actions, a spell of full
steer + gas then full brake that leaves the track) and one that ends off the playfield (seed 2,
162 steps) in both envs side by side, then 150 steps on each rarer rendering path. More episodes:
python bench/fast_carracing.py.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from worldmodels import config  # noqa: E402
from worldmodels import envs  # noqa: E402
from worldmodels.envs import fast_carracing  # noqa: E402


@pytest.mark.parametrize("seed,hold,steps", [(3, 10, 1000), (4, 1, 1000), (5, 10, 1000), (2, 10, 162)])
def test_fast_env_is_identical_to_stock(seed, hold, steps):
    """Seed 2: the track starts near the edge of the playfield; the car drives off it at step 162
    (terminated, reward -100), the background no longer covering the window on the way."""
    stock, fast = fast_carracing.stock_env(), fast_carracing.FastCarRacing(continuous=True)
    n, diff = fast_carracing.lockstep(stock, fast, seed, fast_carracing.probe_actions(seed, 1000, hold))
    assert diff is None, diff
    assert n == steps


class _AlwaysFlip(fast_carracing.FastCarRacing):
    """Takes the rare path (an indicator reaching above the bar: flip first, then shrink) every frame."""

    def _indicators_stay_in_bar(self):
        return False


@pytest.mark.parametrize("make_fast,kwargs", [(_AlwaysFlip, {}),
                                              (fast_carracing.FastCarRacing, {"domain_randomize": True})])
def test_fast_env_other_paths_are_identical(make_fast, kwargs):
    """The full-size flip path, and random (non-integer) colours, where the background is drawn as
    stock draws it instead of as a fill."""
    stock, fast = fast_carracing.stock_env(**kwargs), make_fast(continuous=True, **kwargs)
    n, diff = fast_carracing.lockstep(stock, fast, 8, fast_carracing.probe_actions(8, 150))
    assert diff is None, diff
    assert n == 150


def test_fast_env_rgb_array_render_is_identical():
    stock = fast_carracing.stock_env(render_mode="rgb_array")
    fast = fast_carracing.FastCarRacing(continuous=True, render_mode="rgb_array")
    stock.reset(seed=6)
    fast.reset(seed=6)
    for t, action in enumerate(fast_carracing.probe_actions(6, 80), 1):
        a, b = stock.step(action), fast.step(action)
        assert np.array_equal(a[0], b[0])
        if t % 20 == 0:
            assert np.array_equal(stock.render(), fast.render())


class _OffByOne(fast_carracing.FastCarRacing):
    """A renderer with one flaw: tiles are drawn one shade lighter. The check must notice."""

    def _poly(self, pts, color):
        if not isinstance(color, np.ndarray) and list(color) != [255, 255, 255] and list(color) != [255, 0, 0]:
            color = [min(255, int(c) + 1) for c in color]
        super()._poly(pts, color)


def test_identity_check_catches_a_one_shade_difference():
    n, diff = fast_carracing.lockstep(fast_carracing.stock_env(), _OffByOne(continuous=True), 3,
                                      fast_carracing.probe_actions(3, 100))
    assert diff is not None and "observation differs" in diff


def make(*overrides, training=False):
    return envs.make_env(config.load(["carracing", "tiny"], ["env.max_steps=1000", *overrides]), training=training)


def test_fast_render_switch():
    fast, stock = make("env.fast_render=true"), make("env.fast_render=false")
    assert type(fast.unwrapped) is fast_carracing.FastCarRacing
    assert type(stock.unwrapped).__module__ == "gymnasium.envs.box2d.car_racing"
    a, b = fast.reset(seed=7)[0], stock.reset(seed=7)[0]
    assert np.array_equal(a, b)
    for action in fast_carracing.probe_actions(7, 60):
        ra, rb = fast.step(action), stock.step(action)
        assert np.array_equal(ra[0], rb[0]) and ra[1:4] == rb[1:4]


def test_no_progress_ends_a_training_episode_only():
    still = np.zeros(3, np.float32)
    env = make("env.no_progress_steps=25", training=True)
    env.reset(seed=1)
    cut = 0.0
    for t in range(1, 26):  # the car stands still: no new tile
        _, reward, term, trunc, info = env.step(still)
        cut += reward
        assert not term and trunc == (t == 25)
    assert info["no_progress"]
    evaluation = make("env.no_progress_steps=25")  # training=False: whole episodes
    assert evaluation.no_progress_steps == 0
    evaluation.reset(seed=1)
    whole, done = 0.0, False
    while not done:
        _, reward, term, trunc, _ = evaluation.step(still)
        whole, done = whole + reward, term or trunc
    assert evaluation.steps == evaluation.max_steps  # never cut early
    # the cut episode is charged the time penalty of the steps it skipped: standing still scores
    # what a whole episode of standing still scores
    assert abs(cut - whole) < 1e-6, (cut, whole)


def test_no_progress_counts_from_the_last_new_tile():
    """Full gas straight ahead: new tiles until the car leaves the track at the first corner,
    then none; the episode ends exactly N steps after the last new tile."""
    n = 30
    env = make(f"env.no_progress_steps={n}", training=True)
    env.reset(seed=2)
    last_new, tiles = 0, env.unwrapped.tile_visited_count
    for t in range(1, 1001):
        _, _, term, trunc, _ = env.step(np.array([0.0, 1.0, 0.0], np.float32))
        if env.unwrapped.tile_visited_count > tiles:
            last_new, tiles = t, env.unwrapped.tile_visited_count
        if term or trunc:
            break
    assert trunc and not term
    assert last_new > n  # it did make progress for a while (the counter was reset)
    assert t == last_new + n


def test_controller_training_alone_ends_episodes_early():
    """Stage 05 plays CMA-ES's fitness episodes with the early end and --eval's without."""
    from worldmodels.stages import controller as stage
    cfg = config.load(["carracing", "tiny"], ["env.no_progress_steps=7"])
    assert stage.games(cfg, True, 1)[0].no_progress_steps == 7
    assert stage.games(cfg, False, 1)[0].no_progress_steps == 0
    assert stage.Fitness(cfg, "real", training=True).training and not stage.Fitness(cfg, "real").training


def test_eval_plays_the_stock_game_and_names_files_as_the_controller_trained(tmp_path):
    """--eval judges on gymnasium's own CarRacing-v3, whatever env.fast_render says, so neither that
    key nor the training-only early end renames an evaluation file."""
    from worldmodels.stages import controller as stage
    cfg = config.load(["carracing", "tiny"], [f"results_root={tmp_path}", "env.no_progress_steps=50"])
    judged = stage.judge(cfg)
    assert judged.env.fast_render is False and cfg.env.fast_render is True  # cfg itself is untouched
    env = stage.games(judged, False, 1)[0]
    assert not isinstance(env.env, fast_carracing.FastCarRacing) and env.no_progress_steps == 0
    p = stage.paths(cfg)
    config.save(cfg, p["out"], "test")
    for moved in (["env.fast_render=false"], ["env.no_progress_steps=0"]):
        assert stage.eval_suffix(config.load(["carracing", "tiny"], [f"results_root={tmp_path}", *moved]), p) == ""
    assert stage.eval_suffix(config.load(["carracing", "tiny"], [f"results_root={tmp_path}", "env.max_steps=500"]),
                             p) == "-env_max_steps500"
