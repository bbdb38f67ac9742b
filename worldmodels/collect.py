"""Playing episodes for the data: the random policy or an agent (V + M + C) with exploration, and
each episode's seed. Used by stage 01."""
import os

import numpy as np

from worldmodels import envs
from worldmodels.run import Run
from worldmodels.storage import fileio
from worldmodels import npmodels


def episode_seed(cfg, i):
    return cfg.seed * 1_000_000 + i


def agent_files(cfg):
    """(world model path, controller params, its inputs mode) for data.agent, checked; None without an agent."""
    if not cfg.data.agent:
        return None
    wm_path = Run.agent_world_model(cfg.data.agent)
    if not os.path.exists(wm_path):
        raise fileio.DataError(f"data.agent: {wm_path} (V + M beside the controller's folder) not found; "
                               "run 04_train_rnn.py for that run first")
    wm = npmodels.WorldModel.load(wm_path)
    if wm.experiment != cfg.experiment:
        raise fileio.DataError(f"data.agent: {wm_path} is a {wm.experiment} model, not {cfg.experiment}")
    try:
        inputs = npmodels.saved_inputs(cfg.data.agent)
        params = npmodels.Controller(wm.experiment, wm.z_size, wm.hidden, inputs).load(cfg.data.agent)
    except (OSError, ValueError) as e:
        raise fileio.DataError(f"data.agent: {e}") from None
    return wm_path, params, inputs


class AgentPolicy:
    """V + M + C in the real game; with probability `explore` per step a held random action instead."""

    def __init__(self, cfg, rng, world_model, params, inputs="zh"):
        self.agent = npmodels.Agent(world_model, params, rng, inputs, cfg.controller.arithmetic)
        self.random = envs.HeldRandomPolicy(cfg, rng)
        self.explore = cfg.data.agent_explore
        self.rng = rng

    def act(self, obs):
        if self.random.left > 0 or self.rng.random() < self.explore:
            return self.agent.act(obs, override=self.random.act())
        return self.agent.act(obs)


def rollout(cfg, env, seed, agent=None):
    """One episode (random policy, or `agent` = (WorldModel, params, inputs)) -> arrays in rollouts.ROLLOUT format."""
    rng = np.random.default_rng(seed)
    policy = AgentPolicy(cfg, rng, *agent) if agent else envs.HeldRandomPolicy(cfg, rng)
    obs, _ = env.reset(seed=seed)
    frames, actions, rewards, dones = [], [], [], []
    while True:
        action = policy.act(obs) if agent else policy.act()
        frames.append(obs)
        actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward)
        dones.append(terminated)
        if terminated or truncated:
            break
    return dict(obs=np.stack(frames).astype(np.uint8), action=np.stack(actions).astype(np.float32),
                reward=np.asarray(rewards, np.float32), done=np.asarray(dones, bool))
