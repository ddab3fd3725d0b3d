"""What the two linear estimators share: parameters, checks, the model's life.

``fit`` and ``partial_fit`` come down to :meth:`BaseHogwild._train`:
validate, build the model buffers and one :class:`~._strategies.Problem`
per output, then one :class:`~._epochs.EpochDriver` per problem (side by
side for one-vs-rest classes), then publish ``coef_`` and ``intercept_``.
"""
import functools
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import SparseCoefMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import _check_sample_weight

from .. import _core, _native
from .._losses import CURVATURE, SCHEDULES
from .._threads import note_team_started, resolve_n_jobs
from .._validation import prediction_data, training_data
from ._epochs import EpochDriver, Schedule, Stopping, train_problems
from ._strategies import (MIN_ROWS_PER_THREAD, KernelRows, ReplicaEpochs, SharedEpochs,
                          sync_rows)

MAX_INT = np.iinfo(np.int32).max

# scikit-learn damps the intercept's step on sparse input (make_dataset); so do we.
SPARSE_INTERCEPT_DECAY = 0.01


def _none_positive(sample_weight, rows, n_samples):
    """Whether given per-row weights hold no positive weight at ``rows``.

    Anything but a 1-D array of ``n_samples`` weights is left to
    ``_check_sample_weight``.
    """
    if sample_weight is None:
        return False
    weights = np.asarray(sample_weight)
    if weights.shape != (n_samples,) or weights.dtype.kind not in "biuf":
        return False
    return not np.any(weights[rows] > 0)


