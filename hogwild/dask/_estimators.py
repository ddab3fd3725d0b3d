"""``DaskHogwildClassifier`` and ``DaskHogwildRegressor``: the local estimators, across workers.

They subclass the local estimators (every parameter, check and fitted
attribute is theirs) and add where and how to train: ``client``, ``sync``,
``staleness``, ``sync_every``. ``fit`` sends the training to the workers
that hold the data (``_train.py``); predictions map the fitted local model
over the blocks of X, lazily.
"""
import logging
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ..linear_model import HogwildClassifier, HogwildRegressor
from ..linear_model._base import MAX_INT
from ._train import make_plan, Partitions, train_average, train_ssp
from ._worker import Clocks

_DASK_PARAMETERS = ("client", "sync", "staleness", "sync_every")


@contextmanager
def fit_client(client):
    """The client a fit runs on: the given one, the default one, or a LocalCluster for the fit.

    The embedded cluster listens on 127.0.0.1 only, and is closed when the
    fit ends.
    """
    from distributed import Client, LocalCluster, default_client

    if client is None:
        try:
            client = default_client()
        except ValueError:
            client = None
    if client is not None:
        yield client
        return
    cluster = LocalCluster(host="127.0.0.1", dashboard_address=None, processes=True,
                           silence_logs=logging.ERROR)
    try:
        with Client(cluster) as embedded:
            yield embedded
    finally:
        cluster.close()


def _as_dask_array(data, name, ndim):
    """``data`` (a dask array, DataFrame or Series) as a dask array of ``ndim`` dimensions."""
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(data, (dd.DataFrame, dd.Series)):
        if isinstance(data, dd.DataFrame) and ndim == 1:
            if len(data.columns) != 1:
                raise ValueError(f"{name} must be one column; got {len(data.columns)}.")
            data = data[data.columns[0]]
        data = data.to_dask_array()
    if not isinstance(data, da.Array):
        raise TypeError(
            f"{name} must be a dask array or a dask DataFrame/Series; got "
            f"{type(data).__name__}. Wrap local data with dask.array.from_array, or "
            "fit hogwild's local estimator (HogwildClassifier, HogwildRegressor).")
    if data.ndim == 2 and ndim == 1 and data.shape[1] == 1:
        data = data[:, 0]
    if data.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s); got shape {data.shape}.")
    return data


def to_blocks(X, y, sample_weight):
    """``(blocks, dtype)``: one ``(X, y, sample_weight)`` delayed triple per row block.

    X must be split by rows only (a NumPy-backed X is rechunked to whole
    rows); y and sample_weight are rechunked to X's blocks where their
    sizes are known, and must have as many blocks where they are not.
    """
    X = _as_dask_array(X, "X", 2)
    if X.numblocks[1] > 1:
        if not isinstance(X._meta, np.ndarray):
            raise ValueError(
                f"X must be split by rows only; it has {X.numblocks[1]} blocks of columns. "
                "Rechunk it with X.rechunk({1: -1}).")
        X = X.rechunk({1: -1})
    others = []
    for name, v in (("y", y), ("sample_weight", sample_weight)):
        if v is None:
            others.append(None)
            continue
        v = _as_dask_array(v, name, 1)
        known = not (np.isnan(X.shape[0]) or np.isnan(v.shape[0]))
        if known and v.shape[0] != X.shape[0]:
            raise ValueError(f"{name} has {v.shape[0]} rows and X has {X.shape[0]}; "
                             "they must describe the same rows.")
        if known and v.chunks[0] != X.chunks[0]:
            v = v.rechunk((X.chunks[0],))
        if not known and v.numblocks[0] != X.numblocks[0]:
            raise ValueError(
                f"{name} is not aligned with X: X has {X.numblocks[0]} row blocks and "
                f"{name} {v.numblocks[0]}, of sizes not known. Give both the same "
                "partitions, or call compute_chunk_sizes() on both.")
        others.append(v.to_delayed().ravel())
    y_blocks, sw_blocks = others
    X_blocks = X.to_delayed().ravel()
    if sw_blocks is None:
        sw_blocks = [None] * len(X_blocks)
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    return list(zip(X_blocks, y_blocks, sw_blocks)), dtype


def _call(block, model, method):
    import pandas as pd

    if isinstance(block, pd.DataFrame):
        block = block.to_numpy()
    return getattr(model, method)(block)


