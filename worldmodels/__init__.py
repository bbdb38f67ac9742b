"""World Models (Ha & Schmidhuber, 2018): the libraries behind the numbered stage scripts.

    worldmodels.config        YAML configs, overlays, dotted overrides, the schema of every key
    worldmodels.storage       episode files (episodes) and atomic writes, checked reads, locks (fileio)
    worldmodels.npmodels      V and M in numpy, the controller C, the batched agent of the real games
    worldmodels.dream         M as a registered gymnasium env and batched dream rollouts
    worldmodels.envs          the real games behind one interface, the fast CarRacing, the worker pool
    worldmodels.es            CMA-ES: the search loop with checkpoints, and its MPI pool
    worldmodels.training      the resumable epoch loop of stages 02 and 04
    worldmodels.collect       episodes played by a trained agent (stage 01's data.agent)

The Keras models and losses are in the top-level arch.py; the stages' scripts are 01_..06_*.py.
"""
