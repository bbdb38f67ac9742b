"""The real games: `games` (CarRacing and DoomTakeCover behind one interface, `make_env`), `fast_carracing`
(the same CarRacing frames rendered faster) and `pool` (games in worker processes); the public names
of games and pool are here too."""
from worldmodels.envs.games import (
    DOOM_INIT_LOCK, OBS_SPACE, SIZE, CarRacing, DoomTakeCover, HeldRandomPolicy, action_size, make_env, resize)
from worldmodels.envs.pool import WorkerDied, WorkerExit, WorkerPool, worker_init

__all__ = ["DOOM_INIT_LOCK", "OBS_SPACE", "SIZE", "CarRacing", "DoomTakeCover", "HeldRandomPolicy", "action_size",
           "make_env", "resize", "WorkerDied", "WorkerExit", "WorkerPool", "worker_init"]