class DaskHogwildMixin:
    """Distributed ``fit``, ``partial_fit`` and lazy predictions over the local estimator."""

    _dask_constraints = {
        "client": "no_validation",
        "sync": [StrOptions({"average", "ssp"})],
        "staleness": [Interval(Integral, 0, None, closed="left"), None],
        "sync_every": [Interval(Real, 0, None, closed="neither")],
    }

    # a test hook: called on the client with the clock the fit has reached
    _on_clock = None
    # slowed workers, for tests and benchmarks (_worker.straggler_delay)
    _straggle = None

    def _local_class(self):
        return HogwildClassifier if is_classifier(self) else HogwildRegressor

    def _local_params(self):
        return {k: v for k, v in self.get_params(deep=False).items()
                if k not in _DASK_PARAMETERS}

    def to_local(self):
        """The fitted model as a plain local estimator (``HogwildClassifier``/``Regressor``).

        Returns
        -------
        estimator : HogwildClassifier or HogwildRegressor
            With this model's parameters (less the Dask ones) and fitted attributes.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        local = self._local_class()(**self._local_params())
        for name, value in vars(self).items():
            if name.endswith("_") and not name.startswith("__") or name.startswith("_") \
                    and name[1:2] != "_" and name not in ("_on_clock", "_straggle"):
                setattr(local, name, value)
        return local

    def _check_dask_params(self):
        if self.early_stopping and self.sync == "ssp":
            raise ValueError(
                "early_stopping needs sync='average': under 'ssp' no model is the one "
                "every worker has seen at an epoch's end to score. Use tol (the training "
                "loss of every worker's rows), or sync='average'.")
        if self.average:
            raise ValueError(
                "average is not supported on Dask yet: each worker would keep a running "
                "mean of its own iterates; fit the local estimator to average.")
        if self.sync == "average" and self.staleness not in (None, 0):
            raise ValueError("staleness applies to sync='ssp'; leave it at None with "
                             "sync='average'.")

    def _dask_train(self, X, y, sample_weight, coef_init, intercept_init, max_iter,
                    for_partial_fit, classes=None):
        blocks, dtype = to_blocks(X, y, sample_weight)
        classifier = is_classifier(self)
        first_call = not hasattr(self, "coef_")
        with fit_client(self.client) as client:
            local = self._local_class()(**self._local_params())
            parts = Partitions.compute(client, local, blocks, dtype, classifier,
                                       seed=check_random_state(self.random_state).randint(
                                           MAX_INT))
            if self.early_stopping and not any(s["held_out"] for s in parts.summaries):
                raise ValueError("early_stopping holds out no rows: increase "
                                 "validation_fraction or the partitions' size.")
            if not first_call and parts.n_features != self.n_features_in_:
                raise ValueError(
                    f"X has {parts.n_features} features, but {type(self).__name__} is "
                    f"expecting {self.n_features_in_} features as input.")
            self.n_features_in_ = parts.n_features
            if classifier:
                labels = np.unique(np.concatenate([s["labels"] for s in parts.summaries]))
                self._prepare_targets(None, labels, classes, first_call,
                                      partial=for_partial_fit)
                local.classes_ = self.classes_
                local.class_weight = self._global_class_weight(parts)
            n_out = self._n_outputs()
            fresh = getattr(self, "coef_", None) is None or coef_init is not None
            if fresh:
                coef, intercept = self._allocate(n_out, parts.n_features, dtype, coef_init,
                                                 intercept_init)
            else:
                coef, intercept = self._continue_state(dtype)
            if not hasattr(self, "t_"):
                self.t_ = 1.0
            epochs_done = getattr(self, "_epochs_done", 0)
            seeds = check_random_state(self.random_state).randint(MAX_INT, size=n_out)
            plan = make_plan(self, local, parts, self.sync_every, seeds, self.t_, epochs_done)
            clocks = Clocks(plan.schedule, self.sync_every, max_iter, epochs_done,
                            None if for_partial_fit else self.tol, self.n_iter_no_change,
                            parts.n_total, by_score=bool(self.early_stopping))
            model = {"coef": coef, "intercept": intercept}
            if self.sync == "average":
                model, history, n_clocks, clocks = train_average(
                    client, parts, plan, clocks, model, self.verbose, self._on_clock,
                    self._straggle)
            else:
                model, history, n_clocks = train_ssp(
                    client, parts, plan, clocks, model, self.staleness, self._straggle,
                    self.verbose, self._on_clock)
        n_iter = clocks.epochs_after(n_clocks)
        self.n_iter_ = n_iter
        self.t_ += n_iter * parts.n_total
        self._epochs_done = epochs_done + n_iter
        self.history_ = history
        self.loss_curve_ = [loss / parts.n_total for loss in clocks.losses] \
            if self.sync == "average" else [loss / parts.n_total for loss in history["losses"]]
        self._publish(model["coef"], model["intercept"], None)
        return self

    def _global_class_weight(self, parts):
        """``class_weight`` with 'balanced' computed over every partition's labels."""
        if self.class_weight != "balanced":
            return self.class_weight
        counts = dict.fromkeys(self.classes_.tolist(), 0)
        for s in parts.summaries:
            for label, n in zip(s["labels"].tolist(), s["counts"].tolist()):
                counts[label] += n
        total = sum(counts.values())
        return {c: total / (len(counts) * n) if n else 1.0 for c, n in counts.items()}

    # ---------------------------------------------------------------- fit
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit on the workers that hold X's partitions.

        Parameters
        ----------
        X : dask array of shape (n_samples, n_features), or dask DataFrame
            Row blocks of ``scipy.sparse`` CSR matrices or NumPy arrays.
        y : dask array of shape (n_samples,), or dask Series
        coef_init, intercept_init : ndarray, default=None
        sample_weight : dask array of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        import warnings

        self._validate_params()
        with self._all_or_nothing():
            self._more_validate_params()
            self._check_dask_params()
            if self.warm_start and getattr(self, "coef_", None) is not None:
                if coef_init is None and intercept_init is None:
                    coef_init, intercept_init = self._continue_state(self.coef_.dtype)
            self._reset()
            self._dask_train(X, y, sample_weight, coef_init, intercept_init, self.max_iter,
                             for_partial_fit=False)
            if self.tol is not None and self.n_iter_ == self.max_iter and self.max_iter > 1:
                warnings.warn(
                    "Maximum number of iteration reached before convergence. "
                    "Consider increasing max_iter to improve the fit.", ConvergenceWarning)
            return self

    def _dask_partial_fit(self, X, y, classes, sample_weight):
        self._validate_params()
        with self._all_or_nothing():
            self._more_validate_params(for_partial_fit=True)
            self._check_dask_params()
            return self._dask_train(X, y, sample_weight, None, None, 1, for_partial_fit=True,
                                    classes=classes)

    # --------------------------------------------------------- predictions
    def _lazy(self, method, X, n_columns=None, dtype=np.float64):
        import dask

        X = _as_dask_array(X, "X", 2)
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        model = dask.delayed(self.to_local(), pure=True)
        if n_columns is None:
            return X.map_blocks(_call, model, method, drop_axis=1, dtype=dtype,
                                meta=np.empty(0, dtype=dtype))
        return X.map_blocks(_call, model, method, chunks=(X.chunks[0], (n_columns,)),
                            dtype=dtype, meta=np.empty((0, n_columns), dtype=dtype))

    @staticmethod
    def _is_dask(X):
        import dask

        return dask.is_dask_collection(X)


