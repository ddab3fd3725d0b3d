"""Shared fixtures: small generated data that looks like text (sparse, power-law columns)."""
import numpy as np
import pytest

from hogwild import _core
from hogwild.datasets import make_sparse_classification, make_sparse_regression

REGRESSION_LOSSES = ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")


def make_sparse(n_samples=2000, n_features=300, density=0.05, task="binary", noise=1.0,
                seed=0):
    """Small text-like data: binary labels in {-1, +1}, 4 classes, or regression."""
    if task == "regression":
        return make_sparse_regression(n_samples, n_features, density, noise, seed)
    n_classes = 2 if task == "binary" else 4
    X, y = make_sparse_classification(n_samples, n_features, density, n_classes, noise, seed)
    return X, (np.where(y == 1, 1, -1) if task == "binary" else y)


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
