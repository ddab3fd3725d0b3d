"""``HogwildClassifier``: linear classifiers by lock-free parallel SGD."""
import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils import compute_class_weight
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .._losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES
from ._base import BaseHogwild
from ._strategies import Problem


class HogwildClassifier(LinearClassifierMixin, ClassifierMixin, BaseHogwild):
    """Linear classifiers trained by lock-free parallel SGD (Hogwild!).

    A drop-in replacement for :class:`sklearn.linear_model.SGDClassifier`:
    the same parameters with the same names, defaults and meanings, plus
    ``n_jobs`` (OpenMP threads training without locks, see ``strategy``) and
    the ``"backoff"`` learning rate of the Hogwild! paper.

    A ``fit`` or ``partial_fit`` that raises (bad input, divergence, or
    Ctrl-C, which takes effect within tens of milliseconds) leaves the
    estimator exactly as it was before the call.

    A row's update costs O(non-zeros of the row) with either ``strategy``:
    the replicas keep L2 in a per-thread scale factor; the shared buffer
    shrinks only the coordinates a row touches, coordinate ``u`` with weight
    ``n / d_u`` where ``d_u`` is the number of rows in which feature ``u`` is
    non-zero (Niu et al., 2011), in expectation the full penalty.

    Parameters
    ----------
    loss : {'hinge', 'log_loss', 'modified_huber', 'squared_hinge', \
            'perceptron', 'squared_error', 'huber', 'epsilon_insensitive', \
            'squared_epsilon_insensitive'}, default='hinge'
        The loss function, as in ``SGDClassifier``.
    penalty : {'l2', 'l1', 'elasticnet', None}, default='l2'
        The regularization term.
    alpha : float, default=0.0001
        Regularization strength; also sets the 'optimal' learning rate.
    l1_ratio : float, default=0.15
        Elastic-net mixing, ``0 <= l1_ratio <= 1``; used with 'elasticnet'.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    max_iter : int, default=1000
        Maximum number of epochs.
    tol : float or None, default=1e-3
        Stop when the epoch's training loss (or validation score with
        ``early_stopping``) has not improved by ``tol`` for
        ``n_iter_no_change`` epochs. ``None`` never stops early.
    shuffle : bool, default=True
        Whether to shuffle the rows before each epoch.
    verbose : int, default=0
        Verbosity.
    epsilon : float, default=0.1
        Epsilon of the huber and epsilon-insensitive losses.
    n_jobs : int, default=None
        Number of OpenMP threads. ``None`` and ``-1`` use every core this
        process may use (respecting ``OMP_NUM_THREADS``, CPU affinity and
        threadpoolctl limits), ``-2`` one fewer, and so on. With the default
        'replicas' strategy a fit is reproducible for a fixed ``random_state``
        and thread count; with 'shared' and several threads results vary
        slightly from run to run. Multiclass problems give each one-vs-rest
        class its own thread. In a process forked after its parent trained
        with several threads, one thread is used (libgomp would hang).
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the early-stopping split.
    learning_rate : {'optimal', 'constant', 'invscaling', 'adaptive', \
            'backoff'}, default='optimal'
        The step-size schedule. The first four are scikit-learn's;
        'backoff' is the Hogwild! paper's: ``eta0`` within the first epoch,
        multiplied by ``backoff`` after each epoch.
    eta0 : float, default=0.01
        Initial step size of the 'constant', 'invscaling', 'adaptive' and
        'backoff' schedules.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule. Negative values are deprecated,
        as in scikit-learn 1.8 and later: ``fit`` warns (FutureWarning).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their score
        stops improving.
    validation_fraction : float, default=0.1
        Fraction of rows held out for early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping.
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, as in ``SGDClassifier``.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    average : bool or int, default=False
        Averaged SGD: ``True`` averages from the first step, an integer
        ``k`` from step ``k`` on.
    backoff : float, default=0.9
        Factor applied to the step size after each epoch with
        ``learning_rate='backoff'``, ``0 < backoff <= 1``.
    strategy : {'replicas', 'shared'}, default='replicas'
        How threads share the work. 'replicas': each thread trains a private,
        scaled copy of the weights (exact L2, no write when the gradient is
        zero), merged every ``64 * n_features`` non-zeros or so: each
        copy's change to a coordinate weighted by how much of it one thread
        would have kept after the others' steps (the whole change for rare
        features, the mean for frequent ones); reproducible for a fixed
        ``random_state`` and ``n_jobs``.
        'shared': the Hogwild! paper's method, every thread on one weight
        buffer without locks, L2 by the paper's sparse 1/d_u estimate;
        results vary slightly from run to run with several threads.
        ``average`` with several threads on a problem uses 'shared'; with
        one it is scikit-learn's averaged SGD, exact L2 included.

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    classes_ : ndarray of shape (n_classes,)
    n_iter_ : int
        Epochs run (the most of any class).
    t_ : float
        Number of weight updates performed, plus one.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when X has feature names that are all strings.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from hogwild import HogwildClassifier
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = HogwildClassifier(n_jobs=1, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.8
    True
    """

    _parameter_constraints: dict = {
        **BaseHogwild._parameter_constraints,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES + REGRESSION_LOSSES))],
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }

    def __init__(
        self,
        loss="hinge",
        *,
        penalty="l2",
        alpha=0.0001,
        l1_ratio=0.15,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-3,
        shuffle=True,
        verbose=0,
        epsilon=0.1,
        n_jobs=None,
        random_state=None,
        learning_rate="optimal",
        eta0=0.01,
        power_t=0.5,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        class_weight=None,
        warm_start=False,
        average=False,
        backoff=0.9,
        strategy="replicas",
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.backoff = backoff
        self.strategy = strategy

    def _n_outputs(self):
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _prepare_targets(self, X, y, classes, first_call, partial=False):
        """Set or check ``classes_`` as ``SGDClassifier`` does; y's labels must be among them.

        ``fit`` takes the classes from y; ``partial_fit`` from ``classes``
        on the first call, and checks that later calls' ``classes`` agree.
        """
        try:
            present = np.unique(y)
        except TypeError:  # unorderable labels: let scikit-learn name the problem
            check_classification_targets(y)
            raise
        if not partial:
            if hasattr(self, "classes_"):
                del self.classes_
            classes = present
        _check_partial_fit_first_call(self, classes)
        unknown = np.setdiff1d(present, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels {unknown.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}."
            )
        if len(self.classes_) < 2:
            raise ValueError(
                "The number of classes has to be greater than one; got "
                f"{len(self.classes_)} class"
            )
        return y

    def _score_problem(self, prob, scores, y_val, sw_val):
        truth = np.where(y_val == prob.label, 1.0, -1.0)
        return np.average(np.where(scores > 0, 1.0, -1.0) == truth, weights=sw_val)

    def _problems(self, y, sample_weight, coef, intercept, average, dtype):
        classes = self.classes_
        if self.class_weight is None:
            class_weight = np.ones(len(classes))
        else:
            class_weight = compute_class_weight(self.class_weight, classes=classes, y=y)
        if len(classes) == 2:
            pairs = [(classes[1], class_weight[1], class_weight[0])]
        else:
            pairs = [(c, class_weight[k], 1.0) for k, c in enumerate(classes)]
        problems = []
        for k, (positive, pos_weight, neg_weight) in enumerate(pairs):
            is_pos = y == positive
            yk = np.where(is_pos, 1.0, -1.0).astype(dtype)
            swk = (sample_weight * np.where(is_pos, pos_weight, neg_weight)).astype(dtype)
            avg = None
            if average is not None:
                avg = (average[0][k], average[1][k:k + 1], average[2][k])
            problems.append(
                Problem(yk, swk, coef[k], intercept[k:k + 1], avg, label=positive)
            )
        return problems

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the linear model by Hogwild! SGD.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. CSR float32 or float64 input is used without a copy.
        y : ndarray of shape (n_samples,)
            Target values.
        coef_init : ndarray of shape (n_classes, n_features), default=None
            Initial coefficients (not modified).
        intercept_init : ndarray of shape (n_classes,), default=None
            Initial intercept (not modified).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        self : object
        """
        return self._fit(X, y, coef_init, intercept_init, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of Hogwild! SGD over the given rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training data.
        y : ndarray of shape (n_samples,)
            Its targets.
        classes : ndarray of shape (n_classes,), default=None
            All the classes; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        self : object
        """
        if self.class_weight == "balanced" and not hasattr(self, "classes_"):
            raise ValueError(
                "class_weight '{0}' is not supported for partial_fit. In order "
                "to use 'balanced' weights, use compute_class_weight('{0}', "
                "classes=classes, y=y). In place of y you can use a large "
                "enough sample of the full training set target to properly "
                "estimate the class frequency distributions. Pass the "
                "resulting weights as the class_weight parameter.".format(
                    self.class_weight
                )
            )
        return self._partial_fit(X, y, classes, sample_weight)

    def decision_function(self, X):
        """Confidence scores: the signed distance of each sample to each hyperplane.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For binary problems, the score of ``classes_[1]``.
        """
        scores = self._linear_scores(X)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def _check_proba(self):
        if self.loss not in ("log_loss", "modified_huber"):
            raise AttributeError(
                "probability estimates are not available for loss=%r" % self.loss
            )
        return True

    @available_if(_check_proba)
    def predict_proba(self, X):
        """Probability estimates, for ``loss`` 'log_loss' or 'modified_huber'.

        Multiclass estimates normalise the one-vs-rest estimates, as
        ``SGDClassifier`` does.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        if self.loss == "log_loss":
            return self._predict_proba_lr(X)
        scores = self.decision_function(X)
        if len(self.classes_) == 2:
            p1 = (np.clip(scores, -1.0, 1.0) + 1.0) / 2.0
            return np.column_stack([1.0 - p1, p1])
        prob = (np.clip(scores, -1.0, 1.0) + 1.0) / 2.0
        total = prob.sum(axis=1)
        all_zero = total == 0
        prob[all_zero] = 1.0
        total[all_zero] = len(self.classes_)
        return prob / total[:, None]

    @available_if(_check_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return np.log(self.predict_proba(X))
