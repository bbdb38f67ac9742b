"""End to end: stages 01-06 for both games at tiny scale on the real environments.

Each stage runs as a user runs it (a subprocess with --config GAME tiny); outputs land in
a temporary data_root/results_root. Also: re-running a finished stage skips it, and bad
input (a corrupt rollout, a diverging loss) stops with a message naming the file or step
without touching earlier results.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")


def run(stage, game, tmp, *extra, check=True, mpi=0, env=None):
    cmd = [sys.executable, os.path.join(ROOT, stage), "--config", game, "tiny",
           f"data_root={tmp}/data", f"results_root={tmp}/results", *extra]
    if mpi:
        cmd = [MPIEXEC, "-n", str(mpi)] + cmd
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"{stage} failed ({proc.returncode}):\n{out[-4000:]}")
    return proc.returncode, out


@pytest.fixture(scope="module", params=["doom", "carracing"])
def pipeline(request, tmp_path_factory):
    """Run 01-04 once per game; tests below inspect the outputs."""
    game, tmp = request.param, str(tmp_path_factory.mktemp(request.param))
    logs = {s: run(s, game, tmp)[1] for s in
            ("01_generate_data.py", "02_train_vae.py", "03_generate_rnn_data.py", "04_train_rnn.py")}
    return game, tmp, logs


def test_carracing_in_the_dream(tmp_path):
    """CarRacing with M's reward head (rnn.predict_reward=true) and C trained in the dream
    (controller.mode=dream): 01-05 on the real game, then --eval writes the real score and the
    dream score; the dream score is M's predicted rewards (recomputed here from the files); 06."""
    from worldmodels import dream
    from worldmodels import npmodels
    from worldmodels.storage import episodes
    tmp, over = str(tmp_path), ["rnn.predict_reward=true", "controller.mode=dream"]
    logs = {s: run(s, "carracing", tmp, *over)[1] for s in
            ("01_generate_data.py", "02_train_vae.py", "03_generate_rnn_data.py", "04_train_rnn.py")}
    data, res = f"{tmp}/data/carracing-tiny", f"{tmp}/results/carracing-tiny"
    for path in episodes.list_episodes(f"{data}/rollouts", "01"):  # 03 keeps each step's reward
        series = episodes.load(f"{data}/series/{os.path.basename(path)}", episodes.SERIES)
        np.testing.assert_array_equal(series["reward"], episodes.load(path, episodes.ROLLOUT)["reward"])
    assert len(np.unique(series["reward"])) > 1  # the real game's rewards: -0.1 a frame, + a tile
    assert "422,625" in logs["04_train_rnn.py"] and "reward head: True" in logs["04_train_rnn.py"]
    hist = json.load(open(f"{res}/rnn_history.json"))["history"]
    assert all(np.isfinite(h["reward_loss"]) and h["reward_loss"] > 0 for h in hist)
    wm = npmodels.WorldModel.load(f"{res}/world_model.npz")
    assert wm.predict_reward and not wm.predict_done

    _, out = run("05_train_controller.py", "carracing", tmp, *over, mpi=2)
    assert "867 controller params, in the dream (tau=1.0)" in out
    h = json.load(open(f"{res}/controller/history.json"))
    assert h["meta"]["mode"] == "dream" and len(h["generations"]) == 2
    assert all(np.isfinite(g["reward_mean"]) and g["reward_mean"] != 0 for g in h["generations"])
    run("05_train_controller.py", "carracing", tmp, *over, "--eval", mpi=2)
    real = json.load(open(f"{res}/controller/eval_real.json"))
    virtual = json.load(open(f"{res}/controller/eval_dream.json"))
    assert len(real["scores"]) == len(virtual["scores"]) == 2 and virtual["temperature"] == 1.0
    init = np.load(f"{res}/initial_z.npz")
    params = np.load(f"{res}/controller/best.npz")["params"]
    again = dream.dream_rollouts(wm, init["mu"], init["logvar"], np.tile(params, (2, 1)), 1, 1.0, 60,
                                 seed=virtual["seeds"])
    assert virtual["scores"] == again[:, 0].tolist() and real["scores"] != virtual["scores"]
    run("06_plot_results.py", "carracing", tmp, *over)  # 06 reads the dream-trained run as it is
    assert json.load(open(f"{res}/metrics.json"))["dream"]["mean"] == virtual["mean"]


