"""The shipped Doom recipe (`make doom`: five config overlays, each starting from the last, then
CMA-ES, evaluation and plots) run end to end at tiny scale on the real game.

The test shrinks the data, batch and population sizes with an overlay made from config/tiny.yaml
(without its run name and epoch counts, so each phase keeps its own run and V/M epochs), and sends
every output to a temporary results_root / data_root.
"""
import json
import os
import subprocess

import numpy as np
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shrink_overlay(path):
    tiny = yaml.safe_load(open(os.path.join(ROOT, "config", "tiny.yaml")))
    del tiny["name"], tiny["vae"]["epochs"], tiny["rnn"]["epochs"]
    with open(path, "w") as f:
        yaml.safe_dump(tiny, f)
    return path


def test_make_doom_runs_the_recipe_chain(tmp_path):
    from worldmodels import npmodels
    overlay = shrink_overlay(str(tmp_path / "shrink.yaml"))
    res, data = tmp_path / "results", tmp_path / "data"
    extra = f"{overlay} results_root={res} data_root={data}"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    proc = subprocess.run(["make", "-s", "doom", "NP=1", "TAUS=1.15", f"EXTRA={extra}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    # the three runs of the chain, the later ones sharing doom-10k's rollouts (no copies, no links)
    for run in ("doom-10k", "doom-m500", "doom"):
        assert (res / run / "world_model.npz").exists(), run
    assert len(os.listdir(data / "doom-10k" / "rollouts")) == 4
    assert not (data / "doom-m500" / "rollouts").exists() and not (data / "doom" / "rollouts").exists()
    # phases 4 and 5 keep doom-10k's V exactly (vae.epochs: 0) and warm-start M from the previous run
    wm = {run: npmodels.WorldModel.load(str(res / run / "world_model.npz")) for run in ("doom-10k", "doom-m500", "doom")}
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    mu = {run: wm[run].encode(frames)[0] for run in wm}
    np.testing.assert_array_equal(mu["doom-m500"], mu["doom-10k"])
    np.testing.assert_array_equal(mu["doom"], mu["doom-10k"])
    # M was warm-started along the chain: phase 5's first loss is below the first loss of the fresh M
    # of phase 1
    first = {run: json.load(open(res / run / "rnn_history.json"))["history"][0]["loss"] for run in ("doom-10k", "doom")}
    assert first["doom"] < first["doom-10k"], first
    # the controller row, its own resolved config, the real-game score and stage 06's table
    row = res / "doom" / "tau1.15"
    assert json.load(open(row / "eval_real.json"))["episodes"] == 2
    assert (row / "config.yaml").exists()
    assert "Ours" in (res / "doom" / "results.md").read_text()
    assert (res / "doom" / "figures" / "temperature.png").exists()
    # a second run finds everything done and trains nothing
    again = subprocess.run(["make", "-s", "doom", "NP=1", "TAUS=1.15", f"EXTRA={extra}"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "V and M are not trained again" in again.stdout, again.stdout[-2000:]


def test_make_carracing_runs_each_row_of_the_table(tmp_path):
    """`make carracing` at tiny scale: one V and M, then a controller per row (two of the three
    here), each scored on the stock game, the random policy, and 06's table of the rows."""
    res, data = tmp_path / "results", tmp_path / "data"
    extra = f"tiny results_root={res} data_root={data}"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    cmd = ["make", "-s", "carracing", "NP=1", "ROWS=zh z", f"EXTRA={extra}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    run = res / "carracing-tiny"
    for row, meta_inputs in (("zh", None), ("z", "z")):
        h = json.load(open(run / row / "history.json"))
        assert h["meta"].get("inputs") == meta_inputs and len(h["generations"]) == 2
        scored = json.load(open(run / row / "eval_real.json"))
        assert scored["episodes"] == 2 and scored["env"] == "gymnasium CarRacing-v3"
    table = (run / "results.md").read_text()
    assert "| Full world model (V + M + C) | `zh` | 906 ± 21 |" in table and "2 (zh) |" in table
    assert "| V model only | `z` | 632 ± 251 |" in table and "2 (z) |" in table
    assert "| V model with hidden layer | `z_hidden` | 788 ± 141 | — | not run |" in table
    assert (run / "figures" / "controller_rows.png").exists()
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "V and M are not trained again" in again.stdout, again.stdout[-2000:]
    assert "done already" in again.stdout


def test_iterative_training_adds_agent_rollouts_and_resumes(tmp_path):
    """tools/iterate.py at tiny scale on the real Doom: a base run (round 0), then one round whose
    rollouts are played by round 0's agent, whose V is round 0's exactly and whose M continues
    round 0's, and whose CMA-ES starts at round 0's C (--c-from-last);
    its score is logged; the same command again trains nothing, and one more round encodes only its
    new rollouts."""
    from worldmodels import npmodels
    res, data = tmp_path / "results", tmp_path / "data"
    c = ["--config", "doom", "tiny", f"results_root={res}", f"data_root={data}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    py = os.path.join(ROOT, ".venv", "bin", "python")
    for stage in ("01_generate_data.py", "02_train_vae.py", "03_generate_rnn_data.py", "04_train_rnn.py",
                  "05_train_controller.py"):
        proc = subprocess.run([py, stage, *c], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    cmd = [py, "tools/iterate.py", *c, "--rounds", "1", "--episodes", "2", "--rnn-epochs", "1", "--np", "1",
           "--c-from-last"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    base, round1 = res / "doom-tiny", res / "doom-tiny-round1"
    assert sorted(os.listdir(data / "doom-tiny" / "rollouts")) == [f"ep_{i:08d}.npz" for i in range(6)]
    saved = yaml.safe_load(open(round1 / "config.yaml"))
    assert saved["data"]["agent"] == str(base / "controller" / "best.npz") and saved["data"]["agent_from"] == 4
    history = json.load(open(round1 / "controller" / "history.json"))
    assert history["meta"]["init_from"] == str(base / "controller" / "best.npz")
    assert saved["controller"]["init_from"] == history["meta"]["init_from"]  # where x0 is read: test_es
    wm0, wm1 = (npmodels.WorldModel.load(str(r / "world_model.npz")) for r in (base, round1))
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(wm0.encode(frames)[0], wm1.encode(frames)[0])  # V kept
    assert not np.array_equal(wm0._lstm_w, wm1._lstm_w)  # M trained on
    summary = json.load(open(res / "doom-tiny-rounds.json"))
    rounds = summary["rounds"]
    assert summary["c_from_last"] is True
    assert [r["run"] for r in rounds] == ["doom-tiny", "doom-tiny-round1"] and rounds[1]["episodes_so_far"] == 6
    assert rounds[1]["real"]["episodes"] == 2 and rounds[1]["dream"]["episodes"] == 2
    assert "| 1 | doom-tiny-round1 | 6 |" in proc.stdout
    assert "linked 4 series of doom-tiny into doom-tiny-round1's" in proc.stdout
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "round 1/1: doom-tiny-round1 done already" in again.stdout, again.stdout[-3000:]
    assert again.stdout.count("[iterate] $ ") == 1 and rounds[0]["real"]["episodes"] == 2  # round 0's --eval only
    assert json.load(open(res / "doom-tiny-rounds.json"))["rounds"] == rounds
    # one more round: round 1 is kept, round 2 encodes only its new rollouts (round 1's V and the same
    # encoder weights: round 0's V was trained here, so round 1 had to encode them all)
    more = subprocess.run([*cmd[:cmd.index("--rounds") + 1], "2", *cmd[cmd.index("--rounds") + 2:]], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert more.returncode == 0, more.stdout[-3000:] + more.stderr[-3000:]
    assert "round 1/2: doom-tiny-round1 done already" in more.stdout
    assert "encoding 2 of 8 episodes (6 already done)" in more.stdout, more.stdout[-3000:]
    linked = data / "doom-tiny-round2" / "series" / "ep_00000000.npz"
    assert os.path.samefile(linked, data / "doom-tiny-round1" / "series" / "ep_00000000.npz")
    assert (res / "doom-tiny-rounds.png").stat().st_size > 10_000  # the score per round, drawn
    assert [r["run"] for r in json.load(open(res / "doom-tiny-rounds.json"))["rounds"]][1:] == \
        ["doom-tiny-round1", "doom-tiny-round2"]
