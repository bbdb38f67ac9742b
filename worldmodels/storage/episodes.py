"""On-disk episodes: one compressed .npz per episode, written atomically, read with checks.

Every stage reads its inputs through `load` so that a missing, truncated or corrupt
file, or one with the wrong keys, dtypes or shapes, stops the run with an error that
names the file (never a silent skip, never a pickle).
"""
import os

import numpy as np

from worldmodels.storage.fileio import DataError, load_npz, npz_headers, save_npz

# key -> (dtype kind, trailing shape or None); the first axis is time, equal for all keys.
ROLLOUT = {"obs": ("u", (64, 64, 3)), "action": ("f", None), "reward": ("f", ()), "done": ("b", ())}
SERIES = {"mu": ("f", None), "logvar": ("f", None), "action": ("f", None), "reward": ("f", ()), "done": ("b", ())}


def episode_name(seed):
    return f"ep_{seed:08d}.npz"


def save(path, **arrays):
    """Write arrays to `path` as compressed npz, atomically (never half-written)."""
    save_npz(path, **arrays)


def _check_shapes(path, schema, shapes, widths):
    """Check {key: (shape, dtype)} against `schema` and `widths` ({key: size of axis 1}); the length."""
    length = None
    for key, (kind, trailing) in schema.items():
        shape, dtype = shapes[key]
        if dtype.kind != kind:
            raise DataError(f"{path}: {key} has dtype {dtype}, expected kind {kind!r}")
        if len(shape) == 0:
            raise DataError(f"{path}: {key} is a scalar, expected a time axis")
        if trailing is not None and tuple(shape[1:]) != trailing:
            raise DataError(f"{path}: {key} has shape {shape}, expected (T, {', '.join(map(str, trailing))})")
        width = (widths or {}).get(key)
        if width is not None and tuple(shape[1:]) != (width,):
            raise DataError(f"{path}: {key} has shape {shape}, expected (T, {width}) for this config; "
                            "delete it and re-run the stage that wrote it")
        if length is None:
            length = shape[0]
        elif shape[0] != length:
            raise DataError(f"{path}: {key} has {shape[0]} steps but {next(iter(schema))} has {length}")
    if not length:
        raise DataError(f"{path}: episode has no steps")
    return length


def load(path, schema, widths=None):
    """Read an episode file and check it against `schema` (ROLLOUT or SERIES) and `widths`
    (e.g. worldmodels.run.Run(cfg).widths: the action and z sizes the config expects)."""
    data = load_npz(path, list(schema))
    _check_shapes(path, schema, {k: (v.shape, v.dtype) for k, v in data.items()}, widths)
    for key, (kind, _) in schema.items():
        if kind == "f" and not np.all(np.isfinite(data[key])):
            raise DataError(f"{path}: {key} contains NaN or inf")
    return data


def check_header(path, schema, widths=None):
    """Cheap check of an episode file (zip directory and array headers, no data): its length."""
    shapes = npz_headers(path)
    missing = sorted(set(schema) - set(shapes))
    if missing:
        raise DataError(f"{path}: missing arrays {missing} (has {sorted(shapes)})")
    return _check_shapes(path, schema, shapes, widths)


def num_steps(path):
    """Episode length from the file's headers (for progress bars)."""
    return check_header(path, {"done": ROLLOUT["done"]})


def list_episodes(directory, stage_hint):
    """Sorted episode files in `directory`; an error naming the stage to run if there are none."""
    if not os.path.isdir(directory):
        raise DataError(f"{directory}: directory not found; run {stage_hint} first")
    files = sorted(os.path.join(directory, f) for f in os.listdir(directory)
                   if f.startswith("ep_") and f.endswith(".npz") and ".tmp" not in f)
    if not files:
        raise DataError(f"{directory}: no episode files (ep_*.npz); run {stage_hint} first")
    return files
