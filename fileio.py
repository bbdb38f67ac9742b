"""File I/O every stage shares: the data error, atomic writes, JSON, file hashes, checked .npz reads,
and the "done" marker a stage writes last.

An atomic write goes to a tmp file in the same folder, is fsync'ed and renamed over the target: a
kill or a failed write leaves the previous file as it was (the tmp file is removed). A full disk or
a read-only folder is reported in one line naming the path (WriteError).
"""
import errno
import hashlib
import json
import os
import shutil
import zipfile
import zlib

import numpy as np


class DataError(RuntimeError):
    """Bad or missing input data, or an output that cannot be written; the message names the file."""


class WriteError(DataError):
    """An output that cannot be written (full disk, read-only folder); the previous file is untouched."""


_REASONS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only",
            errno.EACCES: "read-only (permission denied)", errno.EPERM: "read-only (not permitted)",
            errno.ENOTDIR: "a parent is not a folder"}


def write_error(path, e):
    """The WriteError for OSError `e` met while writing `path`."""
    reason = _REASONS.get(getattr(e, "errno", None)) or f"{type(e).__name__}: {e.strerror or e}"
    return WriteError(f"cannot write {path}: {reason}")


def tmp_path(path, suffix=""):
    """The tmp file an atomic write of `path` uses (same folder; `suffix` for writers that need one)."""
    return f"{path}.tmp{os.getpid()}{suffix}"


def remove_stale_tmp(folder):
    """Delete tmp files left in `folder` by an interrupted atomic write (of any process)."""
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if ".tmp" in name and os.path.isfile(os.path.join(folder, name)):
                os.remove(os.path.join(folder, name))


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, write, mode="wb", suffix=""):
    """Write `path` via a tmp file in the same folder + fsync + rename. write(f) gets an open file;
    with mode=None it gets the tmp file's path instead (for writers that open it themselves).
    Raises WriteError naming `path` on a full disk or a read-only folder."""
    folder = os.path.dirname(path) or "."
    tmp = tmp_path(path, suffix)
    try:
        os.makedirs(folder, exist_ok=True)
        if mode is None:
            write(tmp)
            _fsync(tmp)
        else:
            with open(tmp, mode) as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_free(folder, nbytes, path=None):
    """WriteError before writing ~nbytes into `folder` where the disk has less free (some writers,
    e.g. h5py, do not fail cleanly on a full disk)."""
    os.makedirs(folder, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < nbytes:
        raise WriteError(f"cannot write {path or folder}: disk full (needs ~{nbytes / 1e6:.1f} MB, "
                         f"{free / 1e6:.1f} MB free)")


def check_writable(*folders):
    """Before a stage starts work: create each folder if needed and check that a file can be written
    in it; WriteError naming the first that cannot."""
    for folder in folders:
        probe = os.path.join(folder, tmp_path(".write-check"))
        try:
            os.makedirs(folder, exist_ok=True)
            with open(probe, "w") as f:
                f.write("ok")
            os.remove(probe)
        except OSError as e:
            raise write_error(folder, e) from None


def write_json(path, data):
    atomic_write(path, lambda f: json.dump(data, f, indent=1), mode="w")


def read_json(path, required=False, hint=None):
    """The JSON in `path`; None if it is missing (DataError if required; `hint`: the stage that
    writes it). DataError naming the file if it is unreadable or not valid JSON."""
    if not os.path.exists(path):
        if required:
            raise DataError(f"{path}: not found" + (f"; run {hint} first" if hint else ""))
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable or not valid JSON ({e}); delete it and re-run the stage "
                        "that wrote it") from None


def file_sha1(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_npz(path, compressed=True, **arrays):
    """Arrays to an .npz at `path`, atomically (never half-written, no pickles)."""
    save = np.savez_compressed if compressed else np.savez
    atomic_write(path, lambda f: save(f, **arrays))


def load_npz(path, keys=None, what=".npz"):
    """{name: array} from an .npz (only `keys` if given: DataError if one is missing). A missing,
    truncated or corrupt file gives a DataError naming it (`what`: how to call it in the message)."""
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            if keys is not None:
                missing = sorted(set(keys) - set(f.files))
                if missing:
                    raise DataError(f"{path}: missing arrays {missing} (has {sorted(f.files)})")
            return {k: f[k] for k in (f.files if keys is None else keys)}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise corrupt(path, what, e) from None


def corrupt(path, what, e):
    # numpy's message for a non-zip file suggests allow_pickle=True: never repeat that advice
    detail = "not a zip archive" if "allow_pickle" in str(e) else f"{type(e).__name__}: {e}"
    return DataError(f"{path}: unreadable or corrupt {what} ({detail}); delete it and re-run the stage that wrote it")


def npz_headers(path):
    """{name: (shape, dtype)} of an .npz's arrays from their headers alone (cheap: no array data is
    decompressed); DataError naming the file if it is not a readable .npz."""
    try:
        out = {}
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read = {(1, 0): np.lib.format.read_array_header_1_0,
                            (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                    if read is None:
                        raise ValueError(f"{info.filename}: unsupported .npy version {version}")
                    shape, _, dtype = read(f)
                out[info.filename[:-4]] = (shape, dtype)
        return out
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as e:
        raise corrupt(path, ".npz", e) from None


# ----------------------------------------------------------------------------- done markers
def write_done(marker, outputs, **info):
    """Write a stage's "done" marker, last: the sha1 of each output file (by name, beside the marker)
    and `info`. The stage is done only while every output still has that hash (is_done)."""
    folder = os.path.dirname(marker)
    write_json(marker, dict(info, outputs={os.path.relpath(p, folder): file_sha1(p) for p in outputs}))


def is_done(marker):
    """The marker's contents if it exists and every output it lists is there with its recorded
    hash; else None (never written, or an output was rewritten or lost after it)."""
    m = read_json(marker)
    if not isinstance(m, dict) or not isinstance(m.get("outputs"), dict):
        return None
    folder = os.path.dirname(marker)
    for name, sha in m["outputs"].items():
        path = os.path.join(folder, name)
        if not os.path.exists(path) or file_sha1(path) != sha:
            return None
    return m
