"""01_generate_data.py end to end at tiny scale, in the real games (subprocess, no mocks)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from worldmodels.storage import episodes  # noqa: E402


def generate(tmp_path, game, *extra):
    cmd = [sys.executable, os.path.join(ROOT, "01_generate_data.py"), "--config", game, "tiny",
           f"data_root={tmp_path / 'data'}", f"results_root={tmp_path / 'results'}", *extra]
    # generous: a run on a loaded 2-core machine (training beside the tests) can take a minute
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)


def episode_files(tmp_path, game):
    d = tmp_path / "data" / f"{game}-tiny" / "rollouts"
    return sorted(str(d / f) for f in os.listdir(d))


def mtimes(files):
    return {f: os.stat(f).st_mtime_ns for f in files}


def session_processes(sid, grace=2.0):
    """The processes still alive in session sid (a run started with start_new_session=True: its
    workers and their game engines, whatever process group they are in) after up to `grace` s."""
    deadline = time.time() + grace
    while True:
        ps = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
        left = [line.strip() for line in ps.splitlines()
                if line.split()[1] == str(sid) and not line.split()[2].startswith("Z")]
        if not left or time.time() > deadline:
            return left
        time.sleep(0.1)


def kill_session(sid):
    """SIGKILL every process of session sid (test cleanup)."""
    for line in subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True).stdout.splitlines():
        pid, s = line.split()
        if s == str(sid):
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_doom_rollouts_skip_and_reproduce(tmp_path):
    # cap 200: with seeds 0..3 the random policy dies in some episodes and survives in others
    r = generate(tmp_path, "doom", "env.max_steps=200")
    assert r.returncode == 0, r.stderr
    assert "generated 4 episodes" in r.stdout
    files = episode_files(tmp_path, "doom")
    assert [os.path.basename(f) for f in files] == [episodes.episode_name(s) for s in range(4)]
    assert (tmp_path / "results" / "doom-tiny" / "config.yaml").exists()
    kinds = set()
    for f in files:
        d = episodes.load(f, episodes.ROLLOUT)
        T = len(d["obs"])
        assert d["obs"].dtype == np.uint8 and d["obs"].shape == (T, 64, 64, 3)
        assert d["action"].dtype == np.float32 and d["action"].shape == (T, 1)
        assert np.all(np.abs(d["action"]) <= 1)
        assert d["reward"].dtype == np.float32 and np.all(d["reward"] == 1.0)
        assert d["done"].dtype == bool and not d["done"][:-1].any()
        assert T <= 200 and (d["done"][-1] or T == 200)  # died (done) or cut at the cap (not done)
        assert d["obs"].std() > 5
        kinds.add(bool(d["done"][-1]))
    assert kinds == {True, False}

    # a second run skips everything and rewrites nothing
    before = mtimes(files)
    r = generate(tmp_path, "doom", "env.max_steps=200")
    assert r.returncode == 0, r.stderr
    assert "done" in r.stdout and mtimes(files) == before

    # a missing episode is regenerated, identical to before (seeded); the others are untouched
    old = episodes.load(files[1], episodes.ROLLOUT)
    os.remove(files[1])
    r = generate(tmp_path, "doom", "env.max_steps=200")
    assert r.returncode == 0, r.stderr
    assert "1 episodes to generate" in r.stdout
    new = episodes.load(files[1], episodes.ROLLOUT)
    assert all(np.array_equal(old[k], new[k]) for k in old)
    assert {f: t for f, t in mtimes(files).items() if f != files[1]} == \
        {f: t for f, t in before.items() if f != files[1]}

    # a truncated file is reported by name when read
    with open(files[2], "r+b") as fh:
        fh.truncate(os.path.getsize(files[2]) // 2)
    with pytest.raises(episodes.DataError, match=os.path.basename(files[2])):
        episodes.load(files[2], episodes.ROLLOUT)
    # ... and a re-run replaces it (saying so), as it does an episode with the wrong action width
    old3 = episodes.load(files[3], episodes.ROLLOUT)
    episodes.save(files[3], **dict(old3, action=np.zeros((len(old3["action"]), 3), np.float32)))
    r = generate(tmp_path, "doom", "env.max_steps=200")
    assert r.returncode == 0, r.stderr
    assert "2 episodes to generate" in r.stdout and "replacing a bad episode file" in r.stdout
    assert os.path.basename(files[2]) in r.stdout and "expected (T, 1)" in r.stdout
    new3 = episodes.load(files[3], episodes.ROLLOUT)
    assert all(np.array_equal(old3[k], new3[k]) for k in old3)
    episodes.load(files[2], episodes.ROLLOUT)


def test_carracing_rollouts(tmp_path):
    r = generate(tmp_path, "carracing")
    assert r.returncode == 0, r.stderr
    files = episode_files(tmp_path, "carracing")
    assert len(files) == 4
    for f in files:
        d = episodes.load(f, episodes.ROLLOUT)
        assert d["obs"].shape == (60, 64, 64, 3) and d["obs"].dtype == np.uint8
        assert d["action"].shape == (60, 3) and d["action"].dtype == np.float32
        assert np.all(d["action"][:, 0] >= -1) and np.all(d["action"][:, 1:] >= 0) and np.all(d["action"] <= 1)
        assert not d["done"].any()  # cut at the cap (60 steps), not terminated
        assert np.isfinite(d["reward"]).all() and d["reward"].dtype == np.float32
    a = episodes.load(files[0], episodes.ROLLOUT)["obs"]
    b = episodes.load(files[1], episodes.ROLLOUT)["obs"]
    assert not np.array_equal(a, b)  # different seeds, different tracks


def test_worker_error_names_the_seed(tmp_path):
    r = generate(tmp_path, "doom", "env.resolution=RES_NOT_A_RESOLUTION", "data.episodes=2")
    assert r.returncode != 0
    assert "episode seed" in r.stderr and "RES_NOT_A_RESOLUTION" in r.stderr


# Stage 01 with a `work` whose worker process disappears on the episode of seed 2, once episodes 0
# and 1 are on disk (seed 2 is the third job: its worker has finished one of them).
DIES = f"""
import os, sys, time
sys.path.insert(0, {ROOT!r})
from worldmodels.storage import episodes
import worldmodels.stages.data as stage
real_work = stage.work