def test_world_model_stages(pipeline):
    from worldmodels import npmodels
    from worldmodels.storage import episodes
    game, tmp, logs = pipeline
    name = f"{game}-tiny"
    data, res = f"{tmp}/data/{name}", f"{tmp}/results/{name}"
    eps = episodes.list_episodes(f"{data}/rollouts", "01")
    assert len(eps) == 4
    ep = episodes.load(eps[0], episodes.ROLLOUT)
    assert ep["obs"].shape[1:] == (64, 64, 3) and ep["obs"].std() > 0  # real frames, not blank
    # parameter counts of the paper's table (appendix A), printed by the stages
    assert ("4,446,915" if game == "doom" else "4,348,547") in logs["02_train_vae.py"]
    assert ("1,678,785" if game == "doom" else "422,368") in logs["04_train_rnn.py"]
    series = episodes.load(f"{data}/series/{os.path.basename(eps[0])}", episodes.SERIES)
    assert series["mu"].shape == (len(ep["obs"]), 64 if game == "doom" else 32)
    np.testing.assert_array_equal(series["action"], ep["action"])
    init = np.load(f"{res}/initial_z.npz")
    assert init["mu"].shape[0] == 4
    wm = npmodels.WorldModel.load(f"{res}/world_model.npz")
    assert wm.experiment == game and wm.predict_done == (game == "doom")
    for fig in ("vae_loss.png", "vae_reconstructions.png", "rnn_loss.png"):
        assert os.path.getsize(f"{res}/figures/{fig}") > 1000
    hist = json.load(open(f"{res}/rnn_history.json"))["history"]
    assert len(hist) >= 2 and all(np.isfinite(h["loss"]) for h in hist)
    with open(f"{res}/config.yaml") as f:
        assert f"name: {name}" in f.read()


def test_rerun_skips_finished_stages(pipeline):
    game, tmp, _ = pipeline
    res = f"{tmp}/results/{game}-tiny"
    before = os.path.getmtime(f"{res}/vae.weights.h5")
    for stage in ("01_generate_data.py", "02_train_vae.py", "03_generate_rnn_data.py", "04_train_rnn.py"):
        code, out = run(stage, game, tmp)
        assert code == 0 and ("done" in out.lower() or "skip" in out.lower()), out[-2000:]
    assert os.path.getmtime(f"{res}/vae.weights.h5") == before


def test_controller_and_plots(pipeline):
    game, tmp, _ = pipeline
    res = f"{tmp}/results/{game}-tiny"
    run("05_train_controller.py", game, tmp, mpi=2)
    run("05_train_controller.py", game, tmp, "--eval", mpi=2)
    run("05_train_controller.py", game, tmp, "--eval", "--random")
    run("06_plot_results.py", game, tmp)
    real = json.load(open(f"{res}/controller/eval_real.json"))
    assert len(real["scores"]) == 2 and np.isfinite(real["mean"])
    for f in ("controller_scores.png", "real_episode.gif", "dream_episode.gif"):
        assert os.path.getsize(f"{res}/figures/{f}") > 1000, f
    table = open(f"{res}/results.md").read()
    assert "Paper" in table and f"{real['mean']:.0f}" in table
    if game == "doom":  # the temperature table: the row of the config's tau holds our scores
        dream = json.load(open(f"{res}/controller/eval_dream.json"))
        row = next(line for line in table.splitlines() if line.startswith("| 1.15 |"))
        assert f"{dream['mean']:.0f} ± {dream['std']:.0f} (n=2)" in row and f"{real['mean']:.0f} ±" in row
        assert "1092 ± 556" in row and os.path.getsize(f"{res}/figures/temperature.png") > 1000


