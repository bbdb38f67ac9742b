"""YAML config with overlays and dotted overrides (dreamerv3 style).

    cfg = config.load(["doom", "small"], ["rnn.epochs=3"])
    cfg.rnn.epochs  -> 3

A name is a file in config/ (``doom`` -> config/doom.yaml) or a path. The first
file is the base and defines every key; an overlay or override may only set keys
the base has, with a value of the same type (an int may stand for a float).
Anything else is an error that names the key and the file it came from.

An overlay may hold a section named after an experiment (``doom:``, ``carracing:``):
it applies only to that experiment, after the overlay's common keys.
"""
import argparse
import copy
import os
import sys

import yaml


CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config")
EXPERIMENTS = ("carracing", "doom")


class ConfigError(ValueError):
    pass


class Config(dict):
    """A dict whose keys are also attributes; nested dicts are Configs too."""

    def __init__(self, data=None):
        super().__init__()
        for k, v in (data or {}).items():
            self[k] = Config(v) if isinstance(v, dict) else v

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}") from None

    def to_dict(self):
        return {k: v.to_dict() if isinstance(v, Config) else copy.deepcopy(v) for k, v in self.items()}


def _resolve_path(name):
    if os.path.exists(name):
        return name
    path = os.path.join(CONFIG_DIR, name if name.endswith(".yaml") else name + ".yaml")
    if not os.path.exists(path):
        known = sorted(f[:-5] for f in os.listdir(CONFIG_DIR) if f.endswith(".yaml"))
        raise ConfigError(f"config {name!r} not found (looked for {path}); known: {', '.join(known)}")
    return path


def _read_yaml(path):
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def _check_type(key, old, new, source):
    if old is None or new is None:
        return new
    if isinstance(old, bool) or isinstance(new, bool):
        if isinstance(old, bool) and isinstance(new, bool):
            return new
    elif isinstance(old, float) and isinstance(new, int):
        return float(new)
    elif isinstance(old, type(new)) or isinstance(new, type(old)):
        return new
    raise ConfigError(f"{source}: {key} must be {type(old).__name__} (like the base), got {type(new).__name__} {new!r}")


def _merge(base, over, source, prefix=""):
    for key, value in over.items():
        dotted = prefix + key
        if key not in base:
            options = ", ".join(sorted(base)) or "(none)"
            raise ConfigError(f"{source}: unknown config key {dotted!r}; known keys here: {options}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {dotted} is a section; give a mapping, not {value!r}")
            _merge(base[key], value, source, dotted + ".")
        else:
            base[key] = _check_type(dotted, base[key], value, source)


def parse_override(text):
    """'rnn.epochs=3' -> {'rnn': {'epochs': 3}} (the value is read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:  # e.g. a path like {results_root}/doom/world_model.npz: a plain string
        value = raw.strip()
    if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string; users mean a number
        try:
            value = float(value)
        except ValueError:
            pass
    tree = value
    for part in reversed(key.strip().split(".")):
        tree = {part: tree}
    return tree


def load(names, overrides=()):
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ConfigError("give at least one config name, e.g. doom")
    paths = [_resolve_path(n) for n in names]
    cfg = _read_yaml(paths[0])
    for path in paths[1:]:
        overlay = _read_yaml(path)
        specific = {e: overlay.pop(e) for e in EXPERIMENTS if e in overlay}
        _merge(cfg, overlay, path)
        for experiment, section in specific.items():
            if not isinstance(section, dict):
                raise ConfigError(f"{path}: section {experiment!r} must be a mapping")
            if experiment == cfg.get("experiment"):
                _merge(cfg, section, f"{path} ({experiment} section)")
    for text in overrides:
        _merge(cfg, parse_override(text), f"override {text!r}")
    cfg["config_names"] = [os.path.relpath(os.path.splitext(p)[0], CONFIG_DIR) if _in_config_dir(p)
                           else os.path.splitext(os.path.basename(p))[0] for p in paths]
    cfg["name"] = cfg["name"].format(experiment=cfg["experiment"])
    _fill_placeholders(cfg, {"{results_root}": cfg["results_root"], "{data_root}": cfg["data_root"]})
    return Config(cfg)


def _in_config_dir(path):
    return os.path.abspath(path).startswith(CONFIG_DIR + os.sep)


def _fill_placeholders(tree, values):
    """String values may name other runs' files as {results_root}/RUN/... or {data_root}/RUN/..., so
    that a chain of runs (one warm-starting from another) moves with results_root / data_root."""
    def fill(value):
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str):
            for placeholder, text in values.items():
                value = value.replace(placeholder, text)
        return value
    tree.update(fill(tree))


def data_dir(cfg):
    """Generated data (rollouts, encoded series, training checkpoints): never committed."""
    return os.path.join(cfg.data_root, cfg.name)


def run_dir(cfg):
    """Results: resolved config, trained weights, controller, figures, metrics."""
    return os.path.join(cfg.results_root, cfg.name)


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def save(cfg, run_dir, stage, keep=False):
    """Write the resolved config beside the outputs; warn if an earlier one differs. keep: a stage
    that only reads the run's models (an evaluation) writes it only where there is none, so that it
    keeps describing how they were made."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "config.yaml")
    data = cfg.to_dict()
    if os.path.exists(path):
        old = _flatten(_read_yaml(path))
        new = _flatten(data)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k != "config_names")
        if changed:
            print(f"[{stage}] note: config differs from {path} in: " + ", ".join(
                f"{k} {old.get(k)!r}->{new.get(k)!r}" for k in changed) + (" (kept)" if keep else ""))
        if keep:
            return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    os.replace(tmp, path)


def progress(*args, **kwargs):
    """A tqdm progress bar on stdout; in a log file (not a terminal) it prints every 30 s, not every batch."""
    from tqdm import tqdm
    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("mininterval", 0.1 if kwargs["file"].isatty() else 30.0)
    return tqdm(*args, **kwargs)


def parser(description):
    """The argument parser every stage script shares."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", nargs="+", required=True, metavar="NAME",
                   help="base config then overlays, e.g. --config doom small")
    p.add_argument("--redo", action="store_true", help="redo a finished stage instead of skipping it")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="dotted overrides, e.g. rnn.epochs=3")
    return p


def from_args(args):
    # `--config doom small rnn.epochs=3`: argparse hands the overrides to --config too
    names = [n for n in args.config if "=" not in n]
    overrides = [n for n in args.config if "=" in n] + list(args.overrides)
    try:
        return load(names, overrides)
    except ConfigError as e:
        raise SystemExit(f"config error: {e}")


if __name__ == "__main__":  # `python config.py --config doom cpu [k=v ...]` prints the run's results folder
    print(run_dir(from_args(parser("Print the results folder of a config.").parse_args())))