class DaskHogwildClassifier(DaskHogwildMixin, HogwildClassifier):
    """:class:`~hogwild.HogwildClassifier` trained across the workers of a Dask cluster.

    Every parameter of ``HogwildClassifier`` (``n_jobs`` counts OpenMP
    threads per worker), plus:

    Parameters
    ----------
    client : distributed.Client, default=None
        Where to train. None: ``distributed.default_client()``, or where there
        is none a ``LocalCluster`` on 127.0.0.1 started for the fit and
        closed after it.
    sync : {'average', 'ssp'}, default='average'
        'average': every round, each worker trains ``sync_every`` epochs of
        its own rows from the current model, and the changes merge with the
        threads' rule. 'ssp': a parameter server (Dask Actor) holds the
        model; workers push a change after each clock and never run more
        than ``staleness`` clocks ahead of the slowest.
    staleness : int or None, default=None
        'ssp' only: 0 is bulk synchronous; None never waits (fully
        asynchronous, and pulls the model every clock).
    sync_every : float, default=1.0
        Epochs of each worker's rows per round or clock; 0.25 is a quarter
        of its rows.

    The other parameters are ``HogwildClassifier``'s. ``early_stopping``
    holds out ``validation_fraction`` of every partition and scores the
    merged model on all of them at each epoch's end (``sync='average'``
    only); ``average`` (averaged SGD) is not supported on Dask yet (a clear
    error).

    Attributes
    ----------
    history_ : list of dict or dict
        'average': per round, its seconds, loss, rows, workers and bytes
        moved. 'ssp': the server's record (clock starts, pulls, losses).
    loss_curve_ : list of float
        Mean training loss of each epoch.

    Examples
    --------
    >>> from distributed import Client, LocalCluster      # doctest: +SKIP
    >>> client = Client(LocalCluster(host="127.0.0.1"))    # doctest: +SKIP
    >>> X, y = read_svmlight_files(["part0.svm", "part1.svm"], n_features=2**20)  # doctest: +SKIP
    >>> DaskHogwildClassifier(loss="log_loss").fit(X, y).to_local()  # doctest: +SKIP
    """

    _parameter_constraints = {**HogwildClassifier._parameter_constraints,
                              **DaskHogwildMixin._dask_constraints}

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
        client=None,
        sync="average",
        staleness=None,
        sync_every=1.0,
    ):
        super().__init__(
            loss=loss, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, shuffle=shuffle,
            verbose=verbose, epsilon=epsilon, n_jobs=n_jobs, random_state=random_state,
            learning_rate=learning_rate, eta0=eta0, power_t=power_t,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, class_weight=class_weight,
            warm_start=warm_start, average=average, backoff=backoff, strategy=strategy)
        self.client = client
        self.sync = sync
        self.staleness = staleness
        self.sync_every = sync_every

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over the workers' rows; ``classes`` is required on the first call."""
        return self._dask_partial_fit(X, y, classes, sample_weight)

    def decision_function(self, X):
        """Confidence scores: lazy (a dask array) for dask input."""
        if not self._is_dask(X):
            return super().decision_function(X)
        n = None if len(self.classes_) == 2 else len(self.classes_)
        return self._lazy("decision_function", X, n)

    def predict(self, X):
        """Class labels: lazy (a dask array) for dask input."""
        if not self._is_dask(X):
            return super().predict(X)
        return self._lazy("predict", X, None, dtype=self.classes_.dtype)

    def predict_proba(self, X):
        """Probability estimates (log_loss, modified_huber): lazy for dask input."""
        self._check_proba()
        if not self._is_dask(X):
            return super().predict_proba(X)
        return self._lazy("predict_proba", X, len(self.classes_))

    def predict_log_proba(self, X):
        """Log of the probability estimates: lazy for dask input."""
        self._check_proba()
        if not self._is_dask(X):
            return super().predict_log_proba(X)
        return self._lazy("predict_log_proba", X, len(self.classes_))


