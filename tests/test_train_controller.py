"""05_train_controller.py end to end at tiny scale, on randomly initialised world models.

V and M are arch.py models with random weights, exported with npmodels.save_world_model into a
temporary results_root (Doom: z=64, 512 units; CarRacing: z=32, 256 units), plus an
initial_z.npz. The stage runs as a user runs it (subprocesses, with and without mpiexec) on the
real games. The full 01-06 pipeline is tests/test_pipeline.py.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
SCRIPT = os.path.join(ROOT, "05_train_controller.py")
SIZES = {"doom": (64, 512, 1088), "carracing": (32, 256, 867)}  # z, hidden, controller params (paper)
DONE_BIAS = -0.12  # a random done head says "dead" half the time; this gives dream episodes of ~1-60 steps


def build_world_model(game, run_dir, seed=0, done_bias=DONE_BIAS):
    """Random V and M (arch.py) -> run_dir/world_model.npz, plus run_dir/initial_z.npz.

    Also used to time a paper-scale generation: with done_bias=-0.18 a Doom dream with a random
    controller lasts ~250 steps on average (median ~170, some to the 2100 cap).
    """
    import keras

    import arch
    from worldmodels import npmodels
    z, hidden, _ = SIZES[game]
    keras.utils.set_random_seed(seed)
    vae = arch.ConvVAE(z)
    rnn = arch.MDNRNN(z, npmodels.ACTION_SIZE[game], hidden, 5, predict_done=game == "doom")
    rnn_w = rnn.numpy_weights()
    if game == "doom":
        rnn_w["head_b"][0] = done_bias
    os.makedirs(run_dir, exist_ok=True)
    npmodels.save_world_model(os.path.join(run_dir, "world_model.npz"), game, z, npmodels.ACTION_SIZE[game], hidden, 5,
                              game == "doom", vae.numpy_weights(), rnn_w)
    rng = np.random.default_rng(seed)
    np.savez(os.path.join(run_dir, "initial_z.npz"), mu=rng.normal(0, 1, (6, z)).astype(np.float32),
             logvar=np.full((6, z), -3.0, np.float32))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """results_root/{doom,carracing}-tiny with world_model.npz and initial_z.npz; a copy is made per use."""
    src = str(tmp_path_factory.mktemp("models"))
    for game in SIZES:
        build_world_model(game, os.path.join(src, f"{game}-tiny"))
    return src


def fresh_root(models, tmp_path, name, files=("world_model.npz", "initial_z.npz"), games=SIZES):
    root = tmp_path / name
    for game in games:
        os.makedirs(root / "results" / f"{game}-tiny", exist_ok=True)
        for f in files:
            shutil.copy(os.path.join(models, f"{game}-tiny", f), root / "results" / f"{game}-tiny" / f)
    return str(root)


def run(game, root, *extra, mpi=0, check=True):
    cmd = [sys.executable, SCRIPT, "--config", game, "tiny", f"data_root={root}/data",
           f"results_root={root}/results", *extra]
    if mpi:
        cmd = [MPIEXEC, "-n", str(mpi)] + cmd
    proc = subprocess.run(cmd, cwd=root, env=dict(os.environ, PYTHONUNBUFFERED="1"), capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd[-6:])} failed ({proc.returncode}):\n{out[-4000:]}")
    return proc.returncode, out


def history(root, game):
    h = json.load(open(f"{root}/results/{game}-tiny/controller/history.json"))
    for rec in h["generations"] + h["evaluations"]:
        rec.pop("seconds")
    h["best_eval"].pop("seconds")
    h["settings"].pop("chunk")
    return h


def test_doom_dream_groups_of_candidates_give_the_same_result_for_any_workers(models, tmp_path):
    """controller.group=2: candidates 0-1 and 2-3 share their matmuls; 1 process (one task) and 2 workers
    (chunk 1, rounded up to tasks of 2) give the same history, and the run records its group."""
    one = fresh_root(models, tmp_path, "g-one", games=["doom"])
    three = fresh_root(models, tmp_path, "g-three", games=["doom"])
    gens = ["controller.generations=2", "controller.group=2"]
    run("doom", one, *gens)
    run("doom", three, *gens, "controller.chunk=1", mpi=3)
    h = history(one, "doom")
    assert h == history(three, "doom") and h["settings"]["group"] == 2 and h["generation"] == 2


def test_doom_in_the_dream_same_result_for_any_workers_and_chunks_then_eval(models, tmp_path):
    one = fresh_root(models, tmp_path, "one", games=["doom"])
    three = fresh_root(models, tmp_path, "three", games=["doom"])
    gens = ["controller.generations=3", "controller.group=1"]  # a matmul per candidate
    _, out = run("doom", one, *gens)  # chunk 0: in 1 process all candidates in one batch
    assert "1,088 controller params" in out and "in the dream (tau=1.15)" in out
    run("doom", three, *gens, "controller.chunk=3", mpi=3)
    h = history(one, "doom")
    assert h == history(three, "doom")  # 1 process, 1 batch == 2 workers, tasks of 3 and 1 candidates
    res = f"{one}/results/doom-tiny"
    assert [g["generation"] for g in h["generations"]] == [1, 2, 3] and h["finished"]
    assert len(h["evaluations"]) == 3 and all(e["episodes"] == 4 for e in h["evaluations"])
    rewards = [g["reward_mean"] for g in h["generations"]]
    assert all(1 <= r <= 60 for r in rewards) and len(set(rewards)) > 1  # dream: +1 per step, capped at 60
    best = np.load(f"{res}/controller/best.npz")
    assert best["params"].shape == (1088,) and int(best["generation"]) == h["best_eval"]["generation"]
    assert os.path.exists(f"{one}/data/doom-tiny/ckpt/controller.pkl") and os.path.exists(f"{res}/controller/config.yaml")
    code, out = run("doom", one, *gens)
    assert code == 0 and "finished already" in out
    three_wm = f"{three}/results/doom-tiny/world_model.npz"  # a re-trained M: C is not trained over
    arrays = dict(np.load(three_wm))
    arrays["rnn/head_b"] = arrays["rnn/head_b"] + np.float32(0.01)
    np.savez(three_wm, **arrays)
    before = open(f"{three}/results/doom-tiny/controller/history.json").read()
    code, out = run("doom", three, *gens, check=False)
    assert code != 0 and "other settings (world_model_sha1" in out and "use --redo" in out
    assert "Traceback" not in out and open(f"{three}/results/doom-tiny/controller/history.json").read() == before
    run("doom", three, *gens, "--redo")
    h3 = history(three, "doom")
    assert h3["identity"]["world_model_sha1"] != h["identity"]["world_model_sha1"] and h3["generation"] == 3

    run("doom", one, "--eval", mpi=2)
    run("doom", one, "--eval", "--random")
    real = json.load(open(f"{res}/controller/eval_real.json"))
    rand = json.load(open(f"{res}/controller/eval_random.json"))
    virtual = json.load(open(f"{res}/controller/eval_dream.json"))
    for r in (real, rand, virtual):
        assert r["episodes"] == len(r["scores"]) == 2 and all(1 <= s <= 60 for s in r["scores"])
        assert r["mean"] == pytest.approx(np.mean(r["scores"])) and r["std"] == pytest.approx(np.std(r["scores"]))
    assert real["policy"] == "controller" and rand["policy"] == "random" and virtual["temperature"] == 1.15
    assert real["seeds"] == rand["seeds"] and min(real["seeds"]) >= 1_000_000_000  # not data-collection seeds
    # a given params file: the same controller, evaluated under its own name, gives the same score
    shutil.copy(f"{res}/controller/best.npz", tmp_path / "shipped.npz")
    run("doom", one, "--eval", "--params", str(tmp_path / "shipped.npz"))
    assert json.load(open(f"{res}/controller/eval_real_shipped.json"))["scores"] == real["scores"]


def test_carracing_in_the_real_game_then_eval(models, tmp_path):
    root = fresh_root(models, tmp_path, "car", files=("world_model.npz",), games=["carracing"])
    small = ["env.max_steps=25", "controller.max_steps=25", "controller.trials=1", "controller.eval_episodes=2"]
    _, out = run("carracing", root, *small, mpi=3)
    assert "867 controller params" in out and "in the real game" in out
    res = f"{root}/results/carracing-tiny"
    h = history(root, "carracing")
    assert len(h["generations"]) == 2 and h["meta"]["mode"] == "real"
    assert all(np.isfinite(g["mean"]) and g["best"] >= g["worst"] for g in h["generations"])
    assert np.load(f"{res}/controller/best.npz")["params"].shape == (867,)
    run("carracing", root, *small, "--eval", mpi=3)
    scores = json.load(open(f"{res}/controller/eval_real.json"))["scores"]
    run("carracing", root, *small, "--eval", "--redo")  # 1 process: the same episodes
    assert json.load(open(f"{res}/controller/eval_real.json"))["scores"] == scores
    run("carracing", root, *small, "--eval", "--random", mpi=3)
    for name in ("eval_real.json", "eval_random.json"):
        r = json.load(open(f"{res}/controller/{name}"))
        assert len(r["scores"]) == 2 and np.isfinite(r["mean"]) and r["max_steps"] == 25
        assert len(set(r["scores"])) == 2  # two different tracks (seeds)
    assert not os.path.exists(f"{res}/controller/eval_dream.json")  # no reward head: no dream score


def test_missing_or_wrong_inputs_are_named(models, tmp_path):
    empty = str(tmp_path / "empty")
    os.makedirs(empty)
    code, out = run("doom", empty, check=False)
    assert code != 0 and "world_model.npz" in out and "04_train_rnn.py" in out
    no_init = fresh_root(models, tmp_path, "noinit", files=("world_model.npz",), games=["doom"])
    code, out = run("doom", no_init, check=False, mpi=2)  # also: an error on rank 0 ends the MPI job
    assert code != 0 and "initial_z.npz" in out and "03_generate_rnn_data.py" in out
    untrained = fresh_root(models, tmp_path, "untrained", games=["doom"])
    code, out = run("doom", untrained, "--eval", check=False)
    assert code != 0 and "best.npz" in out and "05_train_controller.py" in out
    car = fresh_root(models, tmp_path, "car", files=("world_model.npz",), games=["carracing"])
    code, out = run("carracing", car, "controller.mode=dream", check=False)
    assert code == 1 and out.strip().splitlines()[-1] == (
        f"[05_train_controller] {car}/results/carracing-tiny/world_model.npz has no reward head "
        "(rnn.predict_reward=false), so the dream pays no reward; train M with rnn.predict_reward=true "
        "(stage 04), or C with controller.mode=real")
    code, out = run("carracing", car, "vae.z_size=64", check=False)
    assert code != 0 and "z=32" in out and "z=64" in out


def test_doom_ensemble_of_dreams(models, tmp_path):
    """controller.ensemble: trials split over M's dream and other world models' with the same V."""
    root = fresh_root(models, tmp_path, "ens", games=["doom"])
    plain = fresh_root(models, tmp_path, "plain", games=["doom"])
    res = f"{root}/results/doom-tiny"
    arrays = dict(np.load(f"{res}/world_model.npz"))
    kind = dict(arrays)
    kind["rnn/head_b"] = arrays["rnn/head_b"].copy()
    kind["rnn/head_b"][0] -= np.float32(3.0)  # an M that predicts death far less often
    np.savez(tmp_path / "kind.npz", **kind)
    ens = f"controller.ensemble=[{tmp_path / 'kind.npz'}]"
    _, out = run("doom", root, ens, mpi=3)
    assert "split over 2 dreams" in out
    run("doom", plain)
    h, h0 = history(root, "doom"), history(plain, "doom")
    assert h["meta"]["ensemble"] == [str(tmp_path / "kind.npz")] and len(h["identity"]["ensemble_sha1"]) == 1
    assert "ensemble" not in h0["meta"] and "ensemble_sha1" not in h0["identity"]
    # half of each candidate's trials ran in the kinder dream: longer episodes than M's alone
    assert np.mean([g["reward_mean"] for g in h["generations"]]) > np.mean([g["reward_mean"] for g in h0["generations"]])
    # errors: a world model with another V, trials that do not split evenly
    other_v = dict(arrays)
    other_v["vae/enc_conv1_b"] = arrays["vae/enc_conv1_b"] + np.float32(0.1)
    np.savez(tmp_path / "other_v.npz", **other_v)
    code, out = run("doom", root, f"controller.ensemble=[{tmp_path / 'other_v.npz'}]", "--redo", check=False)
    assert code != 0 and "other_v.npz" in out and "V (encoder) differs" in out
    code, out = run("doom", root, ens, "controller.trials=3", "--redo", check=False)
    assert code != 0 and "multiple of 2" in out
    code, out = run("doom", root, f"controller.ensemble=[{tmp_path / 'missing.npz'}]", "--redo", check=False)
    assert code != 0 and "missing.npz" in out and "not found" in out


@pytest.mark.parametrize("game", ["doom", "carracing"])
def test_dream_same_history_in_1_and_3_processes_with_many_trials(tmp_path, game):
    """worldmodels/dream.py's guarantee through the stage: one process (the whole population in one batch) and
    mpiexec -n 3 (tasks of one candidate) give the same history, bit for bit, with 8 trials
    per candidate. The world model is test_dream's chaotic one (z 16, 64 units), in which last-bit
    differences grow into other episode lengths (Doom) or rewards (CarRacing, M with a reward head),
    so that a result depending on the batch shows."""
    from worldmodels import npmodels
    from worldmodels.storage import episodes
    import test_dream
    reward = game == "carracing"
    roots = {n: tmp_path / f"n{n}" for n in (1, 3)}
    for root in roots.values():
        run_dir = root / "results" / f"{game}-tiny"
        os.makedirs(run_dir)
        weights = test_dream.random_weights(game, done_bias=-1.0, gain=4.0, reward=reward)
        npmodels.save_world_model(str(run_dir / "world_model.npz"), *weights, predict_reward=reward)
        mu, logvar = test_dream.initial_z()
        episodes.save(str(run_dir / "initial_z.npz"), mu=mu, logvar=logvar)
    args = [f"vae.z_size={test_dream.Z}", f"rnn.hidden={test_dream.H}", "controller.population=8",
            "controller.trials=8", "controller.max_steps=300", "controller.generations=2", "controller.eval_every=2",
            "controller.eval_episodes=16", "controller.mode=dream", f"rnn.predict_reward={str(reward).lower()}"]
    run(game, str(roots[1]), *args)
    run(game, str(roots[3]), *args, "controller.chunk=1", mpi=3)
    h = history(str(roots[1]), game)
    assert h == history(str(roots[3]), game)
    rewards = [g["reward_mean"] for g in h["generations"]] + [h["evaluations"][0]["mean"]]
    assert len(set(rewards)) == 3 and all(np.isfinite(rewards)), rewards
    if game == "doom":
        assert all(20 < r < 300 for r in rewards), rewards


def test_controller_inputs_z_in_the_real_game(models, tmp_path):
    """controller.inputs=z: C sees z alone (99 params for CarRacing, no M in the real game); the
    saved controller records its mode, and loading it as another mode names the file."""
    root = fresh_root(models, tmp_path, "car", files=("world_model.npz",), games=["carracing"])
    small = ["env.max_steps=20", "controller.max_steps=20", "controller.trials=1", "controller.eval_episodes=1",
             "controller.generations=1", "controller.real_eval_episodes=1"]
    _, out = run("carracing", root, *small, "controller.inputs=z")
    assert "99 controller params (inputs=z)" in out
    res = f"{root}/results/carracing-tiny/controller"
    best = np.load(f"{res}/best.npz")
    assert best["params"].shape == (99,) and str(best["inputs"]) == "z"
    h = history(root, "carracing")
    assert h["meta"]["inputs"] == "z" and h["identity"]["inputs"] == "z"
    run("carracing", root, *small, "controller.inputs=z", "--eval")
    assert len(json.load(open(f"{res}/eval_real.json"))["scores"]) == 1
    code, out = run("carracing", root, *small, "--eval", "--redo", check=False)  # the default inputs: zh
    assert code != 0 and "best.npz: a controller with inputs=z" in out and "controller.inputs=z" in out
    pop = h["settings"]["population"]
    assert 20 <= h["generations"][0]["steps"] <= pop * 20  # real steps: 1 trial per candidate, <= 20 each
    assert 1 <= h["evaluations"][0]["steps"] <= 20
    # a warm start: CMA-ES's mean starts at another run's controller (its mean.npz before any generation)
    warm = ["controller.inputs=z", "controller.dir=warm", f"controller.init_from={res}/best.npz"]
    _, out = run("carracing", root, *small, *warm, "controller.generations=0")
    assert "a warm start" in out
    np.testing.assert_array_equal(np.load(f"{res}/../warm/mean.npz")["params"], best["params"])
    hw = json.load(open(f"{res}/../warm/history.json"))
    assert hw["meta"]["init_from"] == f"{res}/best.npz" and len(hw["identity"]["init_sha1"]) == 40
    # a z controller starts a zh run as the same policy: its weights on z and its bias, zeros on h
    _, out = run("carracing", root, *small, "controller.dir=warm2", f"controller.init_from={res}/best.npz",
                 "controller.generations=0")
    assert "(a z controller: zeros on M's state) (a warm start)" in out
    wide = np.load(f"{res}/../warm2/mean.npz")["params"]
    assert wide.shape == (867,) and str(np.load(f"{res}/../warm2/mean.npz")["inputs"]) == "zh"
    np.testing.assert_array_equal(wide[:96], best["params"][:96])  # W on z: 32 x 3, row-major
    np.testing.assert_array_equal(wide[-3:], best["params"][96:])  # the bias
    assert not wide[96:-3].any()  # W on h: 256 x 3 zeros
    code, out = run("carracing", root, *small, "controller.inputs=z_hidden", "controller.dir=warm3",
                    f"controller.init_from={res}/best.npz", check=False)  # but not a z_hidden run
    assert code != 0 and out.strip().splitlines()[-1] == (
        f"[05_train_controller] controller.init_from: {res}/best.npz: a controller with inputs=z, but this one "
        "has inputs=z_hidden (set controller.inputs=z)")


def test_carracing_real_game_same_history_and_eval_in_1_and_3_processes(models, tmp_path):
    """The real game's determinism through the stage: a candidate's 3 trials play in lock-step with
    one batched agent, so 1 process (all candidates in one task) and mpiexec -n 3 (tasks of one)
    give the same history; --eval (12 episodes: blocks of 10 and 2) the same scores."""
    roots = {n: fresh_root(models, tmp_path, f"n{n}", files=("world_model.npz",), games=["carracing"]) for n in (1, 3)}
    small = ["env.max_steps=30", "controller.max_steps=30", "controller.trials=3", "controller.eval_episodes=3",
             "controller.real_eval_episodes=12"]
    run("carracing", roots[1], *small)
    run("carracing", roots[3], *small, "controller.chunk=1", mpi=3)
    h = history(roots[1], "carracing")
    assert h == history(roots[3], "carracing")
    assert len(h["generations"]) == 2 and len({g["mean"] for g in h["generations"]}) == 2
    run("carracing", roots[1], *small, "--eval")
    run("carracing", roots[3], *small, "--eval", mpi=3)
    scores = [json.load(open(f"{roots[n]}/results/carracing-tiny/controller/eval_real.json"))["scores"] for n in (1, 3)]
    assert scores[0] == scores[1] and len(scores[0]) == 12 and len(set(scores[0])) == 12
