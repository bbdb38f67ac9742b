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

from worldmodels.storage import fileio


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository
CONFIG_DIR = os.path.join(ROOT, "config")
EXPERIMENTS = ("carracing", "doom")
# Action bounds (low, high) per game: CarRacing steer, gas, brake (gymnasium CarRacing; orig carracing
# model.py squashes C into them); Doom one value in [-1, 1] (orig doomrnn: < -1/3 left, > 1/3 right).
ACTION_BOUNDS = {"carracing": ((-1.0, 0.0, 0.0), (1.0, 1.0, 1.0)), "doom": ((-1.0,), (1.0,))}
ACTION_SIZE = {game: len(low) for game, (low, _) in ACTION_BOUNDS.items()}


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


# Allowed ranges of the numeric keys: (lowest, lowest allowed itself, highest or None).
_POS, _NONNEG, _PROB = (0, False, None), (0, True, None), (0, True, 1)
RANGES = {
    "seed": _NONNEG, "env.max_steps": _POS, "env.frame_skip": _POS, "env.doom_skill": _NONNEG,
    "data.episodes": _POS, "data.workers": _POS, "data.repeat_min": _POS, "data.repeat_max": _POS,
    "data.agent_from": _NONNEG, "data.agent_explore": _PROB,
    "vae.z_size": _POS, "vae.batch_size": _POS, "vae.learning_rate": _POS, "vae.kl_tolerance": _NONNEG,
    "vae.epochs": _NONNEG, "vae.shuffle_episodes": _POS, "vae.checkpoint_minutes": _NONNEG,
    "vae.gan_learning_rate": _POS, "vae.gan_gamma": _NONNEG, "vae.gan_pixel_weight": _NONNEG,
    "vae.gan_collapse_window": _NONNEG, "vae.gan_collapse_warmup": _NONNEG, "vae.gan_collapse_low": _NONNEG,
    "vae.gan_collapse_tol": _NONNEG,
    "rnn.hidden": _POS, "rnn.mixtures": _POS, "rnn.restart_factor": _POS, "rnn.batch_size": _POS,
    "rnn.seq_len": _POS, "rnn.epochs": _NONNEG, "rnn.learning_rate": _POS, "rnn.decay_rate": (0, False, 1),
    "rnn.min_learning_rate": _NONNEG, "rnn.grad_clip": _POS, "rnn.checkpoint_minutes": _NONNEG,
    "rnn.reward_weight": _NONNEG,
    "controller.temperature": _POS, "controller.population": (2, True, None), "controller.trials": _POS,
    "controller.sigma0": _POS, "controller.weight_decay": _NONNEG, "controller.generations": _NONNEG,
    "controller.eval_every": _POS, "controller.eval_episodes": _POS, "controller.max_steps": _POS,
    "controller.real_eval_episodes": _POS, "controller.chunk": _NONNEG, "controller.group": _POS,
}

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # Keras dtype policies (stages 02, 04)
CONTROLLER_INPUTS = ("zh", "z", "z_hidden")  # C's forms (npmodels.Controller): orig carracing/model.py MODE_ZH, MODE_Z, MODE_Z_HIDDEN
STEP_SIZES = ("csa", "tpa")  # CMA-ES step-size adaptation (es.cma_options)
ARITHMETICS = ("float64", "float32")  # the real-game agent's arithmetic (npmodels.Agents)
# Keys whose value is one of a few words.
CHOICES = {"vae.kind": ("convvae", "vaegan"), "controller.mode": ("dream", "real"),
           "controller.inputs": CONTROLLER_INPUTS, "controller.step_size": STEP_SIZES,
           "vae.precision": PRECISIONS, "rnn.precision": PRECISIONS, "controller.arithmetic": ARITHMETICS}


