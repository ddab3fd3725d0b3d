"""What runs on a Dask worker: a partition made ready, a clock of training, the merge.

Nothing here imports Dask: these are plain functions of NumPy and SciPy
data that the client ships to the workers (``_train.py``), and that tests
can call directly.

A *clock* (a round of ``sync="average"``) is ``sync_every`` epochs of every
partition a worker holds: partition ``p`` of ``n_p`` rows trains positions
``[c f n_p, (c + 1) f n_p)`` of its endless sequence of epochs, each epoch a
shuffle seeded by (problem, partition, epoch). A worker runs its partitions
one after another through the local estimator's epoch driver
(:meth:`~hogwild.linear_model._base.BaseHogwild._driver`, ``run_rows``), with
the same OpenMP kernel and threads as a local fit, starting from the model
it was given, and returns its change.
"""
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils.validation import _check_sample_weight

from .. import _native
from .._losses import CURVATURE
from .._threads import resolve_n_jobs
from .._validation import training_data
from ..linear_model._epochs import Plateau, epoch_seed, train_problems
from ..linear_model._strategies import KernelRows

# Changes travel from the workers as float32: the merge adds them to a float64
# (or the data's float32) model, and a change rounded to 24 bits moves the
# objective far less than a clock of SGD noise (docs/scaling-out.md).
WIRE_DTYPE = np.float32


@dataclass
class Part:
    """One partition on a worker, checked and in the form the kernels read."""

    index: int
    X: object  # canonical CSR or C-ordered ndarray
    y: np.ndarray
    sample_weight: np.ndarray
    train_idx: np.ndarray  # the rows trained on (all but the held-out ones)
    val_idx: object = None  # early stopping's held-out rows, or None
    _inv_freq: object = field(default=None, repr=False)

    @property
    def n_rows(self):
        """Rows trained on."""
        return self.train_idx.shape[0]

    def inv_freq(self):
        """``n / d_u`` over this partition's training rows (the shared strategy's L2), once."""
        if self._inv_freq is None:
            self._inv_freq = KernelRows(self.X).inv_freq(self.train_idx)
        return self._inv_freq


def _plain(block):
    """A DataFrame or Series block as NumPy; anything else as it is."""
    if isinstance(block, (pd.DataFrame, pd.Series)):
        return block.to_numpy()
    return block


def prepare(estimator, index, X, y, sample_weight, dtype, seed=0):
    """A raw block checked as a local ``fit`` checks its data, as a :class:`Part`.

    With ``estimator.early_stopping``, a ``validation_fraction`` of the
    partition's rows is held out (stratified for a classifier where every
    class has two rows), by a split seeded by (``seed``, partition).

    Raises
    ------
    ValueError or TypeError
        Naming the partition and the problem.
    """
    try:
        X, y = _plain(X), _plain(y)
        if y is None or np.ndim(y) != 1 and not (np.ndim(y) == 2 and np.shape(y)[1] == 1):
            raise ValueError(f"y must be one-dimensional; got shape {np.shape(y)}.")
        y = np.asarray(y).reshape(-1)
        if sp.issparse(X):
            X = X.tocsr()
        X, y = training_data(estimator, X, y, reset=True)
        if X.dtype != dtype:
            X = X.astype(dtype)
        if sample_weight is not None:
            sample_weight = _plain(sample_weight)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                             ensure_non_negative=True)
        train_idx, val_idx = _split(estimator, index, y, seed)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"partition {index}: {exc}") from exc
    return Part(index, X, y, sample_weight, train_idx, val_idx)


def _split(estimator, index, y, seed):
    """``(train_idx, val_idx)`` of one partition: every row, or early stopping's split."""
    rows = np.arange(len(y), dtype=np.int64)
    if not estimator.early_stopping:
        return rows, None
    from sklearn.base import is_classifier
    from sklearn.model_selection import train_test_split

    stratify = None
    if is_classifier(estimator) and np.unique(y, return_counts=True)[1].min() >= 2:
        stratify = y
    train_idx, val_idx = train_test_split(rows, test_size=estimator.validation_fraction,
                                          random_state=_problem_seed(seed ^ 0x5EED, index),
                                          stratify=stratify)
    if len(train_idx) == 0:
        raise ValueError(f"{len(rows)} rows leave none to train on after holding out "
                         "validation_fraction; use larger partitions.")
    return np.sort(train_idx), np.sort(val_idx)


