"""Shared fixtures: small generated data that looks like text (sparse, power-law columns).

Helpers that are not fixtures live in ``_helpers.py``.
"""
from types import SimpleNamespace

import pytest
from _helpers import make_sparse

from hogwild._cli import main


@pytest.fixture(scope="session")
def binary_data():
    return make_sparse(task="binary")


@pytest.fixture(scope="session")
def multiclass_data():
    return make_sparse(task="multiclass")


@pytest.fixture(scope="session")
def regression_data():
    return make_sparse(task="regression", noise=0.3)


@pytest.fixture
def run_main(capsys, monkeypatch):
    """``main(ARGS)`` in ``cwd``, in this process; returns what a subprocess run returns
    (``returncode``, ``stdout``, ``stderr``)."""
    def run(args, cwd):
        monkeypatch.chdir(cwd)
        try:
            status = main(args)
        except SystemExit as exc:  # argparse: --help, usage errors
            status = exc.code
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=status, stdout=out, stderr=err)
    return run
