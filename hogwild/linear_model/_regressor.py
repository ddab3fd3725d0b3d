"""``HogwildRegressor``: linear regression by lock-free parallel SGD."""
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions

from .._losses import REGRESSION_LOSSES
from ._base import BaseHogwild
from ._strategies import Problem


class HogwildRegressor(RegressorMixin, BaseHogwild):
    """Linear regression trained by lock-free parallel SGD (Hogwild!).

    A drop-in replacement for :class:`sklearn.linear_model.SGDRegressor`,
    with ``n_jobs`` and the 'backoff' schedule added; see
    :class:`HogwildClassifier` for the regularization scheme.

    Parameters
    ----------
    loss : {'squared_error', 'huber', 'epsilon_insensitive', \
            'squared_epsilon_insensitive'}, default='squared_error'
        The loss function.
    penalty : {'l2', 'l1', 'elasticnet', None}, default='l2'
    alpha : float, default=0.0001
    l1_ratio : float, default=0.15
    fit_intercept : bool, default=True
    max_iter : int, default=1000
    tol : float or None, default=1e-3
    shuffle : bool, default=True
    verbose : int, default=0
    epsilon : float, default=0.1
    n_jobs : int, default=None
        Number of OpenMP threads; see :class:`HogwildClassifier`.
    random_state : int, RandomState instance or None, default=None
    learning_rate : {'invscaling', 'constant', 'optimal', 'adaptive', \
            'backoff'}, default='invscaling'
    eta0 : float, default=0.01
    power_t : float, default=0.25
        Exponent of the 'invscaling' schedule; negative values are deprecated
        (see :class:`HogwildClassifier`).
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
    warm_start : bool, default=False
    average : bool or int, default=False
    backoff : float, default=0.9
    strategy : {'replicas', 'shared'}, default='replicas'
        See :class:`HogwildClassifier`.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : ndarray of shape (1,)
    n_iter_ : int
    t_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from hogwild import HogwildRegressor
    >>> X, y = make_regression(n_samples=200, n_features=5, random_state=0)
    >>> reg = HogwildRegressor(n_jobs=1, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **BaseHogwild._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
    }

    def __init__(
        self,
        loss="squared_error",
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
        learning_rate="invscaling",
        eta0=0.01,
        power_t=0.25,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
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
        self.warm_start = warm_start
        self.average = average
        self.backoff = backoff
        self.strategy = strategy

    def _n_outputs(self):
        return 1

    def _prepare_targets(self, X, y, classes, first_call, partial=False):
        return y.astype(X.dtype, copy=False)

    def _score_problem(self, prob, scores, y_val, sw_val):
        return r2_score(y_val, scores, sample_weight=sw_val)

    def _shape_coef(self, coef):
        return coef.reshape(-1)

    def _problems(self, y, sample_weight, coef, intercept, average, dtype):
        avg = None
        if average is not None:
            avg = (average[0][0], average[1][0:1], average[2][0])
        return [Problem(y, sample_weight, coef[0], intercept[0:1], avg)]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the linear model by Hogwild! SGD.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. CSR float32 or float64 input is used without a copy.
        y : ndarray of shape (n_samples,)
            Target values.
        coef_init : ndarray of shape (n_features,), default=None
            Initial coefficients (not modified).
        intercept_init : ndarray of shape (1,), default=None
            Initial intercept (not modified).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        self : object
        """
        return self._fit(X, y, coef_init, intercept_init, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of Hogwild! SGD over the given rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._partial_fit(X, y, None, sample_weight)

    def predict(self, X):
        """Predict with the linear model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        return self._linear_scores(X).ravel()
