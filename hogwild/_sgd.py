"""Drop-in replacements for scikit-learn's ``SGDClassifier`` and ``SGDRegressor``.

The native kernel (``_core.sgd_epoch``) runs one epoch of lock-free parallel
SGD. Everything else lives here, in Python, between kernel calls: input
validation, learning-rate schedules, stopping rules, averaging bookkeeping,
divergence checks and the one-vs-rest fan-out of multiclass problems.
"""
import functools
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin, SparseCoefMixin
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import _core
from ._threads import note_team_started, resolve_n_jobs

CLASSIFICATION_LOSSES = ("hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron")
REGRESSION_LOSSES = ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")
SCHEDULES = ("constant", "optimal", "invscaling", "adaptive", "backoff")
MAX_INT = np.iinfo(np.int32).max


def _seed_draws(random_state, n):
    """The first ``n`` draws of ``randint(MAX_INT)`` from ``random_state``.

    scikit-learn's seeding, with the draws of an integer ``random_state``
    kept: building its ``RandomState`` costs 90 us, a tenth of a
    ``partial_fit`` call on 1,000 rows of news20.
    """
    if isinstance(random_state, Integral):
        return _int_seed_draws(int(random_state), n)
    return tuple(check_random_state(random_state).randint(MAX_INT, size=n).tolist())


@functools.lru_cache(maxsize=64)
def _int_seed_draws(seed, n):
    return tuple(np.random.RandomState(seed).randint(MAX_INT, size=n).tolist())


def _epoch_seed(seed, epoch):
    """The ``_core.shuffle`` seed of a problem's epoch: one per (seed, epoch).

    Built without a RandomState, which costs 90 us to create (1.8 ms a fit
    with 20 one-vs-rest classes). The shuffle's SplitMix64 streams from seeds
    this far apart do not meet in practice.
    """
    return (int(seed) << 32) | (epoch & 0xFFFFFFFF)


# scikit-learn damps the intercept's step on sparse input (make_dataset); so do we.
SPARSE_INTERCEPT_DECAY = 0.01

# A bound on each loss's second derivative in the prediction, for the replica
# merge's saturation (``_core.sgd_epoch_replicas``). The piecewise-linear
# losses have none, so for them it was measured (hinge, 2 threads, best
# objective gap in 40 epochs, news20 / generated data): 0, a plain sum of the
# replicas' changes, went to chance accuracy on the generated data; 1 gave
# 25.8% / 1.17%, 4 gave 19.6% / 1.17%, 16 gave 19.1% / 1.19%; one thread
# 21.2% / 1.35%.
CURVATURE = {
    "log_loss": 0.25, "squared_error": 1.0, "huber": 1.0,
    "squared_epsilon_insensitive": 1.0, "modified_huber": 2.0, "squared_hinge": 2.0,
    "hinge": 4.0, "perceptron": 4.0, "epsilon_insensitive": 4.0,
}

# An epoch is cut into kernel calls of about this many non-zeros (tens of
# milliseconds), so that Python regains control often: Ctrl-C and the stop
# signal of one-vs-rest threads take effect between calls.
CHUNK_NNZ = 1 << 24

# index dtypes the kernels read in place (native byte order)
_NATIVE_INDEX = (np.dtype(np.int32), np.dtype(np.int64))


class _Stopped(Exception):
    """A one-vs-rest worker thread stopped because the fit was interrupted."""


