"""Stage 06's table: what its scale line says about a warm-started V and M, and which controller
folder stands for each temperature."""
import json

from worldmodels import config

from worldmodels.stages import report as plot  # noqa: E402


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


def test_the_scale_line_says_which_rollouts_an_agent_played():
    assert "4 random rollouts," in table()
    line = table("data.episodes=11", "data.agent=results/doom/tau1.15/best.npz", "data.agent_from=10")
    assert "11 rollouts (10 random, the rest played by `results/doom/tau1.15/best.npz`)" in line


def controller(run_dir, name, tau, generations, real=True):
    folder = run_dir / name
    folder.mkdir()
    h = {"meta": {"mode": "dream", "temperature": tau}, "generations": [{"generation": g + 1} for g in range(generations)]}
    (folder / "history.json").write_text(json.dumps(h))
    if real:
        (folder / "eval_real.json").write_text(json.dumps({"mean": 100.0 * generations, "std": 1.0}))


def test_each_temperature_is_the_named_folder_else_the_longest_scored_run(tmp_path):
    controller(tmp_path, "tau1.15", 1.15, 50)
    controller(tmp_path, "tau1.15-long", 1.15, 150)
    controller(tmp_path, "tau1.30", 1.30, 25)
    controller(tmp_path, "tau1.30-unscored", 1.30, 75, real=False)
    (tmp_path / "figures").mkdir()
    runs = plot.temperature_runs(str(tmp_path))
    assert runs[1.15]["dir"] == "tau1.15-long" and runs[1.3]["dir"] == "tau1.30"
    runs = plot.temperature_runs(str(tmp_path), named="tau1.15")
    assert runs[1.15]["dir"] == "tau1.15" and runs[1.15]["generations"] == 50 and runs[1.3]["dir"] == "tau1.30"
    assert sorted(runs) == [1.15, 1.3]


def real_controller(run_dir, name, inputs, generations, mean=None):
    folder = run_dir / name
    folder.mkdir()
    meta = {"mode": "real", **({"inputs": inputs} if inputs != "zh" else {})}  # zh runs do not store the key
    gens = [{"generation": g + 1, "mean": 10.0 * g, "best": 20.0 * g, "worst": 0.0} for g in range(generations)]
    (folder / "history.json").write_text(json.dumps({"meta": meta, "generations": gens, "evaluations": [
        {"generation": generations, "mean": 5.0 * generations, "std": 1.0, "episodes": 8}]}))
    if mean is not None:
        (folder / "eval_real.json").write_text(json.dumps({"mean": mean, "std": 10.0, "episodes": 100}))


def test_carracing_rows_are_one_folder_per_controller_form(tmp_path):
    real_controller(tmp_path, "zh", "zh", 30, mean=870.0)
    real_controller(tmp_path, "zh-unscored", "zh", 60)
    real_controller(tmp_path, "z", "z", 20, mean=600.0)
    controller(tmp_path, "tau1.15", 1.15, 50)  # a dream run is not a row of this table
    rows = plot.input_rows(str(tmp_path))
    assert sorted(rows) == ["z", "zh"] and rows["zh"]["dir"] == "zh" and rows["z"]["generations"] == 20
    assert plot.input_rows(str(tmp_path), named="zh-unscored")["zh"]["dir"] == "zh-unscored"
    cfg = config.from_args(config.parser("x").parse_args(["--config", "carracing", "tiny"]))
    random = {"mean": -30.0, "std": 5.0, "episodes": 100, "scores": [-30.0] * 100}
    lines = plot.results_table(cfg, None, None, random, None, 30, rows=rows).splitlines()
    assert "| Full world model (V + M + C) | `zh` | 906 ± 21 | 870 ± 10 (n=100) | 30 (zh) |" in lines
    assert "| V model only | `z` | 632 ± 251 | 600 ± 10 (n=100) | 20 (z) |" in lines
    assert "| V model with hidden layer | `z_hidden` | 788 ± 141 | — | not run |" in lines
    assert "| random policy | — | — | -30 ± 5 (n=100) | — |" in lines
    plot.plot_rows(rows, str(tmp_path / "rows.png"))
    assert (tmp_path / "rows.png").stat().st_size > 10_000


def test_carracing_trained_in_the_dream_gets_a_temperature_table_of_its_own(tmp_path):
    controller(tmp_path, "tau1.00", 1.00, 6)
    controller(tmp_path, "tau0.50", 0.50, 3, real=False)
    (tmp_path / "tau1.00" / "eval_dream.json").write_text(json.dumps({"mean": 880.0, "std": 20.0, "episodes": 100}))
    (tmp_path / "tau1.00" / "eval_real.json").write_text(json.dumps({"mean": 600.0, "std": 1.0, "episodes": 100}))
    runs = plot.temperature_runs(str(tmp_path))
    cfg = config.from_args(config.parser("x").parse_args(
        ["--config", "carracing", "tiny", "rnn.predict_reward=true", "controller.mode=dream"]))
    real = {"mean": 600.0, "std": 1.0, "scores": [600.0] * 100}
    lines = plot.results_table(cfg, None, real, None, None, 6, runs).splitlines()
    assert "| 1.00 | — | — | 880 ± 20 (n=100) | 600 ± 1 (n=100) | 6 (tau1.00) |" in lines
    assert "| 0.50 | — | — | — | — | 3 (tau0.50) |" in lines
    assert not any(line.startswith("| 1.15 ") for line in lines)  # no Doom rows from the paper
    plot.plot_temperatures(runs, str(tmp_path / "temperature.png"), "carracing")
    assert (tmp_path / "temperature.png").stat().st_size > 10_000
