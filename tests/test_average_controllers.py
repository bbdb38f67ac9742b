"""tools/average_controllers.py: the mean (and its norm-rescaled form) of controllers' params, written
as a params .npz that stage 05 loads; refusals on overwrite and on controllers of different sizes."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import average_controllers  # noqa: E402
from worldmodels import es  # noqa: E402

TOOL = os.path.join(ROOT, "tools", "average_controllers.py")


def run(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_average_and_norm_scale():
    rows = np.array([[3.0, 0.0, 1.0], [0.0, 4.0, 1.0]])
    np.testing.assert_allclose(average_controllers.average(rows), [1.5, 2.0, 1.0])
    scaled = average_controllers.average(rows, "norm")
    np.testing.assert_allclose(np.linalg.norm(scaled), np.linalg.norm(rows, axis=1).mean())
    np.testing.assert_allclose(scaled / np.linalg.norm(scaled), [1.5, 2.0, 1.0] / np.linalg.norm([1.5, 2.0, 1.0]))
    with pytest.raises(ValueError):
        average_controllers.average(rows[:1])


def test_cli_writes_params_and_refuses_overwrite(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"c{i}.npz")
        es.save_params(paths[-1], rng.normal(size=10))
    out = tmp_path / "avg" / "avg.npz"
    r = run(*paths, "--out", out)
    assert r.returncode == 0, r.stderr
    expected = np.mean([es.load_params(p) for p in paths], axis=0)
    np.testing.assert_allclose(es.load_params(out, 10), expected)
    before = out.read_bytes()
    r = run(*paths, "--scale", "norm", "--out", out)
    assert r.returncode != 0 and "exists" in r.stderr and out.read_bytes() == before
    assert run(*paths, "--scale", "norm", "--out", out, "--force").returncode == 0
    assert out.read_bytes() != before


def test_cli_rejects_mismatched_or_missing(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    es.save_params(a, np.zeros(4))
    es.save_params(b, np.zeros(5))
    r = run(a, b, "--out", tmp_path / "o.npz")
    assert r.returncode != 0 and "differ in size" in r.stderr
    r = run(a, tmp_path / "missing.npz", "--out", tmp_path / "o.npz")
    assert r.returncode != 0 and "missing.npz" in r.stderr
    assert not (tmp_path / "o.npz").exists()