def test_side_runs_and_other_evaluations_write_beside_the_shipped_ones(pipeline):
    """A controller run's config lives in its folder (a side run never rewrites the run's config);
    an evaluation under another seed writes eval_real-seed4242.json beside eval_real.json; the same
    evaluation again is done already (--redo redoes it); an output folder that cannot be written
    stops --eval before it plays."""
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    res = f"{tmp}/results/doom-tiny"
    ctrl = f"{res}/controller"
    assert yaml_of(f"{ctrl}/config.yaml")["controller"]["dir"] == "controller"
    run_config, shipped = (open(f"{res}/{f}").read() for f in ("config.yaml", "controller/eval_real.json"))
    run("05_train_controller.py", game, tmp, "controller.dir=side", "seed=3")
    assert yaml_of(f"{res}/side/config.yaml")["seed"] == 3 and open(f"{res}/config.yaml").read() == run_config
    code, out = run("05_train_controller.py", game, tmp, "--eval", "seed=4242")
    assert os.path.exists(f"{ctrl}/eval_real-seed4242.json") and os.path.exists(f"{ctrl}/eval_dream-seed4242.json")
    other = json.load(open(f"{ctrl}/eval_real-seed4242.json"))
    assert other["seeds"] != json.loads(shipped)["seeds"]
    assert open(f"{ctrl}/eval_real.json").read() == shipped and open(f"{res}/config.yaml").read() == run_config
    assert "done already" in run("05_train_controller.py", game, tmp, "--eval")[1]
    assert "done already" in run("05_train_controller.py", game, tmp, "--eval", "seed=4242")[1]
    code, out = run("05_train_controller.py", game, tmp, "--eval", "--redo", "seed=4242")
    assert "done already" not in out and json.load(open(f"{ctrl}/eval_real-seed4242.json"))["scores"] == other["scores"]
    open(f"{res}/blocked", "w").close()
    code, out = run("05_train_controller.py", game, tmp, "--eval", "controller.dir=blocked/x",
                    "--params", f"{ctrl}/best.npz", check=False)
    assert code == 1 and "real episodes" not in out and out.strip().splitlines()[-1] == \
        f"[05_train_controller] error: cannot write {res}/blocked/x: a parent is not a folder"


def yaml_of(path):
    import yaml
    with open(path) as f:
        return yaml.safe_load(f)


def test_shared_rollouts_dir(pipeline):
    """data.rollouts_dir: another run encodes the first run's episodes, with no copy or link."""
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    shared = [f"data.rollouts_dir={tmp}/data/doom-tiny/rollouts", "name=shared", "vae.epochs=0",
              f"vae.init_from={tmp}/results/doom-tiny/world_model.npz"]
    run("02_train_vae.py", game, tmp, *shared)
    code, out = run("03_generate_rnn_data.py", game, tmp, *shared)
    assert sorted(os.listdir(f"{tmp}/data/shared/series")) == sorted(os.listdir(f"{tmp}/data/doom-tiny/rollouts"))
    assert not os.path.exists(f"{tmp}/data/shared/rollouts")


