"""Stage 03: encode every frame of every rollout with V into (mu, logvar) for training M.

    python 03_generate_rnn_data.py --config doom small

The stage's logic is importable as worldmodels.stages.series; `python 03_generate_rnn_data.py --help` lists its options.
"""
from worldmodels.stages import series

if __name__ == "__main__":
    series.cli()