def _checked_csr(X, canonical=False):
    """X's CSR arrays, checked so that nothing out of range reaches native code.

    With ``canonical``, also sorted and free of repeated indices within each
    row, as the epoch kernels need: a copy with the duplicates summed if not.
    Returns X itself when its arrays pass ``_core.csr_status`` as they are;
    otherwise a new matrix object: scipy's checks (which name the problem)
    may unify index dtypes or byte order, and must do it on ours, not the
    caller's.
    """
    n_stored = (X.data.shape[0], X.indices.shape[0])
    if X.indptr.shape[0] != X.shape[0] + 1 or X.indptr[-1] != n_stored[1]:
        # scipy would silently drop the values past indptr[-1]; such a matrix
        # was built wrong, so say so rather than guess
        raise ValueError(
            f"Malformed CSR matrix: indptr has {X.indptr.shape[0]} entries ending at "
            f"{X.indptr[-1]}, but the matrix has {X.shape[0]} rows and "
            f"{n_stored[1]} stored indices (it must have n_rows + 1 entries "
            "ending at the number of stored values)."
        )
    if not (n_stored[0] == n_stored[1] and X.indices.dtype == X.indptr.dtype
            and X.indices.dtype in _NATIVE_INDEX and X.indices.flags.c_contiguous
            and X.indptr.flags.c_contiguous and X.data.flags.c_contiguous):
        # Arrays the kernels cannot take as they are: scipy's checks name any
        # problem (data and indices of one length, ...) and unify the index
        # arrays, on a new matrix object over the caller's arrays.
        X = type(X)((X.data, X.indices, X.indptr), shape=X.shape)
        X.check_format(full_check=True)
        X.data, X.indices, X.indptr = (np.ascontiguousarray(a)
                                       for a in (X.data, X.indices, X.indptr))
    status = _core.csr_status(X.indices, X.indptr, X.shape[1])
    if status == _core.CSR_MALFORMED:
        # scipy's message names the problem (indices out of range, indptr
        # decreasing)...
        type(X)((X.data, X.indices, X.indptr), shape=X.shape).check_format(full_check=True)
        # ...but it skips indptr's order when no value is stored, and its own
        # product then reads past the empty arrays
        drops = np.flatnonzero(np.diff(X.indptr) < 0)
        raise ValueError(
            "Malformed CSR matrix: indptr must be non-decreasing"
            + (f"; it decreases after row {drops[0]}." if drops.size else
               f" and every column index within [0, {X.shape[1]}).")
        )
    if status == _core.CSR_UNSORTED and canonical:
        X = X.copy()
        X.sum_duplicates()  # and sorts the indices
    return X


def _plainly_same_labels(classes, known):
    """Whether ``classes`` are plainly the numeric labels ``known`` already holds.

    partial_fit's later calls may pass ``classes`` again. scikit-learn's
    check of them costs 0.15 ms, a fifth of a 1,000-row call on news20; for
    a 1-D numeric array of the same labels its answer is known. Anything
    else (strings, objects, NaN, other labels, None) goes to its check,
    which names the problem.
    """
    if classes is None:
        return False
    c = np.asarray(classes)
    return (c.ndim == 1 and c.dtype.kind in "biuf" and known.dtype.kind in "biuf"
            and np.array_equal(np.unique(c), known))