class DaskHogwildRegressor(DaskHogwildMixin, HogwildRegressor):
    """:class:`~hogwild.HogwildRegressor` trained across the workers of a Dask cluster.

    Every parameter of ``HogwildRegressor``, plus ``client``, ``sync``,
    ``staleness`` and ``sync_every`` as in :class:`DaskHogwildClassifier`.
    """

    _parameter_constraints = {**HogwildRegressor._parameter_constraints,
                              **DaskHogwildMixin._dask_constraints}

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
        client=None,
        sync="average",
        staleness=None,
        sync_every=1.0,
    ):
        super().__init__(
            loss=loss, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, shuffle=shuffle,
            verbose=verbose, epsilon=epsilon, n_jobs=n_jobs, random_state=random_state,
            learning_rate=learning_rate, eta0=eta0, power_t=power_t,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, warm_start=warm_start, average=average,
            backoff=backoff, strategy=strategy)
        self.client = client
        self.sync = sync
        self.staleness = staleness
        self.sync_every = sync_every

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over the workers' rows."""
        return self._dask_partial_fit(X, y, None, sample_weight)

    def predict(self, X):
        """Predicted targets: lazy (a dask array) for dask input."""
        if not self._is_dask(X):
            return super().predict(X)
        return self._lazy("predict", X, None)
