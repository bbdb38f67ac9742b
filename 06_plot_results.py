"""Stage 06: plots, GIFs and a results table beside the paper's.

    python 06_plot_results.py --config doom small

The stage's logic is importable as worldmodels.stages.report; `python 06_plot_results.py --help` lists its options.
"""
from worldmodels.stages import report

if __name__ == "__main__":
    report.cli()
