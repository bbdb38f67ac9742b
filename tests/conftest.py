import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def one_blas_thread():
    """Small matmuls run faster on one thread, and much faster on a busy machine."""
    from worldmodels import npmodels
    previous = npmodels.set_blas_threads(1)
    yield
    if previous is not None:
        npmodels.set_blas_threads(previous)


# `make test-fast` (pytest -m "not slow") skips these: they run the real games, stages as
# subprocesses or MPI. Single tests elsewhere can be marked @pytest.mark.slow.
SLOW_MODULES = {"test_pipeline", "test_train_controller", "test_generate_data", "test_envs", "test_recipe",
                "test_fast_carracing", "test_notebooks", "test_batched_agent", "test_vaegan_pipeline", "test_arithmetic"}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs the real games, stage subprocesses or MPI (skipped by make test-fast)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