def validation_sums(plan, parts, model):
    """Sums over the held-out rows of ``parts`` that make the estimator's score.

    Classifier: ``(weighted correct, weight)``, for accuracy. Regressor:
    ``(weighted squared error, weighted sum of y, of y**2, weight)``, for R^2.
    """
    est = plan.estimator
    coef, intercept = model["coef"], model["intercept"]
    if is_classifier_plan(plan):
        sums = np.zeros(2)
    else:
        sums = np.zeros(4)
    for part in parts:
        if part.val_idx is None or not len(part.val_idx):
            continue
        X, y = part.X[part.val_idx], part.y[part.val_idx]
        w = part.sample_weight[part.val_idx].astype(np.float64)
        scores = np.asarray(X @ coef.T, dtype=np.float64) + intercept
        if is_classifier_plan(plan):
            classes = est.classes_
            predicted = (classes[(scores[:, 0] > 0).astype(int)] if len(classes) == 2
                         else classes[np.argmax(scores, axis=1)])
            sums += (np.sum(w * (predicted == y)), np.sum(w))
        else:
            y = y.astype(np.float64)
            sums += (np.sum(w * (y - scores[:, 0]) ** 2), np.sum(w * y), np.sum(w * y * y),
                     np.sum(w))
    return sums


def score_from_sums(sums):
    """The estimator's score (accuracy or R^2) from :func:`validation_sums` of every worker."""
    total = np.sum(sums, axis=0)
    if len(total) == 2:
        return total[0] / max(total[1], 1e-300)
    sse, sy, syy, w = total
    spread = syy - sy * sy / max(w, 1e-300)
    return 1.0 - sse / spread if spread > 0 else 0.0


def is_classifier_plan(plan):
    return hasattr(plan.estimator, "classes_")


def describe(part, classifier):
    """The partition's summary for the client: rows, labels, column statistics."""
    rows = KernelRows(part.X)
    summary = {
        "sparse": sp.issparse(part.X),
        "n_rows": part.n_rows,
        "n_features": part.X.shape[1],
        "nnz": part.X.nnz if sp.issparse(part.X) else part.X.size,
        # the merge's column statistic, weighted by rows when the parts are pooled
        "col_sq": rows.mean_square() * part.n_rows,
        "held_out": 0 if part.val_idx is None else len(part.val_idx),
    }
    if classifier:
        labels, counts = np.unique(part.y, return_counts=True)
        summary["labels"], summary["counts"] = labels, counts
    return summary


@dataclass(frozen=True)
class Plan:
    """What every clock of a fit shares: the estimator, the schedule and the clock arithmetic.

    ``estimator`` is a local estimator with the fit's parameters (and
    ``classes_`` for a classifier); ``seeds[k]`` the shuffle seed of problem
    ``k``; ``fraction`` the epochs a clock covers (``sync_every``);
    ``t_start`` the step number of the fit's first row and ``n_total`` the
    rows of all partitions, so that every row takes the step size of the
    global step it stands for.
    """

    estimator: object
    schedule: object
    seeds: tuple
    fraction: float
    t_start: float
    n_total: int
    epochs_done: int
    n_jobs: object

    def segments(self, n_rows, clock):
        """``(epoch, start, stop)`` pieces of the positions clock ``clock`` trains."""
        lo = int(round(clock * self.fraction * n_rows))
        hi = int(round((clock + 1) * self.fraction * n_rows))
        pieces = []
        while lo < hi:
            epoch, start = divmod(lo, n_rows)
            stop = min(n_rows, start + hi - lo)
            pieces.append((epoch, start, stop))
            lo += stop - start
        return pieces


