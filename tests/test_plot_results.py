"""Stage 06's table: what its scale line says about a warm-started V and M."""
import importlib

import config

plot = importlib.import_module("06_plot_results")


def table(*overrides):
    cfg = config.from_args(config.parser("x").parse_args(["--config", "doom", "tiny", *overrides]))
    real = {"mean": 842.0, "std": 502.0, "scores": [842.0] * 4}
    return plot.results_table(cfg, None, real, None, None, 50).splitlines()[2]


def test_the_scale_line_names_the_model_a_warm_start_began_from():
    assert "VAE 1 epoch(s), MDN-RNN" in table("vae.epochs=1") and "on top of" not in table()
    line = table("vae.epochs=0", "vae.init_from=results/doom-10k/world_model.npz", "rnn.epochs=6",
                 "rnn.init_from=results/doom-m500/world_model.npz")
    assert "VAE 0 epoch(s) on top of `results/doom-10k/world_model.npz`" in line
    assert "MDN-RNN 6 epoch(s) on top of `results/doom-m500/world_model.npz`" in line
