"""Bad input is reported with the file's name; good files round-trip."""
import numpy as np
import pytest

from worldmodels.storage import episodes


def episode(T=5):
    return dict(obs=np.zeros((T, 64, 64, 3), np.uint8), action=np.zeros((T, 1), np.float32),
                reward=np.ones(T, np.float32), done=np.arange(T) == T - 1)


def test_roundtrip(tmp_path):
    path = str(tmp_path / "ep_00000001.npz")
    episodes.save(path, **episode())
    data = episodes.load(path, episodes.ROLLOUT)
    assert data["obs"].shape == (5, 64, 64, 3) and data["done"][-1]
    assert episodes.list_episodes(str(tmp_path), "01") == [path]


def test_missing_and_truncated(tmp_path):
    path = tmp_path / "ep_00000002.npz"
    with pytest.raises(episodes.DataError, match="ep_00000002.npz: file not found"):
        episodes.load(str(path), episodes.ROLLOUT)
    episodes.save(str(path), **episode())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(episodes.DataError, match="ep_00000002.npz: unreadable or corrupt"):
        episodes.load(str(path), episodes.ROLLOUT)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(episodes.DataError, match="corrupt"):
        episodes.load(str(path), episodes.ROLLOUT)


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
    episodes.save(path, **ep)
    with pytest.raises(episodes.DataError, match=words):
        episodes.load(path, episodes.ROLLOUT)


def test_pickled_object_array_is_refused(tmp_path):
    path = str(tmp_path / "ep_00000004.npz")
    ep = episode()
    ep["obs"] = np.array([object()] * 5, dtype=object)
    np.savez(path, **ep)
    with pytest.raises(episodes.DataError, match="ep_00000004.npz"):
        episodes.load(path, episodes.ROLLOUT)


def test_empty_dir(tmp_path):
    with pytest.raises(episodes.DataError, match="run 01_generate_data.py first"):
        episodes.list_episodes(str(tmp_path), "01_generate_data.py")
    with pytest.raises(episodes.DataError, match="directory not found"):
        episodes.list_episodes(str(tmp_path / "nope"), "01_generate_data.py")
