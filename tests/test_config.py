import os

import pytest
import yaml

from worldmodels import config


def test_overlay_and_override():
    cfg = config.load(["doom", "small"], ["rnn.epochs=3", "vae.learning_rate=1"])
    assert cfg.rnn.epochs == 3 and cfg.vae.learning_rate == 1.0 and isinstance(cfg.vae.learning_rate, float)
    assert cfg.name == "doom-small" and cfg.rnn.hidden == 512
    assert config.run_dir(cfg) == os.path.join("results", "doom-small")


@pytest.mark.parametrize("override, words", [
    ("rnn.unknown=1", "unknown config key 'rnn.unknown'"),
    ("rnn.epochs=lots", "rnn.epochs must be int"),
    ("rnn=3", "is a section"),
    ("controller.mode", "key.sub=value"),
])
def test_bad_overrides(override, words):
    with pytest.raises(config.ConfigError, match=words.replace("(", r"\(").replace(".", r"\.")):
        config.load(["doom"], [override])


def test_unknown_key_in_overlay_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("vae:\n  z_sise: 3\n")
    with pytest.raises(config.ConfigError, match="bad.yaml.*vae.z_sise"):
        config.load(["carracing", str(bad)])


def test_unknown_config_name():
    with pytest.raises(config.ConfigError, match="not found"):
        config.load(["dom"])


def test_save_roundtrip(tmp_path):
    cfg = config.load(["carracing", "tiny"])
    config.save(cfg, str(tmp_path), "test")
    data = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert data["vae"]["z_size"] == 32 and data["name"] == "carracing-tiny"


def test_differences_name_what_changed(tmp_path):
    config.save(config.load(["doom", "tiny"], ["rnn.epochs=3"]), str(tmp_path), "04")
    later = config.load(["doom", "tiny"], ["rnn.epochs=5", "seed=4"])
    assert config.differences(str(tmp_path / "config.yaml"), later) == {"rnn.epochs": (3, 5), "seed": (0, 4)}


def test_an_overlay_given_as_the_game_is_a_config_error():
    with pytest.raises(config.ConfigError, match="tiny.yaml is an overlay, not a base config.*--config doom tiny"):
        config.load(["tiny"])


@pytest.mark.parametrize("override, words", [
    ("vae.epochs=-1", "vae.epochs must be >= 0, got -1"),
    ("rnn.batch_size=0", "rnn.batch_size must be > 0, got 0"),
    ("controller.temperature=0", "controller.temperature must be > 0"),
    ("data.agent_explore=1.5", r"data.agent_explore must be in \[0, 1\], got 1.5"),
    ("rnn.decay_rate=0", r"rnn.decay_rate must be in \(0, 1\]"),
    ("data.repeat_max=0", "data.repeat_max must be > 0"),
    ("data.repeat_min=11", "data.repeat_max .10. must be >= data.repeat_min .11."),
    ("controller.population=-3", "controller.population must be >= 2"),
    ("controller.population=1", "controller.population must be >= 2, got 1"),  # CMA-ES needs two to rank
    ("vae.kind=gan", "vae.kind must be one of convvae, vaegan, got 'gan'"),
    ("controller.inputs=zz", "controller.inputs must be one of zh, z, z_hidden, got 'zz'"),
    ("controller.step_size=foo", "controller.step_size must be one of csa, tpa, got 'foo'"),
    ("controller.mode=both", "controller.mode must be one of dream, real, got 'both'"),
])
def test_out_of_range_values_are_config_errors(override, words):
    with pytest.raises(config.ConfigError, match=words):
        config.load(["doom", "tiny"], [override])
    config.load(["doom", "tiny"], ["vae.epochs=0", "rnn.checkpoint_minutes=0", "data.agent_explore=1"])  # edges


def test_rollouts_dir_is_shared_or_the_runs_own():
    cfg = config.load(["doom", "tiny"], ["data_root=/d"])
    assert config.rollouts_dir(cfg) == "/d/doom-tiny/rollouts"
    shared = config.load(["doom", "tiny"], ["data_root=/d", "data.rollouts_dir=/d/doom-10k/rollouts"])
    assert config.rollouts_dir(shared) == "/d/doom-10k/rollouts"
    assert config.load(["carracing"]).data.rollouts_dir == ""


@pytest.mark.slow  # runs the stage scripts
def test_stage_reports_config_errors_in_one_line():
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for args in (["--config", "tiny"], ["--config", "doom", "tiny", "rnn.batch_size=0"]):
        r = subprocess.run([sys.executable, os.path.join(root, "04_train_rnn.py"), *args],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert r.stderr.strip().splitlines()[-1].startswith("config error:"), r.stderr


def test_carracing_dream_overlay():
    """experiments/carracing-dream: CarRacing's recipe with M's reward head and C in the dream, in
    its own run folder, on the recipe's rollouts and V."""
    cfg = config.load(["carracing", "cpu", "experiments/carracing-dream"])
    assert cfg.name == "carracing-dream" and cfg.rnn.predict_reward and cfg.controller.mode == "dream"
    assert cfg.controller.temperature == 1.0 and cfg.data.episodes == 2000 and not cfg.rnn.predict_done
    assert cfg.data.rollouts_dir == os.path.join("data", "carracing", "rollouts")
    assert cfg.vae.init_from == os.path.join("results", "carracing", "world_model.npz")
    assert not config.load(["carracing", "cpu"]).rnn.predict_reward  # the recipe's M is the paper's


def test_progress_in_a_log_writes_a_line_every_few_seconds_not_per_update(tmp_path):
    """A bar written to a file (a log, CI) with a postfix set every step: a few lines, not one per step."""
    from worldmodels import config
    with open(tmp_path / "log", "w") as f:
        bar = config.progress(range(200), file=f, desc="x")
        for i in bar:
            bar.set_postfix(loss=f"{i:.1f}")
        bar.close()
    lines = (tmp_path / "log").read_text().splitlines()
    assert 1 <= len(lines) <= 4 and all("\r" not in line for line in lines), lines
    assert "200/200" in lines[-1]
