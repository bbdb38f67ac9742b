"""The batched agent (npmodels.Agents) in the real games, and stage 05's real game built on it.

A candidate's trials play in lock-step with one Agents (worldmodels.stages.controller.Fitness); here: its
actions and rewards against one one-frame Agent per game, on both real games, and the guarantee
that a candidate's actions do not depend on the other candidates of its task.
"""

import numpy as np
import pytest

from worldmodels import config
from worldmodels import envs
from worldmodels import npmodels
from test_npmodels import _random_weights

from worldmodels.stages import controller as stage  # noqa: E402
STEPS = 40


def recording(act, log):
    """A real_episodes policy that plays act(frames, rows) and logs each step's (rows, actions)."""
    def policy(frames, rows):
        actions = act(frames, rows)
        log.append((list(rows), np.array(actions, np.float32)))
        return actions
    return policy


def per_row(log, n):
    """The actions of each row, step by step, from a recording's log."""
    out = [[] for _ in range(n)]
    for rows, actions in log:
        for r, a in zip(rows, actions):
            out[r].append(a)
    return [np.array(a) for a in out]


@pytest.mark.parametrize("game", ["carracing", "doom"])
def test_batched_agent_against_one_frame_agents_in_the_real_game(game):
    """Three episodes in lock-step with Agents (3 rows) vs each alone with a one-frame Agent: the
    same random streams (default_rng([seed, t])) and episodes. Actions agree to float tolerance
    (BLAS sums a 3-row call in another order than a 1-row one, so not bit for bit), rewards too.
    The games cap their episodes at 40, 30 and 20 steps, so rows leave the batch as they end."""
    wm = npmodels.WorldModel(*_random_weights(game, z_size=32, hidden=64))
    ctrl = npmodels.Controller(game, wm.z_size, wm.hidden)
    params = np.random.default_rng(3).normal(0, 0.5, ctrl.size)
    seeds, trials = [11, 12, 13], 3
    caps = [STEPS - 10 * t for t in range(trials)]
    games = [envs.make_env(config.load([game, "tiny"], [f"env.max_steps={cap}"])) for cap in caps]
    try:
        log = []
        agents = npmodels.Agents(wm, params, [np.random.default_rng([5, t]) for t in range(trials)])
        batched, lengths = stage.real_episodes(games, recording(agents.act, log), seeds, STEPS)
        batched_actions = per_row(log, trials)
        for t in range(trials):
            one_log = []
            agent = npmodels.Agent(wm, params, np.random.default_rng([5, t]))
            one_frame = recording(lambda frames, rows: agent.act(frames[0])[None], one_log)
            alone, alone_lengths = stage.real_episodes(games[t:t + 1], one_frame, seeds[t:t + 1], STEPS)
            actions = per_row(one_log, 1)[0]
            assert len(actions) == len(batched_actions[t]) == lengths[t] == alone_lengths[0]  # steps counted
            np.testing.assert_allclose(batched_actions[t], actions, rtol=1e-4, atol=1e-5)
            assert batched[t] == pytest.approx(alone[0], abs=1e-3)
    finally:
        for env in games:
            env.close()
    assert len({a.tobytes() for a in batched_actions}) == trials  # three different episodes
    assert len({len(a) for a in batched_actions}) == trials  # ended at different steps: rows left the batch


def test_a_candidates_actions_do_not_depend_on_its_task(monkeypatch):
    """Fitness (real game): a candidate's actions are bit-identical whether its task holds it alone
    or with other candidates (as with more MPI workers or another controller.chunk)."""
    cfg = config.load(["carracing", "tiny"], ["env.max_steps=25", "controller.max_steps=25"])
    wm = npmodels.WorldModel(*_random_weights("carracing", z_size=32, hidden=64))
    ctrl = npmodels.Controller("carracing", wm.z_size, wm.hidden)
    params = np.random.default_rng(0).normal(0, 0.5, (3, ctrl.size))
    seeds = np.array([101, 202, 303])
    logs = []
    original = npmodels.Agents.act

    def act(self, frames, rows=None, override=None):
        actions = original(self, frames, rows, override)
        logs.append((self, np.array(actions)))  # the object, kept alive: its id is never reused
        return actions

    def play(p, s):
        logs.clear()
        rewards, steps = stage.Fitness(cfg, "real")(p, s, 2)
        assert steps.shape == rewards.shape and np.all((steps >= 1) & (steps <= 25))
        by_agent = {}
        for key, actions in logs:
            by_agent.setdefault(key, []).append(actions)
        return rewards, [np.concatenate(v) for v in by_agent.values()]

    monkeypatch.setattr(stage, "world_model", lambda path, sha1=None: wm)  # no file: this world model
    monkeypatch.setattr(npmodels.Agents, "act", act)  # records, then plays, the agent's actions
    together, acts_together = play(params, seeds)
    assert len(acts_together) == 3
    for i in range(3):
        alone, acts_alone = play(params[i:i + 1], seeds[i:i + 1])
        assert np.array_equal(alone[0], together[i])
        assert np.array_equal(acts_alone[0], acts_together[i])
