"""Stage 05: train C, the linear controller, with CMA-ES (paper 2.3, A.3, A.4; orig train.py).

    python 05_train_controller.py --config doom small            # Doom: C evolves in M's dream
    python 05_train_controller.py --config carracing small       # CarRacing: C evolves in the real game
    python 05_train_controller.py --config carracing small rnn.predict_reward=true controller.mode=dream

The stage's logic is importable as worldmodels.stages.controller; `python 05_train_controller.py --help` lists its options.
"""
from worldmodels.stages import controller

if __name__ == "__main__":
    controller.cli()