def worker_threads(n_jobs):
    """OpenMP threads for this worker: ``n_jobs`` given, or the worker's own ``nthreads``.

    Dask workers set ``OMP_NUM_THREADS=1`` (many tasks share a worker's
    cores), so the count is passed to OpenMP explicitly rather than read
    from the environment: ``None`` is the worker's Dask thread count, ``-1``
    every CPU this process may run on.
    """
    if n_jobs is None:
        try:
            from distributed import get_worker
            return max(1, int(get_worker().state.nthreads))
        except (ImportError, ValueError, AttributeError):
            return 1
    if n_jobs < 0:
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count()
        return max(1, available + 1 + int(n_jobs))
    return resolve_n_jobs(n_jobs)


def _problem_seed(seed, index):
    """The shuffle seed of one (problem, partition): SplitMix64-spread, never shared."""
    return (int(seed) * 0x9E3779B1 + int(index) * 0x85EBCA77 + 1) & 0x7FFFFFFF


def train_clock(plan, parts, model, clock, eta):
    """Clock ``clock`` of one worker's partitions, from ``model``; the change it made.

    Parameters
    ----------
    plan : Plan
    parts : list of Part
    model : dict
        ``coef`` (n_outputs, n_features) and ``intercept`` (n_outputs,); not modified.
    clock : int
    eta : float
        The fixed step of this clock (schedules 'constant', 'adaptive', 'backoff').

    Returns
    -------
    change : dict
        ``coef`` and ``intercept`` (the change, ``coef`` as ``WIRE_DTYPE``),
        ``saturation`` per problem (the loss's curvature bound x the summed
        steps, the merge's weight), ``loss`` (summed) and ``rows`` trained.
    """
    est = plan.estimator
    coef0, intercept0 = model["coef"], model["intercept"]
    dtype = parts[0].X.dtype if parts else coef0.dtype
    coef = np.array(coef0, dtype=dtype, order="C", copy=True)
    intercept = np.array(intercept0, dtype=dtype, copy=True)
    n_threads = worker_threads(plan.n_jobs)
    curvature = CURVATURE[est.loss]
    n_out = coef.shape[0]
    saturation = np.zeros(n_out)
    sumloss, n_rows_done = 0.0, 0
    for part in sorted(parts, key=lambda p: p.index):
        pieces = plan.segments(part.n_rows, clock)
        if not pieces:
            continue
        problems = est._problems(part.y, part.sample_weight, coef, intercept, None, dtype)
        rows = KernelRows(part.X)
        inv_freq = part.inv_freq() if est._strategy() == "shared" else None
        scale = plan.n_total / part.n_rows  # a partition's row stands for this many steps

        def train(problem_and_seed, threads, on_chunk):
            problem, seed = problem_and_seed
            driver = est._driver(problem, seed, rows, part.train_idx, threads,
                                 schedule=plan.schedule, inv_freq=inv_freq, validation=None,
                                 for_partial_fit=True, on_chunk=on_chunk)
            loss, steps = 0.0, 0.0
            try:
                for epoch, start, stop in pieces:
                    order = part.train_idx.copy()
                    if est.shuffle:
                        _native.shuffle(order, epoch_seed(seed, plan.epochs_done + epoch))
                    driver.strategy.params.eta = eta
                    t = plan.t_start + (plan.epochs_done + epoch) * plan.n_total \
                        + start * scale
                    loss += driver.run_rows(order[start:stop], t, epoch)
                    steps += step_sum(plan.schedule, t, stop - start, eta)
            finally:
                driver.close()
            return loss, steps

        seeds = [_problem_seed(s, part.index) for s in plan.seeds]
        results = train_problems(train, list(zip(problems, seeds)), n_threads)
        for k, (loss, steps) in enumerate(results):
            sumloss += loss
            saturation[k] += curvature * steps
        n_rows_done += sum(stop - start for _, start, stop in pieces)
    return {
        "coef": (coef - coef0).astype(WIRE_DTYPE),
        "intercept": (intercept - intercept0).astype(np.float64),
        "saturation": saturation,
        "loss": sumloss,
        "rows": n_rows_done,
        "threads": n_threads,
    }


