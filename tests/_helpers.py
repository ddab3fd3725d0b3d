"""Helpers the test modules share: data, child-process environment, markers.

Plain functions and markers; pytest fixtures live in ``conftest.py``. Test
modules import from here, never from each other.
"""
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import hogwild
from hogwild._losses import estimator_objective
from hogwild._threads import openmp_enabled
from hogwild.datasets import make_sparse_classification, make_sparse_regression

# The hogwild the tests import, for child processes too (a source tree with an
# in-place build, or the installed package).
HOGWILD_ROOT = str(Path(hogwild.__file__).resolve().parents[1])

#: tests whose assertions need two or more threads really running
needs_openmp = pytest.mark.skipif(
    not openmp_enabled(), reason="hogwild was built without OpenMP: one thread only")


def make_sparse(n_samples=2000, n_features=300, density=0.05, task="binary", noise=1.0,
                seed=0):
    """Small text-like data: binary labels in {-1, +1}, 4 classes, or regression."""
    if task == "regression":
        return make_sparse_regression(n_samples, n_features, density, noise, seed)
    n_classes = 2 if task == "binary" else 4
    X, y = make_sparse_classification(n_samples, n_features, density, n_classes, noise, seed)
    return X, (np.where(y == 1, 1, -1) if task == "binary" else y)


def objective(est, X, y):
    """The regularised objective a fitted SGD-style estimator minimises, on (X, y)."""
    return estimator_objective(est, X, y)


def child_env():
    """The environment for a child Python that imports the hogwild the tests import.

    PYTHONPATH entries are made absolute, since the child runs in another folder.
    """
    paths = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([HOGWILD_ROOT] + paths)}


def big_csr(dtype):
    """2.4 M stored values (29 MB in float64): large next to the model."""
    rng = np.random.default_rng(0)
    n_rows, per_row, n_features = 30000, 80, 5000
    # sorted draws plus 0..79 are strictly increasing: distinct sorted columns
    columns = np.sort(rng.integers(0, n_features, size=(n_rows, per_row)), axis=1)
    columns += np.arange(per_row)
    X = sp.csr_matrix((rng.random(n_rows * per_row).astype(dtype),
                       columns.ravel().astype(np.int32),
                       np.arange(0, n_rows * per_row + 1, per_row)),
                      shape=(n_rows, n_features + per_row))
    y = np.where(rng.random(n_rows) < 0.5, 1, -1)
    return X, y


def interrupt_child(script, args=(), wait=0.5):
    """Run a child that prints "fitting" then trains; SIGINT it ``wait`` s into the fit.

    Returns
    -------
    first : str
        The child's first line after the signal.
    latency : float
        Seconds from the signal to that line.
    rest : str
        The rest of its output (it must exit with status 0).
    """
    import signal
    import subprocess
    import sys
    import time

    import select

    def default_sigint():
        # a shell starts background jobs with SIGINT ignored, and Python then
        # installs no handler: the child must have the default disposition
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    child = subprocess.Popen([sys.executable, str(script), *map(str, args)],
                             stdout=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        assert child.stdout.readline().strip() == "fitting"
        time.sleep(wait)  # well into the fit, which would run for hours
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        # a child that ignores the signal fails the test, rather than hanging it
        answered, _, _ = select.select([child.stdout], [], [], 60)
        assert answered, "no answer within 60 s of SIGINT"
        first = child.stdout.readline().strip()
        latency = time.monotonic() - sent
        rest = child.stdout.read()
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
    return first, latency, rest
