"""Bad input is reported with the file's name; good files round-trip."""
import numpy as np
import pytest

import rollouts


def episode(T=5):
    return dict(obs=np.zeros((T, 64, 64, 3), np.uint8), action=np.zeros((T, 1), np.float32),
                reward=np.ones(T, np.float32), done=np.arange(T) == T - 1)


def test_roundtrip(tmp_path):
    path = str(tmp_path / "ep_00000001.npz")
    rollouts.save(path, **episode())
    data = rollouts.load(path, rollouts.ROLLOUT)
    assert data["obs"].shape == (5, 64, 64, 3) and data["done"][-1]
    assert rollouts.list_episodes(str(tmp_path), "01") == [path]


def test_missing_and_truncated(tmp_path):
    path = tmp_path / "ep_00000002.npz"
    with pytest.raises(rollouts.DataError, match="ep_00000002.npz: file not found"):
        rollouts.load(str(path), rollouts.ROLLOUT)
    rollouts.save(str(path), **episode())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(rollouts.DataError, match="ep_00000002.npz: unreadable or corrupt"):
        rollouts.load(str(path), rollouts.ROLLOUT)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(rollouts.DataError, match="corrupt"):
        rollouts.load(str(path), rollouts.ROLLOUT)


@pytest.mark.parametrize("change, words", [
    (lambda e: e.pop("reward"), "missing arrays"),
    (lambda e: e.update(obs=np.zeros((5, 32, 32, 3), np.uint8)), "obs has shape"),
    (lambda e: e.update(obs=np.zeros((5, 64, 64, 3), np.float32)), "obs has dtype"),
    (lambda e: e.update(action=np.zeros((4, 1), np.float32)), "action has 4 steps"),
    (lambda e: e.update(reward=np.full(5, np.nan, np.float32)), "NaN"),
])
def test_bad_contents(tmp_path, change, words):
    ep = episode()
    change(ep)
    path = str(tmp_path / "ep_00000003.npz")
    rollouts.save(path, **ep)
    with pytest.raises(rollouts.DataError, match=words):
        rollouts.load(path, rollouts.ROLLOUT)


def test_pickled_object_array_is_refused(tmp_path):
    path = str(tmp_path / "ep_00000004.npz")
    ep = episode()
    ep["obs"] = np.array([object()] * 5, dtype=object)
    np.savez(path, **ep)
    with pytest.raises(rollouts.DataError, match="ep_00000004.npz"):
        rollouts.load(path, rollouts.ROLLOUT)


def test_empty_dir(tmp_path):
    with pytest.raises(rollouts.DataError, match="run 01_generate_data.py first"):
        rollouts.list_episodes(str(tmp_path), "01_generate_data.py")
    with pytest.raises(rollouts.DataError, match="directory not found"):
        rollouts.list_episodes(str(tmp_path / "nope"), "01_generate_data.py")