def step_sum(schedule, t, n_rows, eta):
    """The summed step sizes of steps ``t .. t + n_rows - 1`` (``_native.step_size``'s rules)."""
    if schedule.learning_rate == "optimal":
        steps = np.arange(n_rows, dtype=np.float64) + t
        return float(np.sum(1.0 / (schedule.alpha * (schedule.optimal_init + steps - 1.0))))
    if schedule.learning_rate == "invscaling":
        steps = np.arange(n_rows, dtype=np.float64) + t
        return float(np.sum(schedule.eta0 / steps ** schedule.power_t))
    return eta * n_rows


def kept(saturation):
    """Share of a change that later steps leave in place: the kernel's ``_kept``.

    ``exp(-saturation)`` as the inverse of its third-order Taylor polynomial.
    """
    s = saturation
    return 1.0 / (1.0 + s * (1.0 + s * 0.5 * (1.0 + s * (1.0 / 3.0))))


def mean_power(rho, n):
    """``mean(rho**k for k < n)``: the merge weight of a change kept at ``rho``."""
    total, power = np.zeros_like(rho), np.ones_like(rho)
    for _ in range(n):
        total += power
        power = power * rho
    return total / n


def merge(model, changes, col_sq):
    """The model after the workers' changes, by the rule the threads' replicas merge with.

    Run one after another in a random order, a worker's change to a
    coordinate would come after ``k`` of the other workers' clocks, for
    ``k = 0 .. W-1`` equally often, each leaving a share ``rho`` of it: the
    mean of the others' ``kept(saturation x col_sq)``. So each change enters
    weighted ``mean(rho**k, k < W)``: coordinates few rows touch keep every
    change whole (their sum), frequent ones tend to the mean. The intercept
    is a column of ones.

    Parameters
    ----------
    model : dict
        ``coef`` (n_outputs, n_features), ``intercept`` (n_outputs,).
    changes : list of dict
        :func:`train_clock`'s results, one per worker.
    col_sq : ndarray of shape (n_features,)
        Mean ``x_u ** 2`` per column over the training rows.

    Returns
    -------
    model : dict
        New ``coef`` and ``intercept`` in the model's dtype, and the clock's
        summed ``loss`` and ``rows``.
    """
    coef = np.array(model["coef"], dtype=np.float64, copy=True)
    intercept = np.array(model["intercept"], dtype=np.float64, copy=True)
    n_workers = len(changes)
    for k in range(coef.shape[0]):
        if n_workers == 1:
            coef[k] += changes[0]["coef"][k]
            intercept[k] += changes[0]["intercept"][k]
            continue
        # a column the sample never saw keeps every change whole: kept(0) = 1
        # for every worker, so rho = 1 and the weight mean_power(1, W) = 1
        shares = [kept(ch["saturation"][k] * col_sq) for ch in changes]
        total = np.sum(shares, axis=0)
        shares_b = np.array([kept(ch["saturation"][k]) for ch in changes])
        for w, ch in enumerate(changes):
            weight = mean_power((total - shares[w]) / (n_workers - 1), n_workers)
            coef[k] += weight * ch["coef"][k]
            rho_b = (shares_b.sum() - shares_b[w]) / (n_workers - 1)
            intercept[k] += mean_power(np.float64(rho_b), n_workers) * ch["intercept"][k]
    dtype = model["coef"].dtype
    return {
        "coef": coef.astype(dtype, copy=False),
        "intercept": intercept.astype(dtype, copy=False),
        "loss": float(sum(ch["loss"] for ch in changes)),
        "rows": int(sum(ch["rows"] for ch in changes)),
        "threads": [ch["threads"] for ch in changes],
    }


