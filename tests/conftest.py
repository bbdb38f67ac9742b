import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def one_blas_thread():
    """Small matmuls run faster on one thread, and much faster on a busy machine."""
    import npmodels
    previous = npmodels.set_blas_threads(1)
    yield
    if previous is not None:
        npmodels.set_blas_threads(previous)
