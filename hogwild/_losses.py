"""The losses hogwild knows, by name, and the objective they define.

This is the one list of loss and schedule names: the estimators' parameter
checks, the command line and the benchmarks all read it. The kernels know
the same losses by the integer codes of ``_native.LOSSES``; ``objective``
here is the NumPy twin of the kernels' losses that reports, tests and
benchmarks use to judge a model.
"""
import numpy as np

CLASSIFICATION_LOSSES = ("hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron")
REGRESSION_LOSSES = ("squared_error", "huber", "epsilon_insensitive",
                     "squared_epsilon_insensitive")
LOSSES = CLASSIFICATION_LOSSES + REGRESSION_LOSSES

# learning_rate values: scikit-learn's four and the Hogwild! paper's backoff
SCHEDULES = ("constant", "optimal", "invscaling", "adaptive", "backoff")

# A bound on each loss's second derivative in the prediction, for the replica
# merge's saturation (``_core.sgd_epoch_replicas``). The piecewise-linear
# losses have none; for them the value was chosen by measurement
# (docs/design.md, "The replica merge").
CURVATURE = {
    "log_loss": 0.25, "squared_error": 1.0, "huber": 1.0,
    "squared_epsilon_insensitive": 1.0, "modified_huber": 2.0, "squared_hinge": 2.0,
    "hinge": 4.0, "perceptron": 4.0, "epsilon_insensitive": 4.0,
}


def loss_values(loss, scores, target, epsilon=0.1):
    """Each row's loss at prediction ``scores`` for ``target``.

    Parameters
    ----------
    loss : str
        A name from ``LOSSES``.
    scores : array-like of shape (n,)
        Predictions ``p = w . x + b``.
    target : array-like of shape (n,)
        ``y``: in {-1, +1} for the classification losses.
    epsilon : float, default=0.1
        Of the huber and epsilon-insensitive losses.

    Returns
    -------
    values : ndarray of shape (n,), float64
    """
    p = np.asarray(scores, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if loss in CLASSIFICATION_LOSSES:
        z = p * y
        if loss == "hinge":
            return np.maximum(0.0, 1.0 - z)
        if loss == "perceptron":
            return np.maximum(0.0, -z)
        if loss == "log_loss":
            return np.logaddexp(0.0, -z)  # log(1 + exp(-z)) without overflow
        if loss == "squared_hinge":
            return np.maximum(0.0, 1.0 - z) ** 2
        # modified_huber: quadratic near the margin, linear beyond -1
        return np.where(z >= 1.0, 0.0, np.where(z >= -1.0, (1.0 - z) ** 2, -4.0 * z))
    r = np.abs(p - y)
    if loss == "squared_error":
        return 0.5 * r * r
    if loss == "huber":
        return np.where(r <= epsilon, 0.5 * r * r, epsilon * r - 0.5 * epsilon * epsilon)
    if loss == "epsilon_insensitive":
        return np.maximum(0.0, r - epsilon)
    if loss == "squared_epsilon_insensitive":
        return np.maximum(0.0, r - epsilon) ** 2
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")


def penalty_value(coef, penalty="l2", l1_ratio=0.15):
    """scikit-learn's SGD penalty of ``coef``, before the factor ``alpha``.

    ``l2``: ``||w||^2 / 2``; ``l1``: ``||w||_1``; ``elasticnet``:
    ``(1 - l1_ratio) ||w||^2 / 2 + l1_ratio ||w||_1``; ``None``: 0.
    """
    w = np.asarray(coef, dtype=np.float64).ravel()
    r = {"l2": 0.0, "l1": 1.0, "elasticnet": l1_ratio, None: None}[penalty]
    if r is None:
        return 0.0
    return float((1.0 - r) * 0.5 * (w @ w) + r * np.abs(w).sum())


def objective(coef, intercept, X, y, loss, alpha, penalty="l2", l1_ratio=0.15, epsilon=0.1):
    """The regularised training objective of one linear model.

    ``mean(loss(X @ coef + intercept, y)) + alpha * penalty(coef)``, the
    intercept unpenalised: what ``SGDClassifier`` and ``SGDRegressor``
    minimise, and, for L2, ``LogisticRegression`` / ``LinearSVC`` with
    ``C = 1 / (n_samples * alpha)`` up to the factor ``C * n_samples``.

    Parameters
    ----------
    coef : array-like of shape (n_features,) or (1, n_features)
    intercept : float or array-like of shape (1,)
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Targets, in {-1, +1} for the classification losses.
    loss : str
        A name from ``LOSSES``.
    alpha : float
    penalty : {'l2', 'l1', 'elasticnet', None}, default='l2'
    l1_ratio : float, default=0.15
    epsilon : float, default=0.1

    Returns
    -------
    value : float
    """
    coef = np.asarray(coef, dtype=np.float64).ravel()
    scores = np.asarray(X @ coef, dtype=np.float64).ravel() + float(np.ravel(intercept)[0])
    mean_loss = float(np.mean(loss_values(loss, scores, y, epsilon)))
    return mean_loss + alpha * penalty_value(coef, penalty, l1_ratio)


def estimator_objective(estimator, X, y, penalized=True):
    """The objective of a fitted hogwild or scikit-learn SGD estimator on (X, y).

    Classifiers are judged one-vs-rest, as they are trained: each class's
    scores against targets +1 for the class and -1 for the rest (binary
    problems: the positive class ``classes_[1]``), the loss averaged over
    rows and classes, and the penalty summed over the classes' weights.

    Parameters
    ----------
    estimator : fitted estimator with ``coef_``, ``intercept_`` and ``loss``
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Labels (classifiers) or targets (regressors).
    penalized : bool, default=True
        Add ``alpha * penalty``; ``False`` gives the mean loss alone.

    Returns
    -------
    value : float
    """
    coef = np.asarray(estimator.coef_.toarray() if hasattr(estimator.coef_, "toarray")
                      else estimator.coef_, dtype=np.float64)
    coef = coef.reshape(-1, coef.shape[-1])
    intercept = np.asarray(estimator.intercept_, dtype=np.float64).reshape(-1)
    scores = np.asarray(X @ coef.T, dtype=np.float64).reshape(-1, coef.shape[0]) + intercept
    y = np.asarray(y)
    if hasattr(estimator, "classes_"):
        classes = estimator.classes_
        positives = classes[1:] if len(classes) == 2 else classes
        target = np.where(y[:, None] == positives[None, :], 1.0, -1.0)
    else:
        target = y.astype(np.float64).reshape(-1, 1)
    value = float(np.mean(loss_values(estimator.loss, scores, target, estimator.epsilon)))
    if penalized:
        value += estimator.alpha * sum(
            penalty_value(row, estimator.penalty, estimator.l1_ratio) for row in coef)
    return value
