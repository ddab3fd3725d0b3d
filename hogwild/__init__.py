"""hogwild: lock-free parallel SGD (Hogwild!) as drop-in scikit-learn estimators.

Where things are: the estimators in ``hogwild/linear_model/``; the linear
SGD kernel in ``hogwild/_core.pyx``, over the native pieces every kernel
shares (``_native.pxd``); the build in ``setup.py``. docs/design.md has the
whole map.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hogwild")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

from ._config import show_config
from .linear_model import HogwildClassifier, HogwildRegressor
from .mf import MatrixFactorization

__all__ = ["HogwildClassifier", "HogwildRegressor", "MatrixFactorization", "show_config",
           "__version__"]
