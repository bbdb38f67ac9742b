"""The real-game agent's float64 arithmetic (controller.arithmetic, npmodels.Agents): the same episodes
whatever arithmetic path the CPU takes. Stage 05 --eval re-plays the first episodes of the shipped
CarRacing zh row and Doom agent under other BLAS kernels (OPENBLAS_CORETYPE), with numpy's SIMD
paths off (NPY_DISABLE_CPU_FEATURES) and with two BLAS threads, and each must score, episode for
episode, what the shipped record (played on another machine) says.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from worldmodels import npmodels

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from arithmetic_paths import arithmetic_paths, environment  # noqa: E402  (one definition of the paths)


def copy_run(root, run, controller, extra=()):
    """The shipped run's world model, config and controller folder (without its records)."""
    os.makedirs(os.path.join(root, run, controller))
    for name in ("world_model.npz", "config.yaml", *extra):
        shutil.copy(os.path.join(RESULTS, run, name), os.path.join(root, run, name))
    for name in ("best.npz", "config.yaml"):
        src = os.path.join(RESULTS, run, controller, name)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(root, run, controller, name))


def replay(root, configs, controller, episodes, env):
    out = os.path.join(root, "data")
    cmd = [sys.executable, os.path.join(ROOT, "05_train_controller.py"), "--config", *configs,
           f"results_root={root}", f"data_root={out}", f"controller.dir={controller}",
           f"controller.real_eval_episodes={episodes}", "--eval", "--redo"]
    proc = subprocess.run(cmd, cwd=ROOT, env=environment(env), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run = configs[0]
    with open(os.path.join(root, run, controller, f"eval_real-real_eval_episodes{episodes}.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("game, controller, episodes", [("carracing", "zh", 2), ("doom", "tau1.15", 6)])
def test_episodes_do_not_depend_on_the_arithmetic_path(tmp_path, game, controller, episodes):
    record_path = os.path.join(RESULTS, game, controller, "eval_real.json")
    with open(record_path) as f:
        record = json.load(f)
    assert record.get("arithmetic") == "float64", f"{record_path} was not played in float64"
    copy_run(str(tmp_path), game, controller, extra=("initial_z.npz",) if game == "doom" else ())
    scores = {}
    for name, env in arithmetic_paths().items():
        result = replay(str(tmp_path), [game, "cpu"], controller, episodes, env)
        assert result["arithmetic"] == "float64" and result["seeds"] == record["seeds"][:episodes]
        scores[name] = result["scores"]
    expected = record["scores"][:episodes]
    differing = {name: s for name, s in scores.items() if s != expected}
    assert not differing, f"the record's first {episodes} episodes {expected}; other scores under {differing}"


def test_float64_agents_round_what_leaves_a_step():
    """z, the action and M's state leave each step as float32, computed in float64: they match the
    float32 agent's to float32 tolerance, and a row's values do not depend on the rows beside it."""
    wm = npmodels.WorldModel.load(os.path.join(RESULTS, "carracing", "world_model.npz"))
    params = np.load(os.path.join(RESULTS, "carracing", "zh", "best.npz"))["params"]
    frames = np.random.default_rng(0).integers(0, 256, (5, 3, 64, 64, 3), dtype=np.uint8)  # (steps, rows, ...)
    run = {}
    for arithmetic, rows in (("float64", 3), ("float32", 3), ("float64", 1)):
        agents = npmodels.Agents(wm, params, [np.random.default_rng([r, 0]) for r in range(rows)], "zh", arithmetic)
        actions = [agents.act(step[:rows]) for step in frames]
        assert all(a.dtype == np.float32 for a in actions) and agents.h.dtype == np.float32
        run[arithmetic, rows] = (np.stack(actions), agents.h.copy(), agents.c.copy())
    for a64, a32 in zip(run["float64", 3], run["float32", 3]):
        np.testing.assert_allclose(a64, a32, rtol=1e-4, atol=1e-5)
    for a3, a1 in zip(run["float64", 3], run["float64", 1]):  # row 0 alone or beside two others
        np.testing.assert_array_equal(a3[..., :1, :] if a3.ndim == 3 else a3[:1], a1)


def test_a_real_game_run_resumed_in_another_arithmetic_path_continues_the_same_history(tmp_path):
    """CMA-ES in the real game from the shipped CarRacing zh controller (4 x 1 trials of 300 steps):
    3 generations on the default path vs 2 generations with other BLAS kernels and numpy's SIMD paths
    off, resumed for the third on the default one: the same history (CMA-ES's own float64 sums may
    differ in the last bits, but the candidates are rounded to float32 before they play)."""
    from test_train_controller import SCRIPT
    small = ["env.max_steps=300", "controller.max_steps=300", "controller.population=4", "controller.trials=1",
             "controller.eval_episodes=1", "controller.eval_every=1", "controller.dir=resumed",
             f"controller.init_from={os.path.join(RESULTS, 'carracing', 'zh', 'best.npz')}"]
    paths = arithmetic_paths()
    other = dict(paths["OpenBLAS Prescott (SSE3)"], **list(paths.values())[-1])

    def run(root, gens, env):
        cmd = [sys.executable, SCRIPT, "--config", "carracing", "cpu", f"data_root={root}/data",
               f"results_root={root}", f"controller.generations={gens}", *small]
        proc = subprocess.run(cmd, cwd=ROOT, env=environment(env), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        with open(os.path.join(root, "carracing", "resumed", "history.json")) as f:
            h = json.load(f)
        for rec in h["generations"] + h["evaluations"]:
            rec.pop("seconds")
        h["best_eval"].pop("seconds")
        return h, np.load(os.path.join(root, "carracing", "resumed", "mean.npz"))["params"]

    one, two = str(tmp_path / "straight"), str(tmp_path / "moved")
    for root in (one, two):
        copy_run(root, "carracing", "zh")
    h, mean_one = run(one, 3, {})
    run(two, 2, other)
    g, mean_two = run(two, 3, {})
    assert h["generation"] == 3 and h["meta"]["arithmetic"] == "float64"
    for rec, rec2 in zip(h["generations"], g["generations"]):  # CMA-ES's step size: its own float64 sums
        assert rec.pop("sigma") == pytest.approx(rec2.pop("sigma"), rel=1e-12)
    assert h == g  # every fitness and check
    np.testing.assert_array_equal(mean_one.astype(np.float32), mean_two.astype(np.float32))  # the same C plays