def test_corrupt_rollout_is_named_and_nothing_is_overwritten(pipeline):
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    import shutil
    bad_root = os.path.join(tmp, "bad")
    shutil.copytree(tmp + "/data", bad_root + "/data")
    shutil.copytree(tmp + "/results", bad_root + "/results")
    res = f"{bad_root}/results/doom-tiny"
    victim = sorted(os.listdir(f"{bad_root}/data/doom-tiny/rollouts"))[1]
    path = f"{bad_root}/data/doom-tiny/rollouts/{victim}"
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[: len(raw) // 3])
    series_before = open(f"{bad_root}/data/doom-tiny/series/{victim}", "rb").read()
    code, out = run("03_generate_rnn_data.py", "doom", bad_root, "--redo", check=False)
    assert code != 0 and victim in out and "corrupt" in out
    assert open(f"{bad_root}/data/doom-tiny/series/{victim}", "rb").read() == series_before
    config_before = open(f"{res}/config.yaml").read()
    code, out = run("02_train_vae.py", "doom", bad_root, "--redo", "vae.learning_rate=0.01", check=False)
    assert code == 1 and victim in out
    assert os.path.exists(f"{res}/vae.weights.h5")
    assert open(f"{res}/config.yaml").read() == config_before  # a failed stage leaves the saved config


def copy_run(tmp, name, parts=("data", "results")):
    import shutil
    root = os.path.join(tmp, name)
    for part in parts:
        shutil.copytree(f"{tmp}/{part}", f"{root}/{part}")
    return root, f"{root}/data/doom-tiny", f"{root}/results/doom-tiny"


def test_wrong_widths_are_named_before_anything_is_written(pipeline):
    """A rollout whose action has another width than the game's, or a series whose logvar is not
    vae.z_size wide, stops 03 / 04 with the file's name; initial_z.npz and the world model stay."""
    from worldmodels.storage import episodes
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    root, data, res = copy_run(tmp, "widths")
    victim = sorted(os.listdir(f"{data}/rollouts"))[2]
    ep = episodes.load(f"{data}/rollouts/{victim}", episodes.ROLLOUT)
    episodes.save(f"{data}/rollouts/{victim}", **dict(ep, action=np.zeros((len(ep["done"]), 3), np.float32)))
    init_before = open(f"{res}/initial_z.npz", "rb").read()
    code, out = run("03_generate_rnn_data.py", "doom", root, "--redo", check=False)
    assert code == 1 and f"{victim}: action has shape" in out and "expected (T, 1)" in out
    assert open(f"{res}/initial_z.npz", "rb").read() == init_before
    s = dict(np.load(f"{data}/series/{victim}"))
    episodes.save(f"{data}/series/{victim}", **dict(s, logvar=s["logvar"][:, :5]))
    wm_before = open(f"{res}/world_model.npz", "rb").read()
    code, out = run("04_train_rnn.py", "doom", root, "--redo", check=False)
    assert code == 1 and f"{victim}: logvar has shape" in out and "Traceback" not in out
    assert open(f"{res}/world_model.npz", "rb").read() == wm_before


def test_initial_z_follows_the_episodes(pipeline):
    """Removing an episode after V and M finished: 02 does not say "done already" over data it was
    not trained on, nor train over the finished V; it stops non-zero naming the change. 03 is not
    done already; it drops the episode's series and rebuilds initial_z.npz from the episodes that
    are left (it records which). Then 04 stops as 02 did, and --redo trains M again."""
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    root, data, res = copy_run(tmp, "removed")
    names = sorted(os.listdir(f"{data}/rollouts"))
    os.remove(f"{data}/rollouts/{names[1]}")
    finished = ("vae.weights.h5", "vae.done.json", "rnn.weights.h5")
    before = {f: open(f"{res}/{f}", "rb").read() for f in finished}
    code, out = run("02_train_vae.py", "doom", root, check=False)
    assert code == 1 and "was trained on other data than is there now" in out and \
        f"episodes {len(names)} -> {len(names) - 1}" in out and "--redo" in out, out[-2000:]
    code, out = run("03_generate_rnn_data.py", "doom", root)
    assert "done already" not in out and "removing 1 series" in out
    init = np.load(f"{res}/initial_z.npz")
    assert init["mu"].shape[0] == 3 and init["episodes"].tolist() == names[:1] + names[2:]
    assert sorted(os.listdir(f"{data}/series")) == names[:1] + names[2:]
    code, out = run("04_train_rnn.py", "doom", root, check=False)
    assert code == 1 and f"{res}/rnn.weights.h5 was trained on other data" in out, out[-2000:]
    assert {f: open(f"{res}/{f}", "rb").read() for f in finished} == before
    run("04_train_rnn.py", "doom", root, "--redo")
    assert "done already" in run("04_train_rnn.py", "doom", root)[1]
    assert "done already" in run("03_generate_rnn_data.py", "doom", root)[1]


def test_vae_resume_after_kill_is_bit_exact(pipeline):
    """Stage 02 killed (SIGKILL) after 10 batches, then run again, ends with the very weights of a
    run that was never interrupted (the checkpoint keeps the sampling noise's state too)."""
    import shutil
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    args = ["vae.epochs=2", "vae.checkpoint_minutes=0"]  # a checkpoint at every pool boundary
    roots = {}
    for kind in ("straight", "killed"):
        roots[kind] = os.path.join(tmp, "vae-" + kind)
        shutil.copytree(f"{tmp}/data/doom-tiny/rollouts", f"{roots[kind]}/data/doom-tiny/rollouts")
    run("02_train_vae.py", "doom", roots["straight"], *args)
    code, out = run("02_train_vae.py", "doom", roots["killed"], *args, check=False,
                    env={"WM_KILL_AFTER_BATCHES": "10"})
    assert code == -9 and not os.path.exists(f"{roots['killed']}/results/doom-tiny/vae.weights.h5")
    code, out = run("02_train_vae.py", "doom", roots["killed"], *args)
    assert "resuming from" in out and "step 7" in out  # from the checkpoint before the kill
    a, b = (open(f"{r}/results/doom-tiny/vae.weights.h5", "rb").read() for r in roots.values())
    assert a == b
    ha, hb = (json.load(open(f"{r}/results/doom-tiny/vae_history.json"))["history"] for r in roots.values())
    assert ha == hb


def test_outputs_that_do_not_match_the_marker_are_written_again(pipeline):
    """A kill between the weights and the marker leaves weights the marker does not know: the
    stage is not done, and the next run writes the outputs again from the checkpoint."""
    from worldmodels.storage import fileio
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    root, data, res = copy_run(tmp, "marker")
    good = open(f"{res}/vae.weights.h5", "rb").read()
    with open(f"{res}/vae.weights.h5", "ab") as f:
        f.write(b"written by a run that was killed before its marker")
    code, out = run("02_train_vae.py", "doom", root)
    assert "done already" not in out and "resuming from" in out
    assert open(f"{res}/vae.weights.h5", "rb").read() == good and fileio.is_done(f"{res}/vae.done.json")
    assert "done already" in run("02_train_vae.py", "doom", root)[1]


def test_full_disk_leaves_the_previous_run(pipeline):
    """Results on a file system with no room for new weights (a tmpfs; needs root, else skipped):
    stage 02 ends in one line naming the file (no crash in h5py), leaves no tmp file, and the
    previous weights, marker and config stand: the next run says done already."""
    import shutil
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    root, data, res = copy_run(tmp, "full", parts=("data",))
    mnt = f"{root}/results"
    os.makedirs(mnt)
    used = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(f"{tmp}/results") for f in fs)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={used + (3 << 20)}", "tmpfs", mnt],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        shutil.copytree(f"{tmp}/results/doom-tiny", res)
        before = {f: open(f"{res}/{f}", "rb").read() for f in ("vae.weights.h5", "vae.done.json", "config.yaml")}
        code, out = run("02_train_vae.py", "doom", root, "--redo", "vae.learning_rate=0.01", check=False)
        assert code == 1 and out.strip().splitlines()[-1].startswith(
            f"[02_train_vae] error: cannot write {res}/vae.weights.h5: disk full"), out[-2000:]
        assert {f: open(f"{res}/{f}", "rb").read() for f in before} == before
        assert not [f for f in os.listdir(res) if ".tmp" in f]
        assert "done already" in run("02_train_vae.py", "doom", root)[1]
    finally:
        subprocess.run(["umount", mnt])


