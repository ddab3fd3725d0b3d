"""Shared fixtures: small generated data that looks like text (sparse, power-law columns).

Helpers that are not fixtures live in ``_helpers.py``.
"""
import pytest
from _helpers import make_sparse


@pytest.fixture(scope="session")
def binary_data():
    return make_sparse(task="binary")


@pytest.fixture(scope="session")
def multiclass_data():
    return make_sparse(task="multiclass")


@pytest.fixture(scope="session")
def regression_data():
    return make_sparse(task="regression", noise=0.3)
