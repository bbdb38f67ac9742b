"""Stage 02: train V, the ConvVAE (paper appendix A.1), on the random-rollout frames; with

    python 02_train_vae.py --config doom small
    python 02_train_vae.py --config carracing vae.epochs=2

The stage's logic is importable as worldmodels.stages.vae; `python 02_train_vae.py --help` lists its options.
"""
from worldmodels.stages import vae

if __name__ == "__main__":
    vae.cli()