def check_ranges(cfg):
    """ConfigError naming the first key whose value is out of its range (RANGES) or not one of its
    CHOICES."""
    flat = _flatten(cfg)
    for key, allowed in CHOICES.items():
        if key in flat and flat[key] not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {flat[key]!r}")
    for key, (low, inclusive, high) in RANGES.items():
        value = flat.get(key)
        if value is None or isinstance(value, bool):
            continue
        if value < low or (value == low and not inclusive) or (high is not None and value > high):
            want = (f"in [{low}, {high}]" if inclusive else f"in ({low}, {high}]") if high is not None else \
                (f">= {low}" if inclusive else f"> {low}")
            raise ConfigError(f"{key} must be {want}, got {value!r}")
    if flat.get("data.repeat_max", 1) < flat.get("data.repeat_min", 1):
        raise ConfigError(f"data.repeat_max ({flat['data.repeat_max']}) must be >= data.repeat_min "
                          f"({flat['data.repeat_min']})")


def load(names, overrides=()):
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ConfigError("give at least one config name, e.g. doom")
    paths = [_resolve_path(n) for n in names]
    cfg = _read_yaml(paths[0])
    if "experiment" not in cfg or "name" not in cfg:
        raise ConfigError(f"{paths[0]} is an overlay, not a base config: give a game first, "
                          f"e.g. --config {EXPERIMENTS[-1]} {' '.join(names)}")
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
    check_ranges(cfg)
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


def data_dir(cfg, name=None):
    """Generated data (rollouts, encoded series, training checkpoints) of the run cfg.name (or
    `name`): never committed. worldmodels.run.Run names the files in it."""
    return os.path.join(cfg.data_root, name or cfg.name)


def rollouts_dir(cfg, name=None):
    """Stage 01's episodes: data.rollouts_dir if set (several runs can share one set), else
    {data_dir}/rollouts."""
    return cfg.data.rollouts_dir or os.path.join(data_dir(cfg, name), "rollouts")


def run_dir(cfg, name=None):
    """Results of the run cfg.name (or `name`): resolved config, trained weights, controllers,
    figures, metrics. worldmodels.run.Run names the files in it."""
    return os.path.join(cfg.results_root, name or cfg.name)


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def differences(path, cfg):
    """Keys (dotted) whose value in the config saved at `path` differs from `cfg`'s: {key: (old, new)}."""
    old, new = _flatten(_read_yaml(path)), _flatten(cfg.to_dict())
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k) and k != "config_names"}


def save(cfg, run_dir, stage):
    """Write the resolved config beside the outputs (once they are written); note what differs from
    an earlier one."""
    path = os.path.join(run_dir, "config.yaml")
    if os.path.exists(path):
        changed = differences(path, cfg)
        if changed:
            print(f"[{stage}] note: config differs from {path} in: " + ", ".join(
                f"{k} {a!r}->{b!r}" for k, (a, b) in changed.items()))
    fileio.atomic_write(path, lambda f: yaml.safe_dump(cfg.to_dict(), f, sort_keys=False), mode="w")


class _Lines:
    """A file for tqdm where no terminal redraws its bar: each update becomes a line of its own."""

    def __init__(self, f):
        self.f = f

    def write(self, text):
        text = text.replace("\r", "").strip()
        if text:
            self.f.write(text + "\n")

    def flush(self):
        self.f.flush()


def progress(*args, **kwargs):
    """A tqdm progress bar on stdout; in a log file or CI (not a terminal) a line every 10 s instead."""
    from tqdm import tqdm
    out = kwargs.pop("file", sys.stdout)
    tty = out.isatty()
    kwargs.setdefault("mininterval", 0.1 if tty else 10.0)
    if tty:
        return tqdm(*args, file=out, **kwargs)
    kwargs.update(file=_Lines(out), ascii=True, dynamic_ncols=False, ncols=100)
    bar = tqdm(*args, **kwargs)
    set_postfix = bar.set_postfix  # its default redraws at once: a line per call in a log
    bar.set_postfix = lambda *a, **k: set_postfix(*a, **dict(k, refresh=False))
    return bar


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



if __name__ == "__main__":  # `python -m worldmodels.config --config doom cpu [k=v ...]` prints the run's results folder
    print(run_dir(from_args(parser("Print the results folder of a config.").parse_args())))