class _Rows:
    """X as the kernel reads it: CSR arrays, or a dense C-ordered X raveled.

    Built once per fit without copying X.
    """

    def __init__(self, X):
        self.n_samples, self.n_features = X.shape
        self.dense = not sp.issparse(X)
        self.X = X
        if self.dense:
            self.data = X.reshape(-1)
            self.indices = self.indptr = np.empty(0, dtype=np.int32)
        else:
            self.data, self.indices, self.indptr = X.data, X.indices, X.indptr

    def mean_square(self, out=None):
        """Mean of ``x_u ** 2`` per column, over at most 1,024 evenly spread rows."""
        return _core.column_mean_square(self.data, self.indices, self.indptr, self.dense,
                                        self.n_features, out=out)

    def inv_freq(self, rows):
        """``n / d_u`` for the given rows: each row's share of the penalty."""
        if self.dense:
            X = self.X if len(rows) == self.n_samples else self.X[rows]
            counts = np.count_nonzero(X, axis=0)
        else:
            # Block by block: bincount casts the indices to intp, and casting
            # all of them at once would cost as much memory as X's indices.
            # Blocks of ~max(2^18, n_features) values keep the extra memory
            # O(n_features), like the model's, and the passes few.
            every_row = len(rows) == self.n_samples
            if not every_row:
                mask = np.zeros(self.n_samples, dtype=bool)
                mask[rows] = True
            counts = np.zeros(self.n_features, dtype=np.int64)
            nnz = max(1, self.indices.shape[0])
            block = max(1, max(1 << 18, self.n_features) * self.n_samples // nnz)
            for start in range(0, self.n_samples, block):
                stop = min(start + block, self.n_samples)
                touched = self.indices[self.indptr[start]:self.indptr[stop]]
                if not every_row:
                    touched = touched[np.repeat(mask[start:stop],
                                                np.diff(self.indptr[start:stop + 1]))]
                counts += np.bincount(touched, minlength=self.n_features)
        inv = np.zeros(self.n_features, dtype=self.data.dtype)
        np.divide(len(rows), counts, out=inv, where=counts > 0, casting="unsafe")
        return inv


class _ScratchPool:
    """Scratch memory kept from one fit to the next: one buffer, at most LIMIT bytes.

    glibc gives the top of its heap back to the system as soon as more than
    128 KiB of it is free, so memory allocated afresh for every fit costs a
    page fault per 4 KiB on first touch: 3 us a fault on this VM, 770 faults
    and 4 ms in a 2-thread fit of news20 (1 MB of replicas, 0.5 MB of column
    statistics), a sixth of a 10-epoch fit. The pool keeps the largest
    buffer given back. Taking empties it, so concurrent fits (one-vs-rest
    threads) never share a buffer: the ones that find it empty allocate.
    Beyond LIMIT (a million features with two threads) a fit's epochs dwarf
    the faults, and holding the memory would cost more than it saves.
    """

    LIMIT = 16 << 20
    ALIGN = 64  # each array starts on its own cache line

    def __init__(self):
        self._lock = threading.Lock()
        self._spare = None

    def take(self, specs):
        """``(buffer, arrays)``: uninitialised arrays of the given ``(shape, dtype)``s.

        Give the buffer back with :meth:`give` once the arrays are dead.
        """
        specs = [(shape, np.dtype(dtype)) for shape, dtype in specs]
        nbytes = [int(np.prod(shape)) * dtype.itemsize for shape, dtype in specs]
        spans = [-(-n // self.ALIGN) * self.ALIGN for n in nbytes]  # rounded up
        need = sum(spans) + self.ALIGN
        with self._lock:
            buffer, self._spare = self._spare, None
        if buffer is None or buffer.nbytes < need:
            buffer = np.empty(need, dtype=np.uint8)
        start = -buffer.ctypes.data % self.ALIGN
        arrays = []
        for (shape, dtype), n, span in zip(specs, nbytes, spans):
            arrays.append(buffer[start:start + n].view(dtype).reshape(shape))
            start += span
        return buffer, arrays

    def give(self, buffer):
        """Keep ``buffer`` for the next :meth:`take` if it is the largest offered."""
        if buffer.nbytes > self.LIMIT:
            return
        with self._lock:
            if self._spare is None or self._spare.nbytes < buffer.nbytes:
                self._spare = buffer


_SCRATCH = _ScratchPool()


class _Problem:
    """One binary (or regression) problem: its targets, weights and model rows."""

    def __init__(self, y, sample_weight, coef, intercept, average, label=None):
        self.label = label  # the one-vs-rest positive class, for classifiers
        self.y = y
        self.sample_weight = sample_weight
        self.coef = coef  # 1-D views into the estimator's (k, n_features) buffers
        self.intercept = intercept
        self.average = average  # (avg_coef, avg_intercept, avg_stamp) or None


class _SharedEpochs:
    """Epochs on one weight buffer shared by all threads (the Hogwild! paper).

    L2 is the paper's sparse 1/d_u scheme; L1 the lazy cumulative penalty;
    averaging is supported.
    """

    def __init__(self, est, prob, rows, inv_freq, n_threads, common):
        self.prob, self.rows, self.inv_freq = prob, rows, inv_freq
        self.n_threads, self.common = n_threads, common
        self.l2, self.l1 = est._penalty_strengths()
        dtype = rows.data.dtype
        # Cumulative L1 state (Tsuruoka et al.), per call as in scikit-learn.
        self.l1_total = 0.0
        self.l1_received = np.zeros(rows.n_features if self.l1 > 0 else 0, dtype=dtype)
        if prob.average is not None:
            self.avg = prob.average
        else:
            self.avg = (np.empty(0, dtype=dtype), np.empty(0, dtype=dtype),
                        np.empty(0, dtype=np.int64))
        self.avg_start = est._average_start()
        self.est = est

    def __call__(self, order, eta, t):
        prob, rows, c = self.prob, self.rows, self.common
        l1_cumulative = np.empty(0)
        if self.l1 > 0:
            steps = self.est._step_sizes(eta, c["optimal_init"], t, len(order))
            l1_cumulative = self.l1_total + np.cumsum(steps * self.l1)
            self.l1_total = float(l1_cumulative[-1])
        sumloss = _core.sgd_epoch(
            rows.data, rows.indices, rows.indptr, rows.dense, rows.n_features,
            prob.y, prob.sample_weight, order, prob.coef, prob.intercept,
            self.inv_freq, *self.avg, self.avg_start,
            c["loss"], c["epsilon"], c["schedule"], eta, c["power_t"], c["alpha"],
            c["optimal_init"], self.l2, l1_cumulative, self.l1_received, c["decay"],
            c["fit_intercept"], t, self.n_threads,
        )
        if prob.average is not None:
            _flush_average(prob.coef, prob.intercept, *prob.average, self.avg_start,
                           int(t) + len(order) - 1)
        return sumloss

    def release(self):
        """Nothing to give back: the shared epochs keep no scratch memory."""


class _ReplicaEpochs:
    """Epochs with one private, scaled weight replica per thread.

    The kernel merges the replicas into the model at barriers inside each
    epoch (see ``_core.sgd_epoch_replicas``) and leaves every replica equal
    to the model, so they are filled once, here. With one thread the replica
    is the model itself: sequential SGD with exact L2, as in scikit-learn.
    Averaging is not supported (it runs on ``_SharedEpochs``).
    """

    def __init__(self, est, prob, rows, inv_freq, n_threads, common):
        self.prob, self.rows, self.n_threads, self.common = prob, rows, n_threads, common
        self.l2, self.l1 = est._penalty_strengths()
        dtype, n = rows.data.dtype, rows.n_features
        self.scratch = None
        if n_threads == 1:
            self.replicas = prob.coef[np.newaxis, :]  # the model itself, no copy
            self.col_sq = np.zeros(0)
        else:
            self.scratch, (self.replicas, self.col_sq) = _SCRATCH.take(
                [((n_threads, n), dtype), ((n,), np.float64)])
            self.replicas[:] = prob.coef
            rows.mean_square(out=self.col_sq)
        self.state = np.zeros((n_threads, 16))  # 128 bytes per thread
        shape = (n_threads, n) if self.l1 > 0 else (0, 0)
        self.l1_received = np.zeros(shape, dtype=dtype)
        self.curvature = CURVATURE[est.loss]
        nnz_per_row = n if rows.dense else max(1.0, rows.data.shape[0] / max(1, rows.n_samples))
        self.sync_rows = max(int(self.SYNC_WORK * n / nnz_per_row),
                             self.MIN_SYNC_ROWS * n_threads)

    # Replicas merge every SYNC_WORK * n_features non-zeros of work (at least
    # every MIN_SYNC_ROWS rows a thread), so a merge, O(n_features) per thread,
    # costs a small share of the epoch (news20 log_loss, earlier merge rule:
    # every 4 x n_features nnz 4.3 ms an epoch, 64 x 2.5 ms, once per epoch
    # 2.2 ms). The saturation-weighted merge needed fewer epochs at 64 x than
    # at 8 x on news20 (22 vs 24 to 0.1% of the optimum; docs/benchmarks.md).
    SYNC_WORK = 64
    MIN_SYNC_ROWS = 32
    MIN_ROWS_PER_THREAD = 128

    def __call__(self, order, eta, t):
        prob, rows, c, state = self.prob, self.rows, self.common, self.state
        sumloss = _core.sgd_epoch_replicas(
            rows.data, rows.indices, rows.indptr, rows.dense, rows.n_features,
            prob.y, prob.sample_weight, order, prob.coef, prob.intercept,
            self.replicas, state, self.l1_received, self.col_sq, self.sync_rows,
            c["loss"], c["epsilon"], c["schedule"], eta, c["power_t"], c["alpha"],
            c["optimal_init"], self.l2, self.l1, self.curvature, c["decay"],
            c["fit_intercept"], t,
            self.n_threads, c["need_loss"],
        )
        if state[0, 4] == 1:  # a team of one: the replica was never merged
            np.multiply(self.replicas[0], state[0, 0], out=prob.coef, casting="unsafe")
            prob.intercept[0] = state[0, 1]
            if self.n_threads > 1:  # a separate replica: restart it from the model
                self.replicas[0] = prob.coef
        return sumloss

    def release(self):
        """Give the scratch memory back to the pool (the epochs are over)."""
        if self.scratch is not None:
            _SCRATCH.give(self.scratch)
            self.scratch = self.replicas = self.col_sq = None


class _BaseHogwild(SparseCoefMixin, BaseEstimator):
    """Shared parameters, validation and the epoch loop."""

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

    # ------------------------------------------------------------------ checks
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

    def _validate_X(self, X, y, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            accept_large_sparse=True,
            y_numeric=not is_classifier(self),
            reset=reset,
        )
        if sp.issparse(X):
            X = _checked_csr(X, canonical=True)
        return X, y

    def _predict_input(self, X):
        """X for prediction: fitted model, right width, sound CSR arrays."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        return _checked_csr(X) if sp.issparse(X) else X

    def _linear_scores(self, X):
        # coef_ is published Fortran-ordered, so coef_.T is C-contiguous and
        # scipy's sparse product reads it in place instead of copying it.
        X = self._predict_input(X)
        return safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_

    def _penalty_strengths(self):
        if self.penalty is None:
            return 0.0, 0.0
        if self.penalty == "l2":
            return float(self.alpha), 0.0
        if self.penalty == "l1":
            return 0.0, float(self.alpha)
        r = float(self.l1_ratio)
        return float(self.alpha) * (1.0 - r), float(self.alpha) * r

    def _strategy(self):
        """The parallel strategy used: averaging needs the shared buffer."""
        return "shared" if (self.strategy == "shared" or self.average) else "replicas"

    def _average_start(self):
        return int(self.average) if self.average else 0

    # ------------------------------------------------------------ model state
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

    # ------------------------------------------------------------- the loop
    def _schedule(self, loss_code):
        """Kernel schedule code and its constants (optimal_init as sklearn)."""
        if self.learning_rate == "optimal":
            typw = np.sqrt(1.0 / np.sqrt(self.alpha))
            _, dloss = _core.loss_and_derivative(
                loss_code, np.array([-typw]), np.array([1.0]), float(self.epsilon)
            )
            initial_eta0 = typw / max(1.0, dloss[0])
            return _core.SCHEDULES["optimal"], 1.0 / (initial_eta0 * self.alpha)
        if self.learning_rate == "invscaling":
            return _core.SCHEDULES["invscaling"], 0.0
        return _core.SCHEDULES["fixed"], 0.0

    def _step_sizes(self, eta, optimal_init, t, n):
        """The step size of each of the next n steps, as the kernel computes it."""
        steps = t + np.arange(n, dtype=np.float64)
        if self.learning_rate == "optimal":
            return 1.0 / (self.alpha * (optimal_init + steps - 1.0))
        if self.learning_rate == "invscaling":
            return self.eta0 / steps ** self.power_t
        return np.full(n, eta)

    def _run_problems(self, rows, problems, train_idx, validation, max_iter,
                      seeds, for_partial_fit):
        """Fit each problem (one-vs-rest classes, or the one regression).

        Returns the largest number of epochs any problem ran.
        """
        n_threads = resolve_n_jobs(self.n_jobs)
        inv_freq = rows.inv_freq(train_idx) if self._strategy() == "shared" else None
        args = (rows, train_idx, inv_freq, validation, max_iter, for_partial_fit)
        if len(problems) > 1 and n_threads > 1:
            # Classes side by side on Python threads (the kernel releases the
            # GIL), the threads left over split inside each class. Measured on
            # news20 (20 classes, 2 cores): 2.15x over one thread this way,
            # 1.78x with both threads inside each class in turn. With at least
            # as many classes as threads, every class runs on one thread: no
            # write contention, and each class is reproducible.
            workers = min(n_threads, len(problems))
            inner = max(1, n_threads // len(problems))
            stop = threading.Event()
            pool = ThreadPoolExecutor(max_workers=workers)
            try:
                n_iters = list(
                    pool.map(
                        lambda ps: self._sgd_loop(ps[0], *args, ps[1], inner, stop),
                        zip(problems, seeds),
                    )
                )
            except BaseException:
                # Ctrl-C (or an error in one class) reaches the main thread
                # here: tell the other classes to stop at their next chunk.
                stop.set()
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        else:
            n_iters = [
                self._sgd_loop(p, *args, seed, n_threads)
                for p, seed in zip(problems, seeds)
            ]
        return max(n_iters)

    def _sgd_loop(self, prob, rows, train_idx, inv_freq, validation, max_iter,
                  for_partial_fit, seed, n_threads, stop=None):
        """Epochs of one problem: the kernel calls and everything between them.

        ``stop``, a ``threading.Event`` in one-vs-rest worker threads, ends the
        loop at the next chunk once set.
        """
        loss_code = _core.LOSSES[self.loss]
        schedule, optimal_init = self._schedule(loss_code)
        common = dict(
            loss=loss_code, epsilon=float(self.epsilon), schedule=schedule,
            power_t=float(self.power_t), alpha=float(self.alpha),
            optimal_init=optimal_init, fit_intercept=bool(self.fit_intercept),
            decay=1.0 if rows.dense else SPARSE_INTERCEPT_DECAY,
            # the epoch's loss feeds the tol rule and verbose lines; otherwise
            # the replica kernel returns a cheaper overflow sentinel instead
            need_loss=bool(self.verbose) or (
                not for_partial_fit and self.tol is not None and not self.early_stopping
            ),
        )
        Epochs = _SharedEpochs if self._strategy() == "shared" else _ReplicaEpochs
        if Epochs is _ReplicaEpochs:
            # Below MIN_ROWS_PER_THREAD rows a thread, replicas would run most
            # of an epoch blind to each other (and threads cannot pay anyway).
            n_threads = max(1, min(n_threads, len(train_idx) // _ReplicaEpochs.MIN_ROWS_PER_THREAD))
        run_epoch = Epochs(self, prob, rows, inv_freq, n_threads, common)
        if n_threads > 1:
            note_team_started()
        n_train = len(train_idx)
        nnz_per_row = rows.n_features if rows.dense else rows.data.shape[0] / max(1, rows.n_samples)
        n_chunks = max(1, int(np.ceil(n_train * nnz_per_row / CHUNK_NNZ)))
        bounds = np.linspace(0, n_train, n_chunks + 1).astype(np.int64)
        avg_start = self._average_start()
        tol = -np.inf if (self.tol is None or for_partial_fit) else self.tol
        eta = float(self.eta0)
        best_loss, best_score = np.inf, -np.inf
        no_improvement = 0
        t = float(self.t_)
        start_time = time.time()
        epoch = 0
        order = np.array(train_idx, dtype=np.int64)  # shuffled in place each epoch
        for epoch in range(max_iter):
            if self.verbose > 0:
                print(f"-- Epoch {epoch + 1}")
            if self.shuffle:
                # native Fisher-Yates: 22 us on news20's 12,748 rows, 135 for
                # rng.permutation, serial time between the threads' epochs
                _core.shuffle(order, _epoch_seed(seed, epoch))
            if self.learning_rate == "backoff":
                done = getattr(self, "_epochs_done", 0) + epoch
                eta = float(self.eta0) * float(self.backoff) ** done
            sumloss = 0.0
            for start, end in zip(bounds[:-1], bounds[1:]):
                if stop is not None and stop.is_set():
                    raise _Stopped
                sumloss += run_epoch(order[start:end], eta, t + start)
            t += n_train
            # scikit-learn clips the loss derivative, so a too-large step can grow the
            # weights without overflowing them while predictions overflow: check both.
            if not (np.isfinite(sumloss) and np.isfinite(prob.intercept).all()
                    and np.isfinite(prob.coef).all()):
                raise ValueError(
                    f"Floating-point under-/overflow occurred at epoch #{epoch + 1}: "
                    "the model diverged. Use a smaller eta0, a larger alpha, or "
                    "scale the input (StandardScaler, MaxAbsScaler or normalize)."
                )
            if self.verbose > 0:
                w = prob.coef
                print(
                    f"Norm: {np.linalg.norm(w):.2f}, NNZs: {np.count_nonzero(w)}, "
                    f"Bias: {prob.intercept[0]:.6f}, T: {n_train * (epoch + 1)}, "
                    f"Avg. loss: {sumloss / n_train:f}"
                )
                print(f"Total training time: {time.time() - start_time:.2f} seconds.")
            if self.early_stopping:
                score = self._validation_score(prob, validation, avg_start, t)
                if tol > -np.inf and score < best_score + tol:
                    no_improvement += 1
                else:
                    no_improvement = 0
                best_score = max(best_score, score)
            else:
                if tol > -np.inf and sumloss > best_loss - tol * n_train:
                    no_improvement += 1
                else:
                    no_improvement = 0
                best_loss = min(best_loss, sumloss)
            if no_improvement >= self.n_iter_no_change:
                if self.learning_rate == "adaptive" and eta > 1e-6:
                    eta /= 5.0
                    no_improvement = 0
                else:
                    if self.verbose:
                        print(
                            f"Convergence after {epoch + 1} epochs took "
                            f"{time.time() - start_time:.2f} seconds"
                        )
                    break
        run_epoch.release()  # an epoch that raised leaves it to the garbage collector
        return epoch + 1

    def _validation_score(self, prob, validation, avg_start, t):
        """The estimator's score on the held-out rows, with the current model."""
        X_val, y_val, sw_val = validation
        coef, intercept = prob.coef, prob.intercept
        if prob.average is not None and avg_start <= t - 1:
            coef, intercept = prob.average[0], prob.average[1]
        scores = safe_sparse_dot(X_val, coef) + intercept[0]
        return self._score_problem(prob, scores, y_val, sw_val)

    def _split(self, n_samples, y, seed):
        """Training rows and the early-stopping validation rows."""
        all_rows = np.arange(n_samples, dtype=np.int64)
        if not self.early_stopping:
            return all_rows, None
        train_idx, val_idx = train_test_split(
            all_rows,
            test_size=self.validation_fraction,
            random_state=seed,
            stratify=y if is_classifier(self) else None,
        )
        if len(val_idx) < 2:
            raise ValueError(
                f"The validation set of {len(val_idx)} rows is too small for "
                "early stopping; increase validation_fraction or the data."
            )
        return np.sort(train_idx), np.sort(val_idx)

    def _fit_common(self, X, y, sample_weight, coef_init, intercept_init,
                    max_iter, for_partial_fit):
        """Shared body of fit and partial_fit once X and y are validated."""
        n_samples, n_features = X.shape
        n_out = self._n_outputs()
        # a seed for the early-stopping split, then one per problem
        draws = _seed_draws(self.random_state, n_out + bool(self.early_stopping))
        train_idx, val_idx = self._split(n_samples, y, draws[0])
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
        seeds = draws[-len(problems):]
        rows = _Rows(X)
        n_iter = self._run_problems(rows, problems, train_idx, validation,
                                    max_iter, seeds, for_partial_fit)
        self.n_iter_ = n_iter
        self.t_ += n_iter * n_samples
        self._epochs_done = getattr(self, "_epochs_done", 0) + n_iter
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
            return self._fit_body(X, y, coef_init, intercept_init, sample_weight)

    def _fit_body(self, X, y, coef_init, intercept_init, sample_weight):
        self._more_validate_params()
        if self.warm_start and getattr(self, "coef_", None) is not None:
            if coef_init is None and intercept_init is None:
                coef_init, intercept_init = self._continue_state(self.coef_.dtype)
        self._reset()
        X, y = self._validate_X(X, y, reset=True)
        y = self._prepare_targets(X, y, classes=None, first_call=True, classes_from_y=True)
        self._fit_common(X, y, sample_weight, coef_init, intercept_init,
                         self.max_iter, for_partial_fit=False)
        if self.tol is not None and self.n_iter_ == self.max_iter and self.max_iter > 1:
            warnings.warn(
                "Maximum number of iteration reached before convergence. "
                "Consider increasing max_iter to improve the fit.",
                ConvergenceWarning,
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
            return self._partial_fit_body(X, y, classes, sample_weight)

    def _partial_fit_body(self, X, y, classes, sample_weight):
        self._more_validate_params(for_partial_fit=True)
        first_call = not hasattr(self, "coef_")
        X, y = self._validate_X(X, y, reset=first_call)
        if not first_call and X.dtype != self.coef_.dtype:
            # The model keeps the dtype it was started with.
            X = X.astype(self.coef_.dtype)
        y = self._prepare_targets(X, y, classes=classes, first_call=first_call)
        return self._fit_common(X, y, sample_weight, None, None, 1,
                                for_partial_fit=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # With the shared strategy several threads race on one weight buffer
        # by design (Hogwild!): results differ from run to run unless n_jobs=1.
        # Replicas never share a write and are reproducible.
        tags.non_deterministic = self.n_jobs != 1 and self._strategy() == "shared"
        return tags


def _flush_average(coef, intercept, avg_coef, avg_intercept, avg_stamp, start, end):
    """Bring every coordinate's running mean up to step ``end``."""
    if end < start:
        return
    n_old = (avg_stamp - start + 1).astype(coef.dtype)
    gap = np.maximum(end - avg_stamp, 0).astype(coef.dtype)
    total = n_old + gap
    np.divide(avg_coef * n_old + gap * coef, total, out=avg_coef, where=total > 0)
    np.maximum(avg_stamp, end, out=avg_stamp)


class HogwildClassifier(LinearClassifierMixin, ClassifierMixin, _BaseHogwild):
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
        Exponent of the 'invscaling' schedule.
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
        ``average`` always uses 'shared'.

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
        **_BaseHogwild._parameter_constraints,
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

    def _prepare_targets(self, X, y, classes, first_call, classes_from_y=False):
        """Check y's labels against ``classes`` (fit: the classes are y's labels)."""
        try:
            present = np.unique(y)
        except TypeError:  # unorderable labels: let scikit-learn name the problem
            check_classification_targets(y)
            raise
        if first_call and hasattr(self, "classes_"):
            del self.classes_
        if classes_from_y:
            if present.dtype.kind not in "biu":
                # Integer and boolean labels are classes whatever they are;
                # scikit-learn judges the rest (continuous floats, mixed
                # kinds, ...) from the distinct labels, the same verdict as
                # from y without another pass over it (0.1-0.2 ms on news20).
                # Given twice over: asked of the labels alone, it warned that
                # more than 20 of them are "more than 50% of the samples".
                check_classification_targets(np.concatenate([present, present]))
            self.classes_ = present  # sorted and distinct, as unique_labels makes them
        elif first_call or not _plainly_same_labels(classes, self.classes_):
            # scikit-learn's check of ``classes``: its kind on the first call,
            # the same classes after. y's labels must be among them (below),
            # so they are of the same kind.
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
        if self.class_weight is None:  # compute_class_weight takes 0.3 ms to say so
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
                _Problem(yk, swk, coef[k], intercept[k:k + 1], avg, label=positive)
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


class HogwildRegressor(RegressorMixin, _BaseHogwild):
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
        **_BaseHogwild._parameter_constraints,
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

    def _prepare_targets(self, X, y, classes, first_call, classes_from_y=False):
        return y.astype(X.dtype, copy=False)

    def _score_problem(self, prob, scores, y_val, sw_val):
        return r2_score(y_val, scores, sample_weight=sw_val)

    def _shape_coef(self, coef):
        return coef.reshape(-1)

    def _problems(self, y, sample_weight, coef, intercept, average, dtype):
        avg = None
        if average is not None:
            avg = (average[0][0], average[1][0:1], average[2][0])
        return [_Problem(y, sample_weight, coef[0], intercept[0:1], avg)]

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
