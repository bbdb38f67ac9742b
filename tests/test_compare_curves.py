"""tools/compare_curves.py: what a real-game CMA-ES run spent (generations, episodes, steps, wall
time) until its mean solution first scored a threshold, from a 05 history.json; refusals on a
dream run and on a malformed argument."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import compare_curves  # noqa: E402

TOOL = os.path.join(ROOT, "tools", "compare_curves.py")


def history(eval_means, steps=True, mode="real"):
    """Two generations per evaluation; generation g took 100 * g steps and 10 s, an evaluation 7 steps, 1 s."""
    gens = [{"generation": g, "mean": 0.0, "seconds": 10.0, **({"steps": 100 * g} if steps else {})}
            for g in range(1, 2 * len(eval_means) + 1)]
    evals = [{"generation": 2 * (i + 1), "mean": m, "std": 5.0, "episodes": 3, "seconds": 1.0,
              **({"steps": 7} if steps else {})} for i, m in enumerate(eval_means)]
    return {"settings": {"population": 4, "trials": 2}, "meta": {"mode": mode},
            "generations": gens, "evaluations": evals}


def test_costs_sum_everything_up_to_the_evaluation():
    rows, n = compare_curves.costs(history([500, 850, 920]))
    assert n == 6
    assert [r["generation"] for r in rows] == [2, 4, 6]
    r = compare_curves.first_reaching(rows, 800)
    # generations 1-4 (8 episodes, 100+200+300+400 steps, 10 s each) and evaluations at 2 and 4
    assert (r["generation"], r["episodes"], r["steps"], r["seconds"]) == (4, 4 * 8 + 2 * 3, 1000 + 14, 42.0)
    assert compare_curves.first_reaching(rows, 900)["generation"] == 6
    assert compare_curves.first_reaching(rows, 950) is None


def test_unrecorded_steps_stay_unrecorded():
    rows, _ = compare_curves.costs(history([850], steps=False))
    assert rows[0]["steps"] is None and rows[0]["episodes"] == 2 * 8 + 3
    text = compare_curves.table([("old", history([850], steps=False))], [800, 900])
    assert "not recorded" in text and "not in 2 generations" in text


def test_cli_table_png_and_refusals(tmp_path):
    real, dream = tmp_path / "real.json", tmp_path / "dream.json"
    real.write_text(json.dumps(history([500, 850])))
    dream.write_text(json.dumps(history([900], mode="dream")))
    png = tmp_path / "fig" / "curves.png"
    out = subprocess.run([sys.executable, TOOL, f"warm={real}", "--png", str(png)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "| warm | ≥ 800 (scored 850 ± 5) | 4 | 38 | 1,014 | 0.0 h |" in out.stdout
    assert png.stat().st_size > 1000
    bad = subprocess.run([sys.executable, TOOL, f"d={dream}"], capture_output=True, text=True)
    assert bad.returncode != 0 and "not a real-game run" in bad.stderr
    bad = subprocess.run([sys.executable, TOOL, str(real)], capture_output=True, text=True)
    assert bad.returncode != 0 and "LABEL=" in bad.stderr
