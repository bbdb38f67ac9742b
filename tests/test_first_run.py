"""tools/first_run.py: the table that ends `make all`, read from evaluation records as stage 05 writes
them (here written by hand, in a temporary results root)."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def record(path, scores, seeds, sha="abc", **extra):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    n = len(scores)
    mean = sum(scores) / n
    std = (sum((s - mean) ** 2 for s in scores) / n) ** 0.5
    json.dump(dict({"scores": scores, "seeds": seeds, "params_sha1": sha, "episodes": n, "mean": mean, "std": std},
                   **extra), open(path, "w"))


def table(root):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "first_run.py"), "--results", str(root)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {line.split("|")[1].strip(): line for line in proc.stdout.splitlines()[2:]}


def test_the_first_run_table_compares_replays_with_the_shipped_records(tmp_path):
    record(tmp_path / "doom-small/controller/eval_real.json", [300.0, 500.0], [1, 2])
    record(tmp_path / "doom-small/controller/eval_random.json", [200.0, 200.0], [1, 2])
    record(tmp_path / "doom/tau1.15/eval_real.json", [800.0, 900.0, 1000.0], [5, 6, 7])
    record(tmp_path / "doom/tau1.15/eval_real-check.json", [800.0, 900.0, 1000.0], [5, 6, 7])
    record(tmp_path / "carracing/zh/eval_real.json", [700.0, 710.0, 720.0, 730.0], [9, 10, 11, 12])
    record(tmp_path / "carracing/zh/eval_real-real_eval_episodes20-check.json", [700.0, 711.0], [9, 10])
    rows = table(tmp_path)
    doom = rows["DoomTakeCover, the shipped agent re-played here"]
    assert "900 ± 82 (n=3); shipped 900 on the same episodes: every episode as recorded" in doom
    car = rows["CarRacing, the shipped zh row re-played here (20 of its 100 episodes)"]
    assert "706 ± 6 (n=2); shipped 705 on the same episodes: 1 of 2 episodes as recorded" in car
    assert "400 ± 100 (n=2)" in rows["DoomTakeCover, C trained in the dream, small scale (~15 min)"]
    assert "| not run |" in rows["CarRacing, random policy"]  # its record is missing
    assert "`make doom-eval`" in doom and "1092 ± 556" in doom


def test_a_replay_of_another_controller_is_not_compared(tmp_path):
    record(tmp_path / "doom/tau1.15/eval_real.json", [800.0], [5])
    record(tmp_path / "doom/tau1.15/eval_real-check.json", [100.0], [5], sha="other")
    assert "another controller or other episodes" in table(tmp_path)["DoomTakeCover, the shipped agent re-played here"]


def test_a_replay_in_another_arithmetic_is_not_compared(tmp_path):
    record(tmp_path / "doom/tau1.15/eval_real.json", [800.0], [5])  # older records: float32
    record(tmp_path / "doom/tau1.15/eval_real-check.json", [800.0], [5], arithmetic="float64")
    row = table(tmp_path)["DoomTakeCover, the shipped agent re-played here"]
    assert "the record was played in float32, this re-play in float64: not compared" in row