def test_unwritable_results_is_one_line_before_work(pipeline):
    """An output folder that cannot be written (here: under a file) stops a stage up front, in one
    line, and 05 --eval before it plays an episode."""
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    root, data, res = copy_run(tmp, "unwritable", parts=("data",))
    open(f"{root}/blocker", "w").close()
    code, out = run("02_train_vae.py", "doom", root, f"results_root={root}/blocker/results", check=False)
    assert code == 1 and "Traceback" not in out and out.strip().splitlines()[-1] == \
        f"[02_train_vae] error: cannot write {root}/blocker/results/doom-tiny: a parent is not a folder"


def test_diverging_loss_stops_without_writing(pipeline):
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    import shutil
    div = os.path.join(tmp, "diverge")
    shutil.copytree(f"{tmp}/data/doom-tiny/rollouts", f"{div}/data/doom-tiny/rollouts")
    code, out = run("02_train_vae.py", "doom", div, "vae.learning_rate=1e30", "vae.epochs=3", check=False)
    assert code != 0 and "not finite" in out and "epoch" in out
    assert not os.path.exists(f"{div}/results/doom-tiny/vae.weights.h5")


def test_missing_earlier_stage_is_named(tmp_path):
    code, out = run("04_train_rnn.py", "doom", str(tmp_path), check=False)
    assert code != 0 and "vae.weights.h5" in out and "02_train_vae.py" in out


