"""V, M and C in pure numpy: the rollout path, so that workers need no TensorFlow. Three modules:
world_model (V and M, the world model file), controller (C), agents (the batched agent of the real
games); their public names are here too.

    npmodels.save_world_model(path, "doom", 64, 1, 512, 5, True,
                              vae.numpy_weights(), rnn.numpy_weights())   # arch.ConvVAE / arch.MDNRNN
    wm = npmodels.WorldModel.load(path)
    mu, logvar = wm.encode(frames_uint8)                 # (B, 64, 64, 3) -> (B, Z), (B, Z)
    h, c = wm.initial_state(B)
    h, c = wm.step(z, action, restart, h, c)             # one LSTM step (restart > 0.5 zeroes h, c first)
    z_next, done = wm.sample_next(h, 1.15, rng)          # MDN sample at temperature tau
    reward = wm.reward(h)                                # M's predicted reward (predict_reward), else None
    agent = npmodels.Agent(wm, params, rng); agent.reset(); action = agent.act(frame_uint8)
    agents = npmodels.Agents(wm, params, rngs); actions = agents.act(frames, rows)   # n games at once

Everything follows arch.py (Keras) and the authors' doomrnn.py:
- MDN output per step: [done_logit (Doom)] + [reward (predict_reward)] + per z-dim [logmix (K), mu (K), logstd (K)];
  logmix normalised by logsumexp. Sampling at temperature tau: softmax(logmix / tau) picks a
  component per dimension by inverse CDF (orig get_pi_idx), z = mu + exp(logstd) * N(0, 1) * sqrt(tau).
  Doom's episode ends where done_logit > 0 (P(done) > 0.5). The reward output (ours, for CarRacing's
  dream) is M's prediction of the step's reward. A file without meta/predict_reward has no reward head.
- LSTM: Keras LSTMCell (gates i, f, c, o; sigmoid recurrent activation). The last input channel is
  the restart flag: where it is > 0.5, h and c are zeroed before the step; Doom (predict_done) also
  feeds the flag to the LSTM, CarRacing does not (LSTM input [z, a]).
- Controller (`Controller`, the one definition of C): controller.inputs = "zh" (the paper's):
  CarRacing [z, h] @ W (in, 3) + b, Doom [z, c, h] @ W (in, 1), no bias; "z": z @ W (+ b);
  "z_hidden": tanh(z @ W1 + b1) (40 units) @ W2 (+ b2). Output squash: CarRacing steer tanh,
  gas (tanh + 1) / 2, brake clip(tanh, 0, 1); Doom tanh. Flat parameters: layer by layer,
  W row-major (in, out) then b.

Matmuls (`block_matmul`): `WorldModel.step` / `sample_next_with` take `blocks`, row counts of
consecutive groups of rows that each get their own matmuls (BLAS calls, one per fixed block of
weight columns); a row's result then depends only on its block's rows and its position in it.
dream.dream_rollouts gives each candidate its own block (see there).

No TensorFlow, Keras or arch import here (tests compare against arch.py).
"""
from worldmodels.config import ACTION_BOUNDS, ACTION_SIZE  # the games' action spaces (one definition, in config)
from worldmodels.npmodels.world_model import (
    WorldModel, block_matmul, mdn_noise, read_world_model, rnn_shapes,
    sample_mdn, save_world_model, set_blas_threads, split_columns, vae_shapes)
from worldmodels.npmodels.controller import Controller, record_arithmetic, saved_inputs
from worldmodels.npmodels.agents import Agent, Agents

__all__ = ["ACTION_BOUNDS", "ACTION_SIZE", "WorldModel", "block_matmul", "mdn_noise", "read_world_model",
           "rnn_shapes", "sample_mdn", "save_world_model", "set_blas_threads", "split_columns", "vae_shapes",
           "Controller", "record_arithmetic", "saved_inputs", "Agent", "Agents"]