class BaseHogwild(SparseCoefMixin, BaseEstimator):
    """Shared parameters, validation and training of the linear estimators."""

    _parameter_constraints: dict = {
        "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "shuffle": ["boolean"],
        "verbose": ["verbose"],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "learning_rate": [StrOptions(set(SCHEDULES))],
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, None, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "average": [Interval(Integral, 0, None, closed="neither"), "boolean"],
        "n_jobs": [
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "backoff": [Interval(Real, 0, 1, closed="right")],
        "strategy": [StrOptions({"replicas", "shared"})],
    }

    # ------------------------------------------------------------ checks
    def _more_validate_params(self, for_partial_fit=False):
        if self.early_stopping and for_partial_fit:
            raise ValueError("early_stopping should be False with partial_fit")
        if self.learning_rate == "optimal" and self.alpha == 0:
            raise ValueError(
                "alpha must be > 0 since learning_rate is 'optimal'. alpha is "
                "used to compute the optimal learning rate."
            )
        if self.penalty == "elasticnet" and self.l1_ratio is None:
            raise ValueError("l1_ratio must be set when penalty is 'elasticnet'")

    def _predict_input(self, X):
        """X for prediction: fitted model, right width, sound CSR arrays."""
        return prediction_data(self, X)

    def _linear_scores(self, X):
        # coef_ is published Fortran-ordered, so coef_.T is C-contiguous and
        # scipy's sparse product reads it in place instead of copying it.
        X = self._predict_input(X)
        return safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_

    # ------------------------------------------------------- what to run
    def _penalty_strengths(self):
        """``(l2, l1)``: ``alpha`` split by the penalty and ``l1_ratio``."""
        if self.penalty is None:
            return 0.0, 0.0
        if self.penalty == "l2":
            return float(self.alpha), 0.0
        if self.penalty == "l1":
            return 0.0, float(self.alpha)
        r = float(self.l1_ratio)
        return float(self.alpha) * (1.0 - r), float(self.alpha) * r

    def _strategy(self):
        """The strategy of a problem with several threads: averaging needs the shared buffer.

        A problem with one thread (after ``_driver``'s rows-per-thread rule)
        runs on replicas, averaged or not, unless ``strategy="shared"``.
        """
        return "shared" if (self.strategy == "shared" or self.average) else "replicas"

    def _average_start(self):
        return int(self.average) if self.average else 0

    def _kernel_params(self, rows, schedule, n_threads, for_partial_fit):
        """The kernel's parameters for one problem of this fit."""
        l2, l1 = self._penalty_strengths()
        return _core.SGDParams(
            loss=_native.LOSSES[self.loss], epsilon=float(self.epsilon),
            schedule=schedule.code, eta=schedule.eta0, power_t=schedule.power_t,
            alpha=schedule.alpha, optimal_init=schedule.optimal_init, l2=l2, l1=l1,
            curvature=CURVATURE[self.loss],
            intercept_decay=1.0 if rows.dense else SPARSE_INTERCEPT_DECAY,
            fit_intercept=bool(self.fit_intercept),
            # the epoch's loss feeds the tol rule and verbose lines; otherwise
            # the replica kernel returns a cheaper overflow sentinel instead
            need_loss=bool(self.verbose) or (
                not for_partial_fit and self.tol is not None and not self.early_stopping),
            n_threads=n_threads, sync_rows=sync_rows(rows, n_threads),
        )

    # ------------------------------------------------------- model state
    def _allocate(self, n_out, n_features, dtype, coef_init, intercept_init):
        """Fresh (or initialised) model buffers; never aliases the caller's arrays."""
        if coef_init is not None:
            coef_init = np.asarray(coef_init, dtype=dtype)
            if coef_init.size != n_out * n_features or (
                coef_init.ndim == 2 and coef_init.shape != (n_out, n_features)
            ):
                raise ValueError("Provided coef_init does not match dataset.")
            coef = np.array(coef_init, dtype=dtype, order="C", copy=True)
            coef = coef.reshape(n_out, n_features)
        else:
            coef = np.zeros((n_out, n_features), dtype=dtype, order="C")
        if intercept_init is not None:
            intercept_init = np.asarray(intercept_init, dtype=dtype).reshape(-1)
            if intercept_init.shape != (n_out,):
                raise ValueError("Provided intercept_init does not match dataset.")
            intercept = np.array(intercept_init, dtype=dtype, copy=True)
        else:
            intercept = np.zeros(n_out, dtype=dtype)
        return coef, intercept

    def _continue_state(self, dtype):
        """The SGD iterate to continue from, as fresh C-ordered copies."""
        if self.average:
            coef, intercept = self._standard_coef, self._standard_intercept
        else:
            coef, intercept = self.coef_, self.intercept_
        if sp.issparse(coef):
            coef = coef.toarray()
        coef = np.array(coef, dtype=dtype, order="C", copy=True)
        return coef.reshape(-1, coef.shape[-1]), np.array(intercept, dtype=dtype).reshape(-1)

    def _average_state(self, coef, intercept, fresh):
        if not self.average:
            return None
        if not fresh and getattr(self, "_average_coef", None) is not None:
            return (
                np.array(self._average_coef, dtype=coef.dtype, order="C").reshape(coef.shape),
                np.array(self._average_intercept, dtype=coef.dtype).reshape(-1),
                np.array(self._average_stamp, dtype=np.int64, order="C"),
            )
        start = self._average_start()
        return (
            np.zeros_like(coef),
            np.zeros_like(intercept),
            np.full(coef.shape, start - 1, dtype=np.int64),
        )

    def _publish(self, coef, intercept, average):
        """Set coef_ / intercept_ (and the averaging state) after training."""
        if average is not None:
            avg_coef, avg_intercept, avg_stamp = average
            self._standard_coef, self._standard_intercept = coef, intercept
            self._average_coef, self._average_intercept = avg_coef, avg_intercept
            self._average_stamp = avg_stamp
            if self._average_start() <= self.t_ - 1:
                coef, intercept = avg_coef, avg_intercept
        self.coef_, self.intercept_ = self._shape_coef(coef), intercept

    def _shape_coef(self, coef):
        # one copy per fit, so that no prediction copies coef_ (see _linear_scores)
        return np.asfortranarray(coef)

    # ---------------------------------------------------------- training
    def _split(self, n_samples, y):
        """Training rows and the early-stopping validation rows, as scikit-learn splits them."""
        all_rows = np.arange(n_samples, dtype=np.int64)
        if not self.early_stopping:
            return all_rows, None
        train_idx, val_idx = train_test_split(
            all_rows,
            test_size=self.validation_fraction,
            random_state=self.random_state,
            stratify=y if is_classifier(self) else None,
        )
        if len(val_idx) < 2:
            raise ValueError(
                f"The validation set of {len(val_idx)} rows is too small for "
                "early stopping; increase validation_fraction or the data."
            )
        return np.sort(train_idx), np.sort(val_idx)

    def _validation_score(self, prob, validation, t):
        """The estimator's score on the held-out rows, with the current model."""
        X_val, y_val, sw_val = validation
        coef, intercept = prob.coef, prob.intercept
        if prob.average is not None and self._average_start() <= t - 1:
            coef, intercept = prob.average[0], prob.average[1]
        scores = safe_sparse_dot(X_val, coef) + intercept[0]
        return self._score_problem(prob, scores, y_val, sw_val)

    def _driver(self, prob, seed, rows, train_idx, n_threads, *, schedule, inv_freq,
                validation, for_partial_fit, on_chunk=None):
        """The epoch driver of one problem: its kernel parameters, strategy and rules.

        Parameters
        ----------
        prob : Problem
        seed : int
            Of the problem's shuffles.
        rows : KernelRows
        train_idx : ndarray of int
            The rows an epoch visits.
        n_threads : int
            Threads for this problem (replicas: fewer on few rows).
        schedule : Schedule
        inv_freq : ndarray or None
            ``rows.inv_freq(train_idx)``, for the shared strategy (None
            when no problem of the fit can use it).
        validation : tuple of (X, y, sample_weight) or None
            Held-out rows for early stopping.
        for_partial_fit : bool
        on_chunk : callable, default=None
            The driver's per-chunk hook.

        Returns
        -------
        driver : EpochDriver
        """
        if self.strategy != "shared":
            # below MIN_ROWS_PER_THREAD rows a thread, fewer threads
            n_threads = max(1, min(n_threads, len(train_idx) // MIN_ROWS_PER_THREAD))
        # averaging with one thread is scikit-learn's averaged SGD, on replicas
        shared = self.strategy == "shared" or (bool(self.average) and n_threads > 1)
        if n_threads > 1:
            note_team_started()
        params = self._kernel_params(rows, schedule, n_threads, for_partial_fit)
        if shared:
            strategy = SharedEpochs(prob, rows, params, inv_freq, self._average_start())
        else:
            strategy = ReplicaEpochs(prob, rows, params, self._average_start())
        score = None if validation is None else functools.partial(
            self._validation_score, prob, validation)
        stopping = Stopping(tol=None if for_partial_fit else self.tol,
                            n_iter_no_change=self.n_iter_no_change,
                            adaptive=self.learning_rate == "adaptive", score=score)
        return EpochDriver(strategy, train_idx, seed=seed, shuffle=self.shuffle,
                           schedule=schedule, stopping=stopping, verbose=self.verbose,
                           on_chunk=on_chunk)

    def _train(self, X, y, sample_weight, coef_init, intercept_init, max_iter,
               for_partial_fit):
        """Shared body of fit and partial_fit once X and y are validated."""
        n_samples, n_features = X.shape
        n_out = self._n_outputs()
        # As scikit-learn's SGD: the early-stopping split draws from
        # random_state itself, then each problem's seed is drawn from it (an
        # integer random_state gives the same seeds with or without a split)
        train_idx, val_idx = self._split(n_samples, y)
        draws = check_random_state(self.random_state).randint(MAX_INT, size=n_out).tolist()
        if not is_classifier(self):
            # scikit-learn's regressors refuse weights that are all zero
            # first, its classifiers look at the held-out rows' first
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        if val_idx is not None and _none_positive(sample_weight, val_idx, n_samples):
            raise ValueError(
                "The sample weights for validation set are all zero, consider using a "
                "different random state."
            )
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
        fresh = getattr(self, "coef_", None) is None or coef_init is not None
        if fresh:
            coef, intercept = self._allocate(
                n_out, n_features, X.dtype, coef_init, intercept_init
            )
        else:
            coef, intercept = self._continue_state(X.dtype)
            if coef.shape[1] != n_features:
                raise ValueError(
                    f"Number of features {n_features} does not match previous "
                    f"data {coef.shape[1]}."
                )
        if not hasattr(self, "t_"):
            self.t_ = 1.0
        average = self._average_state(coef, intercept, fresh)
        problems = self._problems(y, sample_weight, coef, intercept, average, X.dtype)
        validation = None
        if val_idx is not None:
            validation = (X[val_idx], y[val_idx], sample_weight[val_idx])
        rows = KernelRows(X)
        n_threads = resolve_n_jobs(self.n_jobs)
        may_share = self.strategy == "shared" or (
            self._strategy() == "shared" and n_threads > 1
            and len(train_idx) >= 2 * MIN_ROWS_PER_THREAD)
        inv_freq = rows.inv_freq(train_idx) if may_share else None
        schedule = Schedule.make(self.learning_rate, self.eta0, self.power_t, self.alpha,
                                 self.backoff, _native.LOSSES[self.loss], self.epsilon)
        epochs_done = getattr(self, "_epochs_done", 0)

        def train(problem_and_seed, n_threads, on_chunk):
            driver = self._driver(*problem_and_seed, rows, train_idx, n_threads,
                                  schedule=schedule, inv_freq=inv_freq, validation=validation,
                                  for_partial_fit=for_partial_fit, on_chunk=on_chunk)
            try:
                return driver.run(max_iter, float(self.t_), epochs_done).n_epochs
            finally:
                driver.close()

        seeds = draws
        n_iter = max(train_problems(train, list(zip(problems, seeds)), n_threads))
        self.n_iter_ = n_iter
        self.t_ += n_iter * n_samples
        self._epochs_done = epochs_done + n_iter
        self._publish(coef, intercept, average)
        return self

    @contextmanager
    def _all_or_nothing(self):
        """Leave the estimator as it was if the block raises (or Ctrl-C hits).

        fit and partial_fit build the new model in fresh buffers and publish
        it at the end, so restoring the attribute dict restores everything.
        """
        saved = self.__dict__.copy()
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit(self, X, y, coef_init, intercept_init, sample_weight):
        with self._all_or_nothing():
            self._more_validate_params()
            if self.warm_start and getattr(self, "coef_", None) is not None:
                if coef_init is None and intercept_init is None:
                    coef_init, intercept_init = self._continue_state(self.coef_.dtype)
            self._reset()
            X, y = training_data(self, X, y, reset=True)
            y = self._prepare_targets(X, y, classes=None, first_call=True)
            self._train(X, y, sample_weight, coef_init, intercept_init,
                        self.max_iter, for_partial_fit=False)
            if self.tol is not None and self.n_iter_ == self.max_iter:
                warnings.warn(
                    "Maximum number of iteration reached before convergence. "
                    "Consider increasing max_iter to improve the fit.",
                    ConvergenceWarning,
                )
            if self.power_t < 0:
                # scikit-learn's SGD estimators warn so after fit (not
                # partial_fit) from 1.8 on; a drop-in says the same
                warnings.warn(
                    "Negative values for `power_t` are deprecated in version 1.8 "
                    "and will raise an error in 1.10. "
                    "Use values in the range [0.0, inf) instead.",
                    FutureWarning,
                )
            return self

    def _reset(self):
        for name in ("coef_", "intercept_", "classes_", "t_", "_epochs_done",
                     "_standard_coef", "_standard_intercept", "_average_coef",
                     "_average_intercept", "_average_stamp"):
            if hasattr(self, name):
                delattr(self, name)

    def _partial_fit(self, X, y, classes, sample_weight):
        with self._all_or_nothing():
            self._more_validate_params(for_partial_fit=True)
            first_call = not hasattr(self, "coef_")
            X, y = training_data(self, X, y, reset=first_call)
            if not first_call and X.dtype != self.coef_.dtype:
                # The model keeps the dtype it was started with.
                X = X.astype(self.coef_.dtype)
            y = self._prepare_targets(X, y, classes=classes, first_call=first_call,
                                      partial=True)
            return self._train(X, y, sample_weight, None, None, 1, for_partial_fit=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # With the shared strategy several threads race on one weight buffer
        # by design (Hogwild!): results differ from run to run unless n_jobs=1.
        # Replicas never share a write and are reproducible.
        tags.non_deterministic = self.n_jobs != 1 and self._strategy() == "shared"
        return tags