def work(job):
    cfg, seed, path, agent = job
    if seed == 2:
        first = [os.path.join(os.path.dirname(path), episodes.episode_name(s)) for s in (0, 1)]
        deadline = time.time() + 120
        while time.time() < deadline and not all(map(os.path.exists, first)):
            time.sleep(0.05)
        os._exit(1)  # gone at once, as in a crash of the game or an out-of-memory kill
    return real_work(job)


stage.work = work  # main() submits the module's `work`; the forked workers inherit this one
stage.main()
"""


def test_worker_death_ends_the_stage(tmp_path):
    """A worker process that dies abruptly must end the stage with a message, not hang it
    (multiprocessing.Pool replaced the worker and waited forever for its episode); the episodes
    written stay, and the same command resumes."""
    script = tmp_path / "dies.py"
    script.write_text(DIES)
    cmd = [sys.executable, str(script), "--config", "doom", "tiny",
           f"data_root={tmp_path / 'data'}", f"results_root={tmp_path / 'results'}"]
    # output to files, not pipes: were the dead worker's Doom engine orphaned, it would keep its
    # copies open and a pipe would never close
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, text=True, start_new_session=True)
        try:
            p.wait(timeout=180)  # generous, as generate()'s
            left = session_processes(p.pid)  # the dead worker's engine included
        finally:
            kill_session(p.pid)
    assert not left, f"processes of the run outlived it: {left}"
    err = (tmp_path / "err").read_text()
    assert p.returncode != 0
    assert "a worker process died (exit code 1) while generating episodes" in err
    assert "episodes on disk are kept, run the same command again to resume" in err
    first = [str(tmp_path / "data" / "doom-tiny" / "rollouts" / episodes.episode_name(s)) for s in (0, 1)]
    for f in first:
        episodes.load(f, episodes.ROLLOUT)
    before = mtimes(first)

    r = generate(tmp_path, "doom")
    assert r.returncode == 0, r.stderr
    assert len(episode_files(tmp_path, "doom")) == 4 and mtimes(first) == before


def test_ctrl_c_stops_cleanly(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, Doom engines included) must end the run quickly
    and leave no process behind (ViZDoom otherwise deadlocks or leaks its engine processes)."""
    cmd = [sys.executable, os.path.join(ROOT, "01_generate_data.py"), "--config", "doom", "small",
           f"data_root={tmp_path / 'data'}", f"results_root={tmp_path / 'results'}"]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True,  # its own group: the signal reaches only this run
                         # as from a terminal: SIGINT at its default, even if an earlier test left
                         # it ignored in this process (an ignored SIGINT is inherited)
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        out_dir = tmp_path / "data" / "doom-small" / "rollouts"
        deadline = time.time() + 120  # generous: a loaded machine starts slowly
        while time.time() < deadline and not (out_dir.exists() and any(out_dir.glob("ep_*.npz"))):
            time.sleep(0.1)
        assert any(out_dir.glob("ep_*.npz")), "no episode written within 120 s"
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
        assert p.returncode != 0 and "interrupted" in err
        left = session_processes(p.pid)
        assert not left, f"processes of the run are still alive: {left}"
    finally:
        kill_session(p.pid)


