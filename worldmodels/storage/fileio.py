"""File I/O every stage shares: the data error, atomic writes, JSON, file hashes, checked .npz reads,
and the "done" marker a stage writes last.

An atomic write goes to a tmp file in the same folder, is fsync'ed and renamed over the target: a
kill or a failed write leaves the previous file as it was (the tmp file is removed). A full disk or
a read-only folder is reported in one line naming the path (WriteError).
"""
import atexit
import errno
import hashlib
import json
import os
import shutil
import socket
import time
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


def remove_stale_tmp(folder, prefix=""):
    """Delete tmp files left in `folder` by an interrupted atomic write (of any process); only those
    of files named `prefix`... where other writers share the folder. Call it while holding the
    folder's RunLock, so that no live writer's tmp file is taken."""
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith(prefix) and ".tmp" in name and os.path.isfile(os.path.join(folder, name)):
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
        except OSError as e:
            raise write_error(folder, e) from None
        finally:
            if os.path.exists(probe):  # a full disk fails the write after the file was made
                os.remove(probe)


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


# ----------------------------------------------------------------------------- one writer per folder
LOCK_NAME = ".lock"


def _start_time(pid):
    """When process `pid` started (clock ticks since boot, from /proc), or None if it is not running."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


class RunLock:
    """One writer per output folder: `with RunLock(folder, what):` creates folder/.lock holding this
    process's pid, host and start time, or raises DataError naming the writer that holds it. A lock
    whose process is gone (same host: the pid is not running, or is another process since) is stale
    and taken over with a note; a lock from another host is never judged, it names that host.
    Released on exit from the block, and at interpreter exit if the block is never left."""

    def __init__(self, folder, what, log=print):
        self.path = os.path.join(folder, LOCK_NAME)
        self.folder, self.what, self.log, self.held = folder, what, log, False

    def _holder(self):
        try:
            with open(self.path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # half-written or damaged: judged stale below once it is old enough

    def _stale(self, holder):
        if not holder:
            try:
                return time.time() - os.path.getmtime(self.path) > 10
            except OSError:
                return True
        if holder.get("host") != socket.gethostname():
            return False
        started = _start_time(int(holder.get("pid", -1)))
        return started is None or started != holder.get("start")

    def acquire(self):
        os.makedirs(self.folder, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "start": _start_time(os.getpid()),
              "what": self.what, "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:
                    continue  # released meanwhile
                if not self._stale(holder):
                    raise DataError(
                        f"{self.folder}: in use by {holder.get('what', 'another run')} (pid {holder.get('pid')} "
                        f"on {holder.get('host')} since {holder.get('since')}); wait for it to finish, or delete "
                        f"{self.path} if that process is gone")
                self.log(f"note: {self.path}: taking over the lock of a run that is gone (pid {holder.get('pid')})")
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            except OSError as e:
                raise write_error(self.path, e) from None
            try:
                os.write(fd, json.dumps(me).encode())
            finally:
                os.close(fd)
            self.held = True
            atexit.register(self.release)
            return self
        raise DataError(f"{self.path}: could not take the lock (another run keeps taking it)")

    def release(self):
        if self.held:
            self.held = False
            holder = self._holder()
            if holder and holder.get("pid") == os.getpid():
                os.remove(self.path)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
