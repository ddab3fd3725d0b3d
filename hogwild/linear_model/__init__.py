"""Linear models trained by lock-free parallel SGD: drop-in ``SGDClassifier`` / ``SGDRegressor``.

- ``_classifier.py``, ``_regressor.py``: the estimators;
- ``_base.py``: what they share (parameters, checks, the model's life);
- ``_epochs.py``: the epoch driver (schedules, stopping, chunks, hooks);
- ``_strategies.py``: the two ways threads share the model, over the
  kernels of ``hogwild/_core.pyx``.
"""
from ._classifier import HogwildClassifier
from ._regressor import HogwildRegressor

__all__ = ["HogwildClassifier", "HogwildRegressor"]
