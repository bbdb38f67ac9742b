"""fileio: atomic writes that fail cleanly (one line naming the path, the previous file untouched, no
tmp left), corrupt .npz files named without numpy's pickle advice, header checks, done markers."""
import builtins
import errno
import os
import subprocess

import numpy as np
import pytest

from worldmodels.storage import fileio


def test_atomic_write_failure_keeps_the_previous_file(tmp_path):
    path = str(tmp_path / "out.json")
    fileio.write_json(path, {"good": 1})

    def full_disk(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(fileio.WriteError, match=f"^cannot write {path}: disk full$"):
        fileio.atomic_write(path, full_disk)
    assert fileio.read_json(path) == {"good": 1}
    assert os.listdir(tmp_path) == ["out.json"]  # no tmp file left


def test_read_only_folder_is_one_line(tmp_path, monkeypatch):
    real_open = builtins.open

    def read_only(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+"):
            raise OSError(errno.EROFS, "Read-only file system", file)
        return real_open(file, mode, *a, **k)
    monkeypatch.setattr(builtins, "open", read_only)
    with pytest.raises(fileio.WriteError, match=f"^cannot write {tmp_path}: read-only$"):
        fileio.check_writable(str(tmp_path))
    with pytest.raises(fileio.WriteError, match="cannot write .*x.npz: read-only"):
        fileio.save_npz(str(tmp_path / "x.npz"), a=np.zeros(3))
    monkeypatch.undo()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(fileio.WriteError, match="cannot write .*file/sub"):
        fileio.check_writable(str(blocker / "sub"))


def test_check_free(tmp_path):
    fileio.check_free(str(tmp_path), 1)
    with pytest.raises(fileio.WriteError, match="cannot write .*w.h5: disk full"):
        fileio.check_free(str(tmp_path), 1 << 62, str(tmp_path / "w.h5"))


def test_corrupt_npz_is_named_without_pickle_advice(tmp_path):
    path = tmp_path / "random.npz"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(fileio.DataError) as e:
        fileio.load_npz(str(path))
    assert str(path) in str(e.value) and "corrupt" in str(e.value) and "pickle" not in str(e.value)
    with pytest.raises(fileio.DataError, match="random.npz: unreadable or corrupt"):
        fileio.npz_headers(str(path))
    with pytest.raises(fileio.DataError, match="nope.npz: file not found"):
        fileio.load_npz(str(tmp_path / "nope.npz"))


def test_npz_headers_and_missing_keys(tmp_path):
    path = str(tmp_path / "a.npz")
    fileio.save_npz(path, obs=np.zeros((7, 64, 64, 3), np.uint8), done=np.zeros(7, bool))
    shapes = fileio.npz_headers(path)
    assert shapes["obs"] == ((7, 64, 64, 3), np.dtype(np.uint8)) and shapes["done"][0] == (7,)
    with pytest.raises(fileio.DataError, match=r"missing arrays \['mu'\]"):
        fileio.load_npz(path, ["obs", "mu"])
    assert fileio.load_npz(path, ["done"])["done"].shape == (7,)


def test_read_json(tmp_path):
    assert fileio.read_json(str(tmp_path / "none.json")) is None
    with pytest.raises(fileio.DataError, match="none.json: not found; run 05 first"):
        fileio.read_json(str(tmp_path / "none.json"), required=True, hint="05")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(fileio.DataError, match="bad.json: unreadable or not valid JSON"):
        fileio.read_json(str(tmp_path / "bad.json"))


def test_done_marker_follows_its_outputs(tmp_path):
    a, b = tmp_path / "w.h5", tmp_path / "h.json"
    a.write_bytes(b"weights")
    b.write_text("{}")
    marker = str(tmp_path / "x.done.json")
    assert fileio.is_done(marker) is None
    fileio.write_done(marker, [str(a), str(b)], step=3)
    assert fileio.is_done(marker)["step"] == 3
    assert fileio.is_done(marker)["outputs"]["w.h5"] == fileio.file_sha1(str(a))
    a.write_bytes(b"other weights")  # an output rewritten after the marker: not done
    assert fileio.is_done(marker) is None
    a.write_bytes(b"weights")
    b.unlink()
    assert fileio.is_done(marker) is None


def test_real_full_disk(tmp_path):
    """A real full file system (a 1 MB tmpfs; needs root, else skipped): one line, nothing left."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        path = str(mnt / "big.npz")
        fileio.save_npz(path, compressed=False, a=np.zeros(1000))
        before = open(path, "rb").read()
        with pytest.raises(fileio.WriteError, match=f"^cannot write {path}: disk full$"):
            fileio.save_npz(path, compressed=False, a=np.zeros(1 << 20))
        assert open(path, "rb").read() == before and os.listdir(mnt) == ["big.npz"]
    finally:
        subprocess.run(["umount", str(mnt)])


def test_corrupt_controller_params_are_named(tmp_path):
    from worldmodels import es
    path = tmp_path / "best.npz"
    path.write_bytes(np.random.default_rng(1).bytes(500))
    with pytest.raises(ValueError) as e:
        es.load_params(str(path))
    assert str(path) in str(e.value) and "corrupt" in str(e.value) and "pickle" not in str(e.value)
