"""What is never lost: stage 05 (and the tools around it) run as a user runs them, on tiny random
world models and the real games, against the ways a finished result could be replaced or a wrong
one reported with exit code 0. Each case ends in one line naming the file or key, a non-zero exit
and the earlier outputs untouched.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from test_train_controller import MPIEXEC, ROOT, SCRIPT, fresh_root, models, run  # noqa: F401 (fixture)

from worldmodels.storage import fileio

GENS = ["controller.generations=2"]


def ctrl(root, *names):
    return os.path.join(root, "results", "doom-tiny", "controller", *names)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def one_line_error(code, out, *words):
    """A non-zero exit whose last line holds every word, and no traceback."""
    last = out.strip().splitlines()[-1]
    assert code != 0 and "Traceback" not in out, out[-3000:]
    for w in words:
        assert w in last, f"{w!r} not in the last line: {last}"


def popen(root, *extra, mpi=0):
    cmd = [sys.executable, SCRIPT, "--config", "doom", "tiny", f"data_root={root}/data",
           f"results_root={root}/results", *extra]
    if mpi:
        cmd = [MPIEXEC, "-n", str(mpi)] + cmd
    return subprocess.Popen(cmd, cwd=root, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for(cond, timeout=120):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.2)


def generations(root):
    try:
        return json.load(open(ctrl(root, "history.json")))["generation"]
    except (OSError, ValueError):
        return 0


def test_a_finished_controller_is_never_replaced_by_a_run_with_other_settings(models, tmp_path):
    root = fresh_root(models, tmp_path, "r", games=["doom"])
    run("doom", root, *GENS)
    os.remove(f"{root}/data/doom-tiny/ckpt/controller.pkl")  # a fresh clone: the committed outputs alone
    kept = {n: read(ctrl(root, n)) for n in ("history.json", "best.npz", "mean.npz", "config.yaml")}
    for extra in (["controller.temperature=1.0"], ["controller.temperature=1.0", "controller.generations=4"],
                  ["controller.inputs=z"]):
        code, out = run("doom", root, *extra, check=False)
        one_line_error(code, out, ctrl(root), "use --redo", "another controller.dir")
        assert "1.15->1.0" in out or "inputs" in out
        assert {n: read(ctrl(root, n)) for n in kept} == kept
    # the way the message names: its own folder
    run("doom", root, *GENS, "controller.temperature=1.0", "controller.dir=tau1.00")
    assert {n: read(ctrl(root, n)) for n in kept} == kept
    # a truncated record with no checkpoint: an error naming it, never a restart over good outputs
    text = kept["history.json"].decode()
    open(ctrl(root, "history.json"), "w").write(text[:len(text) // 2])
    code, out = run("doom", root, "controller.generations=20", check=False)
    one_line_error(code, out, ctrl(root, "history.json"), "damaged")
    assert read(ctrl(root, "best.npz")) == kept["best.npz"]


def test_a_world_model_replaced_during_a_run_stops_it(models, tmp_path):
    root = fresh_root(models, tmp_path, "r", games=["doom"])
    wm = f"{root}/results/doom-tiny/world_model.npz"
    proc = popen(root, "controller.generations=100000", "controller.eval_every=1000", mpi=3)
    try:
        wait_for(lambda: generations(root) >= 2)
        arrays = dict(np.load(wm))
        arrays["rnn/head_b"] = arrays["rnn/head_b"] + np.float32(0.01)
        np.savez(wm + ".new.npz", **arrays)
        os.replace(wm + ".new.npz", wm)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "world_model.npz changed during the run" in out, out[-3000:]
    h = json.load(open(ctrl(root, "history.json")))
    assert h["identity"]["world_model_sha1"] != fileio.file_sha1(wm)  # what it recorded is what it used


def test_one_writer_per_controller_folder_and_a_dead_writers_lock_is_taken_over(models, tmp_path):
    root = fresh_root(models, tmp_path, "r", games=["doom"])
    first = popen(root, "controller.generations=100000", "controller.eval_every=1")
    try:
        wait_for(lambda: generations(root) >= 1)
        code, out = run("doom", root, "controller.temperature=1.0", "controller.generations=3", check=False)
        one_line_error(code, out, ctrl(root), "in use by 05_train_controller", f"pid {first.pid}")
        code, out = run("doom", root, "--eval", check=False)  # an evaluation writes there too
        one_line_error(code, out, "in use by")
        assert first.poll() is None  # the first run goes on
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # dies holding the lock
        first.wait()
    assert os.path.exists(ctrl(root, ".lock"))
    # leftovers of killed writes in its folders: cleared by the next run of the stage
    ckpt_dir = f"{root}/data/doom-tiny/ckpt"
    for stale in (ctrl(root, "history.json.tmp99999"), f"{ckpt_dir}/controller.pkl.tmp99999"):
        open(stale, "wb").write(b"x" * 100)
    other = f"{ckpt_dir}/tau1.00.pkl.tmp99999"  # another controller folder's: not this run's to clear
    open(other, "wb").write(b"x")
    gens = generations(root)
    code, out = run("doom", root, f"controller.generations={gens + 1}", "controller.eval_every=1000")
    assert "taking over the lock of a run that is gone" in out and generations(root) == gens + 1
    assert not os.path.exists(ctrl(root, ".lock"))  # released at the end
    assert not os.path.exists(ctrl(root, "history.json.tmp99999"))
    assert not os.path.exists(f"{ckpt_dir}/controller.pkl.tmp99999") and os.path.exists(other)


def test_a_lock_held_by_a_live_process_is_respected_and_a_stale_one_is_not(tmp_path):
    folder = str(tmp_path / "f")
    with fileio.RunLock(folder, "first"):
        with pytest.raises(fileio.DataError, match=r"in use by first \(pid %d on " % os.getpid()):
            fileio.RunLock(folder, "second").acquire()
    assert not os.path.exists(os.path.join(folder, ".lock"))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        json.dump({"pid": sleeper.pid, "host": os.uname().nodename, "start": fileio._start_time(sleeper.pid),
                   "what": "sleeper", "since": "then"}, open(os.path.join(folder, ".lock"), "w"))
        with pytest.raises(fileio.DataError, match="in use by sleeper"):
            fileio.RunLock(folder, "second").acquire()
    finally:
        sleeper.kill()
        sleeper.wait()
    notes = []
    lock = fileio.RunLock(folder, "third", log=notes.append).acquire()  # its holder is gone now
    assert "taking over" in notes[0] and json.load(open(lock.path))["pid"] == os.getpid()
    lock.release()
    # a pid that is running but is another process than the one that took the lock (a reused pid)
    json.dump({"pid": os.getpid(), "host": os.uname().nodename, "start": -1, "what": "old"},
              open(os.path.join(folder, ".lock"), "w"))
    fileio.RunLock(folder, "fourth", log=notes.append).acquire().release()
    assert len(notes) == 2


@pytest.mark.parametrize("bad", ["truncated", "empty", "random bytes", "two rows"])
def test_a_damaged_controller_file_is_one_line_wherever_it_is_read(models, tmp_path, bad):
    root = fresh_root(models, tmp_path, "r", games=["doom"])
    run("doom", root, *GENS)
    good = read(ctrl(root, "best.npz"))
    path = str(tmp_path / "c.npz")
    if bad == "truncated":
        open(path, "wb").write(good[:len(good) // 2])
    elif bad == "empty":
        open(path, "wb").close()
    elif bad == "random bytes":
        open(path, "wb").write(np.random.default_rng(0).bytes(5000))
    else:
        np.savez(path, params=np.zeros((2, 544)))
    words = "params of shape (2, 544)" if bad == "two rows" else "unreadable or corrupt controller .npz"
    code, out = run("doom", root, f"controller.init_from={path}", "controller.dir=warm", check=False)
    one_line_error(code, out, "controller.init_from", path, words)
    assert "allow_pickle" not in out
    code, out = run("doom", root, "--eval", "--params", path, check=False)
    one_line_error(code, out, path, words)
    open(ctrl(root, "best.npz"), "wb").write(open(path, "rb").read())
    code, out = run("doom", root, "--eval", check=False)
    one_line_error(code, out, ctrl(root, "best.npz"), words)


def test_a_damaged_evaluation_record_is_one_line(models, tmp_path):
    root = fresh_root(models, tmp_path, "r", games=["doom"])
    run("doom", root, *GENS)
    run("doom", root, "--eval")
    text = open(ctrl(root, "eval_real.json")).read()
    open(ctrl(root, "eval_real.json"), "w").write(text[:len(text) // 2])
    code, out = run("doom", root, "--eval", check=False)
    one_line_error(code, out, ctrl(root, "eval_real.json"), "not valid JSON")


def test_a_record_of_another_arithmetic_is_kept_beside_the_new_one(models, tmp_path):
    """A record played in float32 (as every record was before controller.arithmetic) stays: --eval in
    float64 moves it to eval_real-float32.json, and never over a file of that name."""
    root = fresh_root(models, tmp_path, "r", games=["doom"])
    run("doom", root, *GENS)
    run("doom", root, "--eval", "controller.arithmetic=float32")
    old = json.load(open(ctrl(root, "eval_real.json")))
    del old["arithmetic"]  # as records made before the key
    json.dump(old, open(ctrl(root, "eval_real.json"), "w"))
    dream = read(ctrl(root, "eval_dream.json"))
    code, out = run("doom", root, "--eval")
    assert "kept as" in out and json.load(open(ctrl(root, "eval_real-float32.json"))) == old
    assert "dream: done already" in out and read(ctrl(root, "eval_dream.json")) == dream  # not the agent's arithmetic
    new = json.load(open(ctrl(root, "eval_real.json")))
    assert new["arithmetic"] == "float64" and new["seeds"] == old["seeds"]
    code, out = run("doom", root, "--eval")  # the same arithmetic: done already
    assert "done already" in out
    run("doom", root, "--eval", "controller.arithmetic=float32")  # float64's record set aside in turn
    assert json.load(open(ctrl(root, "eval_real-float64.json"))) == new
    code, out = run("doom", root, "--eval", check=False)  # a float32 record, and eval_real-float32.json exists
    one_line_error(code, out, ctrl(root, "eval_real-float32.json"), "exists too")
    assert json.load(open(ctrl(root, "eval_real-float32.json"))) == old


def hydra_files():
    return {n for n in os.listdir("/tmp") if n.startswith("hydra_hwloc_xmlfile_")}


def test_an_aborted_mpi_run_leaves_nothing_in_tmp(models, tmp_path):
    before = hydra_files()
    no_init = fresh_root(models, tmp_path, "noinit", files=("world_model.npz",), games=["doom"])
    code, out = run("doom", no_init, mpi=2, check=False)  # rank 0 fails: the job is aborted
    assert code != 0 and "initial_z.npz" in out and "aborting all 2 MPI processes" in out
    assert hydra_files() <= before


def test_a_killed_iterate_takes_its_running_stage_with_it(tmp_path):
    """tools/iterate.py runs each stage as a child; killed (even with SIGKILL) it leaves none running."""
    pidfile = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", f"""
import sys
sys.path.insert(0, {os.path.join(ROOT, 'tools')!r})
import iterate
iterate.run([sys.executable, "-c", "import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(120)"], "log")
"""])
    wait_for(lambda: pidfile.exists() and pidfile.read_text() != "", timeout=30)
    child = int(pidfile.read_text())
    parent.kill()
    parent.wait()
    wait_for(lambda: fileio._start_time(child) is None or open(f"/proc/{child}/stat").read().split()[2] == "Z",
             timeout=10)


def test_a_full_disk_leaves_no_probe_file_behind(tmp_path, monkeypatch):
    import builtins
    import errno

    real_open = builtins.open

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def write(self, _):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __exit__(self, *a):
            self.f.close()

    monkeypatch.setattr(builtins, "open", lambda p, m="r", *a, **k: Full(real_open(p, m)) if ".write-check" in str(p)
                        else real_open(p, m, *a, **k))
    with pytest.raises(fileio.WriteError, match="disk full"):
        fileio.check_writable(str(tmp_path))
    assert os.listdir(tmp_path) == []
