"""Shared fixtures: small generated data that looks like text (sparse, power-law columns)."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from hogwild import _core

REGRESSION_LOSSES = ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")


def make_sparse(n_samples=2000, n_features=300, density=0.05, task="binary", noise=1.0,
                seed=0):
    """Rows L2-normalised, column popularity ~ 1/rank, labels from a sparse truth + noise."""
    rng = np.random.RandomState(seed)
    popularity = 1.0 / np.arange(1, n_features + 1) ** 1.1
    popularity /= popularity.sum()
    nnz = rng.poisson(n_features * density, n_samples) + 1
    rows = np.repeat(np.arange(n_samples), nnz)
    cols = rng.choice(n_features, nnz.sum(), p=popularity)
    X = sp.csr_matrix((rng.rand(len(cols)), (rows, cols)), shape=(n_samples, n_features))
    X.sum_duplicates()
    X = normalize(X)
    truth = rng.randn(n_features) * (rng.rand(n_features) < 0.3)
    margin = X @ truth * 5
    margin += noise * margin.std() * rng.randn(n_samples)
    if task == "regression":
        y = margin
    elif task == "binary":
        y = np.where(margin > np.median(margin), 1, -1)
    else:
        y = np.digitize(margin, np.quantile(margin, [0.25, 0.5, 0.75]))
    return X, y


def objective_of(coef, intercept, X, target, loss, alpha, penalty="l2", l1_ratio=0.15,
                 epsilon=0.1):
    """scikit-learn's regularised SGD objective: mean loss + alpha * penalty."""
    coef = np.asarray(coef, dtype=float).ravel()
    p = np.asarray(X @ coef).ravel() + float(np.ravel(intercept)[0])
    values, _ = _core.loss_and_derivative(
        _core.LOSSES[loss], p, np.asarray(target, dtype=float), epsilon
    )
    r = {"l2": 0.0, "l1": 1.0, "elasticnet": l1_ratio, None: 0.0}[penalty]
    penalty_value = 0.0 if penalty is None else (
        (1 - r) * 0.5 * coef @ coef + r * np.abs(coef).sum()
    )
    return float(np.mean(values) + alpha * penalty_value)


def objective(est, X, y):
    """The objective of a fitted SGD-style estimator (binary or regression)."""
    if hasattr(est, "classes_"):
        y = np.where(y == est.classes_[1], 1.0, -1.0)
    return objective_of(est.coef_, est.intercept_, X, y, est.loss, est.alpha,
                        est.penalty, est.l1_ratio, est.epsilon)


@pytest.fixture(scope="session")
def binary_data():
    return make_sparse(task="binary")


@pytest.fixture(scope="session")
def multiclass_data():
    return make_sparse(task="multiclass")


@pytest.fixture(scope="session")
def regression_data():
    return make_sparse(task="regression", noise=0.3)
