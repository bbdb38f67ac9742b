"""Stage 04: train M, the MDN-RNN (paper appendix A.2), on the encoded series.

    python 04_train_rnn.py --config doom small

The stage's logic is importable as worldmodels.stages.rnn; `python 04_train_rnn.py --help` lists its options.
"""
from worldmodels.stages import rnn

if __name__ == "__main__":
    rnn.cli()