def apply_change(coef, intercept, change, col_sq, n_workers):
    """Add one worker's change to the parameter server's model in place (``sync="ssp"``).

    The same weights as :func:`merge`, with the other workers' saturation
    taken to be this worker's own: a push arrives alone.
    """
    for k in range(coef.shape[0]):
        s = change["saturation"][k]
        weight = mean_power(kept(s * col_sq), n_workers)  # 1 where col_sq is 0
        coef[k] += weight * change["coef"][k]
        intercept[k] += mean_power(np.float64(kept(s)), n_workers) * change["intercept"][k]


class Clocks:
    """The clock arithmetic of a fit: how many, each one's fixed step, when to stop.

    A clock covers ``fraction`` epochs of every partition. The stopping rule
    is a local fit's (``tol``, ``n_iter_no_change``; ``adaptive`` cuts the
    step by 5 instead), applied at each epoch's end to the training loss of
    the clocks since the last one, scaled to a whole epoch.

    Parameters
    ----------
    schedule : Schedule
    fraction : float
        Epochs a clock covers (``sync_every``).
    max_iter : int
        Epochs in all.
    epochs_done : int
        Epochs of earlier fits ('backoff' counts them).
    tol : float or None
    n_iter_no_change : int
    n_total : int
        Rows of all partitions.
    """

    def __init__(self, schedule, fraction, max_iter, epochs_done, tol, n_iter_no_change,
                 n_total, by_score=False):
        self.schedule, self.fraction, self.epochs_done = schedule, fraction, epochs_done
        self.n_clocks = max(1, int(np.ceil(max_iter / fraction - 1e-9)))
        self.n_total, self.by_score = n_total, by_score
        # the held-out score is maximised, the training loss minimised
        margin = None if tol is None else (tol if by_score else tol * n_total)
        self.plateau = Plateau(margin, n_iter_no_change)
        self._eta = schedule.eta0
        self._loss, self._rows = 0.0, 0
        self.losses = []  # the summed training loss of each finished epoch

    def epochs_after(self, n_clocks):
        """Epochs (rounded up) that ``n_clocks`` clocks cover."""
        return int(np.ceil(n_clocks * self.fraction - 1e-9))

    def eta(self, clock):
        """The fixed step of clock ``clock`` ('constant', 'adaptive', 'backoff')."""
        if self.schedule.learning_rate == "backoff":
            return self.schedule.first_eta(self.epochs_done + int(clock * self.fraction))
        return self._eta

    def ends_epoch(self, clock):
        """Whether an epoch ends with clock ``clock`` (the stopping rule looks then)."""
        return int((clock + 1) * self.fraction + 1e-9) != int(clock * self.fraction + 1e-9)

    def record(self, clock, loss, rows, score=None):
        """Add a finished clock's summed loss; whether the fit should stop after it.

        ``score`` is the held-out score after the clock (early stopping), given
        where :meth:`ends_epoch`.
        """
        self._loss += loss
        self._rows += rows
        if not self.ends_epoch(clock):
            return False
        epoch_loss = self._loss / max(1, self._rows) * self.n_total
        self.losses.append(epoch_loss)
        self._loss, self._rows = 0.0, 0
        if not self.plateau.update(-score if self.by_score else epoch_loss):
            return False
        if self.schedule.learning_rate == "adaptive" and self._eta > 1e-6:
            self._eta /= 5.0
            self.plateau.count = 0
            return False
        return True


def straggler_delay(straggle, worker, clock):
    """Seconds a slowed worker sleeps after ``clock`` (benchmarks and tests).

    ``straggle`` is ``{worker: seconds}`` (a sleep after every clock) or
    ``{worker: (seconds, probability)}`` (a transient delay, drawn per
    (worker, clock) so that runs repeat).
    """
    spec = (straggle or {}).get(worker, 0.0)
    if not isinstance(spec, tuple):
        return float(spec)
    seconds, probability = spec
    draw = np.random.default_rng([worker, clock]).random()
    return float(seconds) if draw < probability else 0.0
