"""hogwild: lock-free parallel SGD (Hogwild!) as drop-in scikit-learn estimators.

The kernel is ``hogwild/_core.pyx``; the estimators are in ``hogwild/_sgd.py``.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hogwild")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

from ._config import show_config
from ._sgd import HogwildClassifier, HogwildRegressor

__all__ = ["HogwildClassifier", "HogwildRegressor", "show_config", "__version__"]
