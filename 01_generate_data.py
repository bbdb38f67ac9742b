"""Stage 01: collect random-policy rollouts in the real game (paper 3.1 / 4.1: 10,000 rollouts).

    python 01_generate_data.py --config doom small
    python 01_generate_data.py --config carracing small data.workers=2 data_root=/tmp/wm

The stage's logic is importable as worldmodels.stages.data; `python 01_generate_data.py --help` lists its options.
"""
from worldmodels.stages import data

if __name__ == "__main__":
    data.cli()
