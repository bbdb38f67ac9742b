"""On-disk episodes: one compressed .npz per episode, written atomically, read with checks.

Every stage reads its inputs through `load` so that a missing, truncated or corrupt
file, or one with the wrong keys, dtypes or shapes, stops the run with an error that
names the file (never a silent skip, never a pickle).
"""
import os
import zipfile
import zlib

import numpy as np

# key -> (dtype kind, trailing shape or None); the first axis is time, equal for all keys.
ROLLOUT = {"obs": ("u", (64, 64, 3)), "action": ("f", None), "reward": ("f", ()), "done": ("b", ())}
SERIES = {"mu": ("f", None), "logvar": ("f", None), "action": ("f", None), "reward": ("f", ()), "done": ("b", ())}


class DataError(RuntimeError):
    """Bad or missing input data; the message names the file and what is wrong."""


def episode_name(seed):
    return f"ep_{seed:08d}.npz"


def save(path, **arrays):
    """Write arrays to `path` as compressed npz via a tmp file + rename (never half-written)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.npz"
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load(path, schema):
    """Read an episode file and check it against `schema` (ROLLOUT or SERIES)."""
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = sorted(set(schema) - set(f.files))
            if missing:
                raise DataError(f"{path}: missing arrays {missing} (has {sorted(f.files)})")
            data = {k: f[k] for k in schema}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise DataError(f"{path}: unreadable or corrupt .npz ({type(e).__name__}: {e}); "
                        "delete it and re-run the stage that wrote it") from None
    length = None
    for key, (kind, trailing) in schema.items():
        arr = data[key]
        if arr.dtype.kind != kind:
            raise DataError(f"{path}: {key} has dtype {arr.dtype}, expected kind {kind!r}")
        if arr.ndim == 0:
            raise DataError(f"{path}: {key} is a scalar, expected a time axis")
        if trailing is not None and arr.shape[1:] != trailing:
            raise DataError(f"{path}: {key} has shape {arr.shape}, expected (T, {', '.join(map(str, trailing))})")
        if length is None:
            length = len(arr)
        elif len(arr) != length:
            raise DataError(f"{path}: {key} has {len(arr)} steps but {next(iter(schema))} has {length}")
        if kind == "f" and not np.all(np.isfinite(arr)):
            raise DataError(f"{path}: {key} contains NaN or inf")
    if not length:
        raise DataError(f"{path}: episode has no steps")
    return data


def num_steps(path):
    """Episode length, reading only the small `done` array (for progress bars)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return len(f["done"])
    except Exception as e:
        raise DataError(f"{path}: unreadable or corrupt .npz ({type(e).__name__}: {e})") from None


def list_episodes(directory, stage_hint):
    """Sorted episode files in `directory`; an error naming the stage to run if there are none."""
    if not os.path.isdir(directory):
        raise DataError(f"{directory}: directory not found; run {stage_hint} first")
    files = sorted(os.path.join(directory, f) for f in os.listdir(directory)
                   if f.startswith("ep_") and f.endswith(".npz") and ".tmp" not in f)
    if not files:
        raise DataError(f"{directory}: no episode files (ep_*.npz); run {stage_hint} first")
    return files