def test_doom_agent_episodes(tmp_path):
    """data.agent: episodes >= agent_from are played by the shipped V + M + C (with exploration), and the
    recorded actions are the ones it played: replaying the frames through the same policy gives them."""
    from worldmodels import collect
    from worldmodels import config
    from worldmodels import npmodels
    shipped = os.path.join(ROOT, "results", "doom", "tau1.15", "best.npz")
    agent = [f"data.agent={shipped}", "data.agent_from=2", "data.agent_explore=0.05",
             "env.max_steps=150"]
    r = generate(tmp_path, "doom", *agent)
    assert r.returncode == 0, r.stderr
    assert f"episodes 2+ played by {shipped}" in r.stdout
    files = episode_files(tmp_path, "doom")
    assert len(files) == 4

    cfg = config.load(["doom", "tiny"], agent)
    wm_path, params, inputs = collect.agent_files(cfg)
    assert inputs == "zh"  # written before controller.inputs existed: the paper's C
    wm = npmodels.WorldModel.load(wm_path)
    for seed, f in enumerate(files):
        d = episodes.load(f, episodes.ROLLOUT)
        if seed < 2:  # the random policy: each action held for 1..10 steps
            changes = np.flatnonzero(np.diff(d["action"][:, 0])) + 1
            assert np.diff(np.r_[0, changes, len(d["action"])]).max() <= 10
            continue
        replay = collect.AgentPolicy(cfg, np.random.default_rng(seed), wm, params).act
        greedy = collect.AgentPolicy(config.load(["doom", "tiny"], agent + ["data.agent_explore=0"]),
                                   np.random.default_rng(seed), wm, params).act
        played = np.stack([replay(o) for o in d["obs"]])
        assert np.allclose(played, d["action"], atol=1e-6)
        assert not np.allclose(np.stack([greedy(o) for o in d["obs"]]), d["action"], atol=1e-6)  # it explored

    # a controller that is not there: a clear error naming it, before anything is written
    r = generate(tmp_path / "bad", "doom", "data.agent=results/doom/nope/best.npz")
    assert r.returncode != 0 and "results/doom/nope/best.npz" in r.stderr and "not found" in r.stderr
    assert not (tmp_path / "bad" / "data").exists()