def test_rnn_resumes_after_sigkill(pipeline):
    """Kill stage 04 mid-training (SIGKILL), run it again: it resumes from the checkpoint and the
    loss history runs on without gaps or repeats."""
    import shutil
    import signal
    import time
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    root = os.path.join(tmp, "resume")
    shutil.copytree(f"{tmp}/data/doom-tiny/series", f"{root}/data/doom-tiny/series")
    os.makedirs(f"{root}/results/doom-tiny")
    shutil.copy(f"{tmp}/results/doom-tiny/vae.weights.h5", f"{root}/results/doom-tiny/")
    args = ["rnn.epochs=40", "rnn.checkpoint_minutes=0"]  # a checkpoint after every batch
    cmd = [sys.executable, os.path.join(ROOT, "04_train_rnn.py"), "--config", "doom", "tiny",
           f"data_root={root}/data", f"results_root={root}/results", *args]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    state_path = f"{root}/data/doom-tiny/ckpt/rnn/state.json"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            try:
                if json.load(open(state_path))["epoch"] >= 3:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        assert proc.poll() is None, "stage 04 ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = json.load(open(state_path))["step"] if os.path.exists(state_path) else \
        json.load(open(state_path.replace("rnn/", "rnn.old/")))["step"]
    assert 0 < killed_at
    assert not os.path.exists(f"{root}/results/doom-tiny/rnn.weights.h5")
    code, out = run("04_train_rnn.py", "doom", root, *args)
    assert "resuming from" in out
    hist = json.load(open(f"{root}/results/doom-tiny/rnn_history.json"))["history"]
    steps = [h["step"] for h in hist]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > killed_at
    assert [h["epoch"] for h in hist][-1] == 39
    # Raising rnn.epochs trains on from the finished run's checkpoint instead of starting over.
    more = ["rnn.epochs=42", "rnn.checkpoint_minutes=0"]
    code, out = run("04_train_rnn.py", "doom", root, *more)
    assert "going on to rnn.epochs=42" in out
    hist2 = json.load(open(f"{root}/results/doom-tiny/rnn_history.json"))["history"]
    assert hist2[:len(hist)] == hist and [h["epoch"] for h in hist2][-1] == 41
    assert [h["step"] for h in hist2] == list(range(1, len(hist2) + 1))
    assert "done already" in run("04_train_rnn.py", "doom", root, *more)[1]


def test_warm_start_from_a_world_model(pipeline):
    """vae.init_from / rnn.init_from: a run with no Keras weights or checkpoints starts V and M from a
    world_model.npz (the way to train on from a committed agent on a fresh machine); vae.epochs=0
    writes V exactly as the world model has it, so stage 03 encodes as the shipped agent does."""
    import shutil
    from worldmodels import npmodels
    game, tmp, _ = pipeline
    if game != "doom":
        pytest.skip("one game is enough")
    root = os.path.join(tmp, "warm")
    shutil.copytree(f"{tmp}/data/doom-tiny/rollouts", f"{root}/data/doom-tiny/rollouts")
    shutil.copy(f"{tmp}/results/doom-tiny/world_model.npz", f"{root}/given.npz")
    init = [f"vae.init_from={root}/given.npz", f"rnn.init_from={root}/given.npz"]
    run("02_train_vae.py", game, root, "vae.epochs=0", *init)
    run("03_generate_rnn_data.py", game, root, "vae.epochs=0", *init)
    for ep in os.listdir(f"{tmp}/data/doom-tiny/series"):  # same V -> the same codes as the source run
        a, b = (np.load(f"{d}/data/doom-tiny/series/{ep}") for d in (tmp, root))
        np.testing.assert_allclose(a["mu"], b["mu"], atol=1e-4)
    code, out = run("04_train_rnn.py", game, root, "vae.epochs=0", "rnn.epochs=1", *init)
    assert "rnn starts from" in out
    first = json.load(open(f"{root}/results/doom-tiny/rnn_history.json"))["history"][0]
    scratch = json.load(open(f"{tmp}/results/doom-tiny/rnn_history.json"))["history"]
    assert first["loss"] < scratch[0]["loss"] - 0.1  # it starts where the given M left off, not from scratch
    given, new = npmodels.read_world_model(f"{root}/given.npz"), npmodels.read_world_model(
        f"{root}/results/doom-tiny/world_model.npz")
    for k in given[1]:
        if k.startswith("enc_"):
            np.testing.assert_array_equal(given[1][k], new[1][k])
    code, out = run("04_train_rnn.py", game, root, "--redo", "rnn.init_from=missing.npz", check=False)
    assert code != 0 and "missing.npz" in out
    assert os.path.exists(f"{root}/results/doom-tiny/world_model.npz")
