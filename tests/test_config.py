import os

import pytest
import yaml

import config


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


def test_an_evaluation_keeps_the_config_that_made_the_models(tmp_path, capsys):
    config.save(config.load(["doom", "tiny"], ["rnn.epochs=3"]), str(tmp_path), "04")
    later = config.load(["doom", "tiny"], ["rnn.epochs=5"])
    config.save(later, str(tmp_path), "05", keep=True)  # e.g. 05 --eval under a config changed since
    assert "rnn.epochs 3->5 (kept)" in capsys.readouterr().out
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["rnn"]["epochs"] == 3
    config.save(later, str(tmp_path), "04")
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["rnn"]["epochs"] == 5
    fresh = tmp_path / "fresh"
    config.save(later, str(fresh), "05", keep=True)  # nothing there yet: written
    assert yaml.safe_load((fresh / "config.yaml").read_text())["rnn"]["epochs"] == 5
