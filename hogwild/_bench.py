"""``hogwild bench``: hogwild against scikit-learn, LIBLINEAR and the hardware's floor.

Everything runs in one process with BLAS pinned to one thread. Contenders are
interleaved (round-robin over the repeats, after one warm-up run each), so a
slow spell of the machine hits them all alike, and speed is reported as ratios
taken inside the run: median and min-max over the repeats.

What is measured, for one binary problem (L2 penalty, 'optimal' schedule):

- epoch time of scikit-learn's ``SGDClassifier`` and of hogwild at each thread
  count (``fit`` time / epochs), per non-zero, speed-up and test accuracy;
- hogwild with one thread on float32 data;
- two floors: ``X @ w`` plus ``X.T @ r`` with scipy, the two sparse
  matrix-vector products no epoch that writes every non-zero can beat, and
  ``x_i . w`` over the rows in a shuffled order, the read no epoch can skip;
- time to reach the exact optimum of ``mean(loss) + alpha / 2 ||w||^2``
  (unpenalised intercept) within a relative gap, for LIBLINEAR, scikit-learn's
  SGD and hogwild, epoch by epoch through ``partial_fit``;
- peers (snapml, vowpalwabbit) when they are importable.
"""
import json
import os
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import scipy
import sklearn
from sklearn.datasets import load_svmlight_file
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from . import HogwildClassifier, __version__, _core
from ._sgd import _checked_csr
from ._threads import openmp_enabled, resolve_n_jobs
from .datasets import make_sparse_classification

LOSSES = ("hinge", "log_loss")
#: relative gap to the optimum that counts as "reached" in the time-to-target race
TARGET_GAP = 1e-3
#: the time-to-target race runs at most this many times ``epochs`` epochs
MAX_EPOCHS_FACTOR = 4
#: a peer stops repeating once its fits took this long (vowpalwabbit's text
#: interface takes 12 s a fit on the built-in data), after at least one timed fit
PEER_SECONDS = 10.0
#: the floor rows of the epoch table: time_floor's keys and their labels
FLOORS = {"products": "floor: X @ w + X.T @ r", "shuffled_dots": "floor: x_i . w, rows shuffled",
          "shuffled_dots_float32": "floor: x_i . w, rows shuffled, float32",
          "shuffled_dots_parallel": "floor: x_i . w, rows shuffled, {threads} threads"}


# --------------------------------------------------------------------------- data

def load_binary_svmlight(path, n_features=None):
    """Load a LIBSVM file as a binary problem with L2-normalised rows.

    With more than two classes, the binary task is the first half of the sorted
    classes against the second half (news20: groups 1-10 against 11-20).

    Parameters
    ----------
    path : str or path-like
        A LIBSVM / svmlight file, optionally compressed (``.gz``, ``.bz2``).
    n_features : int, default=None
        Number of columns; ``None`` takes the largest index in the file.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float64
        Rows scaled to unit L2 norm.
    y : ndarray of shape (n_samples,), int
        0 for the first half of the classes, 1 for the second.
    """
    X, labels = load_svmlight_file(os.fspath(path), n_features=n_features)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"{path} holds a single class ({classes[0]:g}); need two or more.")
    y = np.isin(labels, classes[len(classes) // 2:]).astype(int)
    return normalize(X.tocsr()), y


def generated_data(n_samples, n_features, nnz_per_row, random_state=0):
    """The built-in problem: text-like data from :func:`make_sparse_classification`.

    Parameters
    ----------
    n_samples : int
    n_features : int
    nnz_per_row : float
        Mean number of draws per row (duplicates merge, so slightly fewer
        non-zeros are stored).
    random_state : int, default=0

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,), int
    """
    return make_sparse_classification(n_samples, n_features, nnz_per_row / n_features,
                                      random_state=random_state)


# ---------------------------------------------------------------------- objective

def objective(coef, intercept, X, y, loss, alpha):
    """Regularised training objective of a binary linear model.

    ``mean(loss(y, X @ coef + intercept)) + alpha / 2 * ||coef||^2``, the
    intercept unpenalised: the objective ``SGDClassifier`` minimises with an
    L2 penalty, and ``LogisticRegression`` / ``LinearSVC`` with
    ``C = 1 / (n_samples * alpha)`` up to the factor ``C * n_samples``.

    Parameters
    ----------
    coef : array-like of shape (n_features,) or (1, n_features)
    intercept : float or array-like of shape (1,)
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Targets in {-1, +1}.
    loss : {"hinge", "log_loss"}
        ``max(0, 1 - y z)`` or ``log(1 + exp(-y z))`` (computed stably).
    alpha : float
        L2 strength.

    Returns
    -------
    value : float
    """
    coef = np.asarray(coef, dtype=np.float64).ravel()
    z = np.asarray(X @ coef, dtype=np.float64).ravel() + float(np.ravel(intercept)[0])
    yz = np.asarray(y, dtype=np.float64) * z
    if loss == "hinge":
        losses = np.maximum(0.0, 1.0 - yz)
    elif loss == "log_loss":
        losses = np.logaddexp(0.0, -yz)
    else:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
    return float(losses.mean() + 0.5 * alpha * (coef @ coef))


def reference_solver(loss, alpha, n_samples, liblinear=False):
    """A deterministic solver of :func:`objective`'s problem.

    Parameters
    ----------
    loss : {"hinge", "log_loss"}
    alpha : float
    n_samples : int
        Training rows; ``C = 1 / (n_samples * alpha)``.
    liblinear : bool, default=False
        ``False``: the optimum (lbfgs at ``tol=1e-10`` for log_loss, exact with
        an unpenalised intercept; LIBLINEAR's dual solver at ``tol=1e-8`` for
        hinge). ``True``: LIBLINEAR at its default tolerance, the contender.

    Returns
    -------
    estimator : LogisticRegression or LinearSVC
        Unfitted.

    Notes
    -----
    LIBLINEAR penalises the intercept as one more weight, ``b / intercept_scaling``.
    The default scaling of 1 is kept: its model is off the unpenalised optimum
    by at most ``alpha / 2 * b^2`` in objective (``solve_optimum`` reports the
    bound, ~1e-6 relative on the built-in data), while ``intercept_scaling=100``
    makes the dual coordinate descent crawl (built-in data, hinge: 16.7 s and
    no convergence in 1,000 iterations at ``tol=1e-4``, against 1.8 s to
    ``tol=1e-8`` at scaling 1).
    """
    C = 1.0 / (n_samples * alpha)
    if loss == "log_loss":
        if liblinear:
            return LogisticRegression(solver="liblinear", C=C)
        return LogisticRegression(C=C, tol=1e-10, max_iter=10_000)
    if liblinear:
        return LinearSVC(loss="hinge", C=C, dual=True)
    return LinearSVC(loss="hinge", C=C, tol=1e-8, max_iter=100_000, dual=True)


# ------------------------------------------------------------------------- timing

def _spread(values):
    values = np.asarray(values, dtype=float)
    return {"median": float(np.median(values)), "min": float(values.min()),
            "max": float(values.max()), "all": values.tolist()}


@dataclass
class Contender:
    """One model in the epoch-time race: a name, a factory and its data."""

    name: str
    make: Callable
    threads: int
    dtype: str = "float64"
    kind: str = "hogwild"


def _fit_seconds(contender, X, y):
    model = contender.make()
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start, model


def time_epochs(contenders, data, epochs, repeats):
    """Interleaved ``fit`` timings: one warm-up each, then round-robin repeats.

    Parameters
    ----------
    contenders : list of Contender
    data : dict
        ``dtype -> (X_train, y_train, X_test, y_test)``.
    epochs : int
    repeats : int

    Returns
    -------
    rows : list of dict
        Per contender: name, threads, dtype, kind, ``seconds_per_epoch``
        (median, min, max, all) and ``test_accuracy`` (median over repeats).
    """
    for c in contenders:
        _fit_seconds(c, *data[c.dtype][:2])
    seconds = {c.name: [] for c in contenders}
    accuracy = {c.name: [] for c in contenders}
    for _ in range(repeats):
        for c in contenders:
            X_tr, y_tr, X_te, y_te = data[c.dtype]
            s, model = _fit_seconds(c, X_tr, y_tr)
            seconds[c.name].append(s / epochs)
            accuracy[c.name].append(model.score(X_te, y_te))
    return [{"name": c.name, "kind": c.kind, "threads": c.threads, "dtype": c.dtype,
             "seconds_per_epoch": _spread(seconds[c.name]),
             "test_accuracy": float(np.median(accuracy[c.name]))} for c in contenders]


def time_floor(X, repeats, random_state=0, n_threads=1):
    """Time the reads no SGD epoch can beat, interleaved repeat by repeat.

    - ``products``: ``X @ w`` plus ``X.T @ r``, two sparse matrix-vector
      products in storage order (scipy): the work of an epoch that reads and
      writes every non-zero once.
    - ``shuffled_dots``: ``x_i . w`` for every row in a fresh random order
      (``_core.row_dots``): what an epoch must read when it writes nothing,
      as hinge does for rows whose margin holds.
    - ``shuffled_dots_float32``: the same read of X and w in float32, in
      the same order: what float32 can save at most. The indices stay 4
      bytes and the gathers as many, so it is not half of float64's.
    - ``shuffled_dots_parallel`` (with ``n_threads`` > 1): the same read
      shared by ``n_threads`` threads as the replica kernel shares an
      epoch's rows: the thread scaling the memory system allows.

    Parameters
    ----------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
    repeats : int
        Timed repetitions, after one warm-up.
    random_state : int, default=0
    n_threads : int, default=1
        Threads of the parallel read; 1 leaves it out.

    Returns
    -------
    seconds : dict
        ``products``, ``shuffled_dots``, ``shuffled_dots_float32`` and
        (with ``n_threads`` > 1) ``shuffled_dots_parallel``: median, min,
        max and all of the repetitions.
    """
    rng = np.random.default_rng(random_state)
    w = rng.standard_normal(X.shape[1]).astype(X.dtype)
    r = rng.standard_normal(X.shape[0]).astype(X.dtype)
    X = _checked_csr(X)  # row_dots trusts the arrays, as the epoch kernels do
    X32, w32 = X.astype(np.float32), w.astype(np.float32)
    out = np.empty(X.shape[0])
    reads = [("shuffled_dots", X, w, 1), ("shuffled_dots_float32", X32, w32, 1)]
    if n_threads > 1:
        reads.append(("shuffled_dots_parallel", X, w, n_threads))
    times = {"products": [], **{read[0]: [] for read in reads}}
    for i in range(repeats + 1):
        # Each read is timed right after an untimed one, as an epoch reads
        # the rows the epoch before it read: otherwise the matrix read last
        # is in L3 and the others partly not (news20: the float32 read
        # 1.0x float64's cold, 0.82-0.84x warm).
        X @ w
        start = time.perf_counter()
        X @ w
        X.T @ r
        products = time.perf_counter() - start
        order = rng.permutation(X.shape[0]).astype(np.int64)
        dots = {key: _time_read(M, order, v, out, team) for key, M, v, team in reads}
        if i:
            times["products"].append(products)
            for key, seconds in dots.items():
                times[key].append(seconds)
    return {k: _spread(v) for k, v in times.items()}


def _time_read(X, order, w, out, team):
    """Seconds of ``row_dots`` over ``order`` with ``team`` threads, timed
    right after an untimed pass, as an epoch reads the rows the epoch before
    it read."""
    _core.row_dots(X.data, X.indices, X.indptr, order, w, out, team)
    start = time.perf_counter()
    _core.row_dots(X.data, X.indices, X.indptr, order, w, out, team)
    return time.perf_counter() - start


def _fit_quietly(model, X, y):
    """Fit, returning (seconds, converged): a ConvergenceWarning is recorded, not shown."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    return seconds, not any(issubclass(w.category, ConvergenceWarning) for w in caught)


def solve_optimum(X, y, loss, alpha):
    """The optimum of :func:`objective` from :func:`reference_solver`.

    Parameters
    ----------
    X : sparse matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Binary labels.
    loss : {"hinge", "log_loss"}
    alpha : float

    Returns
    -------
    result : dict
        ``solver`` (its repr), ``objective``, ``seconds``, ``converged`` and
        ``intercept_penalty_bound``: how far above the unpenalised optimum
        LIBLINEAR's penalised intercept can leave it, relative: ``alpha / 2 *
        b^2 / objective`` with the optimum's ``b`` estimated by the solver's
        (0 for lbfgs).
    """
    model = reference_solver(loss, alpha, X.shape[0])
    seconds, converged = _fit_quietly(model, X, y)
    signed = np.where(y == model.classes_[1], 1.0, -1.0)
    value = objective(model.coef_, model.intercept_, X, signed, loss, alpha)
    penalised = isinstance(model, LinearSVC) or model.solver == "liblinear"
    bound = 0.5 * alpha * float(model.intercept_[0]) ** 2 / value if penalised else 0.0
    return {"solver": repr(model), "objective": value, "seconds": seconds,
            "converged": converged, "intercept_penalty_bound": bound}


def time_liblinear(X, y, loss, alpha, optimum, repeats):
    """LIBLINEAR at its default tolerance: fit time and the gap it leaves.

    Parameters
    ----------
    X : sparse matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    loss : {"hinge", "log_loss"}
    alpha : float
    optimum : float
        The optimal objective.
    repeats : int

    Returns
    -------
    result : dict
        ``name``, ``seconds`` (median, min, max, all), ``gap`` (relative),
        ``converged``.
    """
    times, converged = [], True
    for _ in range(repeats):
        model = reference_solver(loss, alpha, X.shape[0], liblinear=True)
        seconds, ok = _fit_quietly(model, X, y)
        times.append(seconds)
        converged &= ok
    signed = np.where(y == model.classes_[1], 1.0, -1.0)
    value = objective(model.coef_, model.intercept_, X, signed, loss, alpha)
    name = "LIBLINEAR " + ("LogisticRegression" if loss == "log_loss" else "LinearSVC")
    return {"name": name, "seconds": _spread(times), "objective": value,
            "gap": (value - optimum) / optimum, "converged": converged}


def _trajectory(make, X, y, signed, classes, loss, alpha, optimum, max_epochs, stop_early):
    model = make()
    elapsed, trace = 0.0, []
    for _ in range(max_epochs):
        start = time.perf_counter()
        model.partial_fit(X, y, classes=classes)
        elapsed += time.perf_counter() - start
        value = objective(model.coef_, model.intercept_, X, signed, loss, alpha)
        trace.append((elapsed, (value - optimum) / optimum))
        if stop_early and trace[-1][1] <= TARGET_GAP:
            break
    return trace


def time_to_target(contenders, X, y, loss, alpha, optimum, max_epochs, repeats):
    """Wall time of ``partial_fit`` epochs until the objective is within 0.1% of the optimum.

    Only the ``partial_fit`` calls are timed; the objective is computed between
    them. Contenders are interleaved over the repeats. The first repeat runs
    all ``max_epochs`` (its trace is the one plotted); later ones stop at the
    target.

    Parameters
    ----------
    contenders : list of Contender
    X : sparse matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Binary labels.
    loss : {"hinge", "log_loss"}
    alpha : float
    optimum : float
    max_epochs : int
    repeats : int

    Returns
    -------
    rows : list of dict
        Per contender: ``name``, ``threads``, ``reached`` (runs that got
        there), ``seconds`` (median, min, max, all over those runs, or None),
        ``epochs`` (median epochs to target, or None), ``best_gap`` and
        ``trace`` (cumulative seconds and relative gap per epoch, first repeat).
    """
    classes = np.unique(y)
    signed = np.where(y == classes[1], 1.0, -1.0)
    traces = {c.name: [] for c in contenders}
    for r in range(repeats):
        for c in contenders:
            traces[c.name].append(_trajectory(c.make, X, y, signed, classes, loss, alpha,
                                              optimum, max_epochs, stop_early=r > 0))
    rows = []
    for c in contenders:
        hits = []
        for trace in traces[c.name]:
            for epoch, (seconds, gap) in enumerate(trace, start=1):
                if gap <= TARGET_GAP:
                    hits.append((seconds, epoch))
                    break
        rows.append({
            "name": c.name, "threads": c.threads, "runs": repeats, "reached": len(hits),
            "seconds": _spread([s for s, _ in hits]) if hits else None,
            "epochs": float(np.median([e for _, e in hits])) if hits else None,
            "best_gap": min(g for trace in traces[c.name] for _, g in trace),
            "trace": [{"seconds": s, "gap": g} for s, g in traces[c.name][0]],
        })
    _time_fit_to_target(contenders, rows, X, y, signed, loss, alpha, optimum, repeats)
    return rows


def _read_speedups(X, teams, rng, pairs=3):
    """The shuffled read's speed-up at each of ``teams`` threads, measured now.

    ``pairs`` times: the read with one thread, then with each team
    (:func:`_time_read`); returns
    ``{team: median over the pairs of one thread's time / the team's}``.
    """
    w = rng.standard_normal(X.shape[1]).astype(X.dtype)
    out = np.empty(X.shape[0])
    ratios = {team: [] for team in teams}
    for _ in range(pairs):
        order = rng.permutation(X.shape[0]).astype(np.int64)
        seconds = {team: _time_read(X, order, w, out, team) for team in (1, *teams)}
        for team in teams:
            ratios[team].append(seconds[1] / seconds[team])
    return {team: float(np.median(r)) for team, r in ratios.items()}


def _time_fit_to_target(contenders, rows, X, y, signed, loss, alpha, optimum, repeats):
    """Time one ``fit(max_iter=k, tol=None)``, k the epochs the trace needed.

    ``partial_fit`` validates its input again at every call, which on a large
    matrix costs as much as a fast epoch; a user who wants the target runs
    one ``fit``. The fit's own objective gap is reported beside its time, so
    a fit that lands short of the target (its shuffles differ from the
    trace's) shows it. Adds ``fit_seconds`` and ``fit_gap`` to each row that
    reached the target.

    Each round of fits is followed by the shuffled read at one thread and at
    each team size, so the hardware's own scaling is known at the moment the
    fits ran: on a shared machine one core can run slower than the other
    for seconds, and a team waits for its slowest thread. A hogwild row
    with more than one thread that reached the target, as did one thread,
    gets ``fit_speedup`` (one thread's fit time / its own, round by round)
    and ``read_speedup`` (the read's speed-up at its thread count in the
    same rounds), each a spread over the rounds.
    """
    todo = [(c, r) for c, r in zip(contenders, rows) if r["epochs"] is not None]
    times = {c.name: [] for c, _ in todo}
    teams = sorted({c.threads for c, _ in todo if c.kind == "hogwild" and c.threads > 1})
    X_read = _checked_csr(X)  # row_dots trusts the arrays, as the epoch kernels do
    rng = np.random.default_rng(0)
    reads = []
    for _ in range(repeats):
        for c, r in todo:
            model = c.make().set_params(max_iter=int(r["epochs"]), tol=None)
            start = time.perf_counter()
            _fit_quietly(model, X, y)
            times[c.name].append(time.perf_counter() - start)
            value = objective(model.coef_, model.intercept_, X, signed, loss, alpha)
            r["fit_gap"] = (value - optimum) / optimum
        if teams:
            reads.append(_read_speedups(X_read, teams, rng))
    for c, r in todo:
        r["fit_seconds"] = _spread(times[c.name])
    one = next((c.name for c, _ in todo if c.kind == "hogwild" and c.threads == 1), None)
    for c, r in todo:
        if one is not None and c.kind == "hogwild" and c.threads > 1:
            r["fit_speedup"] = _spread(np.divide(times[one], times[c.name]))
            r["read_speedup"] = _spread([read[c.threads] for read in reads])


def run_peers(X_tr, y_tr, X_te, y_te, loss, alpha, epochs, n_threads, repeats, optimum=None):
    """snapml and vowpalwabbit on the same problem, where they are importable.

    Each is asked for the same loss and L2 strength; their own step sizes
    apply. snapml (dual coordinate ascent) runs to its own tolerance, as its
    users run it, with 1 and ``n_threads`` threads; vowpalwabbit runs
    ``epochs`` passes. A peer that is missing or fails gives a note.

    Parameters
    ----------
    X_tr, y_tr, X_te, y_te : the split, labels in {0, 1}
    loss : {"hinge", "log_loss"}
    alpha : float
    epochs : int
    n_threads : int
    repeats : int
    optimum : float, default=None
        The exact optimum's objective: each model's relative gap to it is
        reported where the peer exposes its weights.

    Returns
    -------
    rows : list of dict
        ``name``, ``status`` ("ok", "not installed" or "failed: ..."), and when
        ok ``seconds`` (median, min, max, all of the timed fits: ``repeats``, fewer
        for a peer slower than ``PEER_SECONDS``), ``passes``,
        ``gap`` (None where unknown) and ``test_accuracy``.
    """
    rows, missing = [], set()
    peers = [("snapml", f"snapml {n} thread{'s' * (n > 1)}", _make_snapml, n)
             for n in sorted({1, n_threads})]
    peers.append(("vowpalwabbit", "vowpalwabbit", _make_vw, 1))
    for package, name, make, threads in peers:
        if package in missing:
            continue
        try:
            factory = make(loss, alpha, epochs, threads, X_tr.shape[0])
        except ImportError:
            missing.add(package)
            rows.append({"name": package, "status": "not installed"})
            continue
        try:
            times = []
            for _ in range(repeats + 1):  # the first is the warm-up
                model = factory()
                start = time.perf_counter()
                model.fit(X_tr, 2 * y_tr - 1)
                times.append(time.perf_counter() - start)
                if len(times) >= 2 and sum(times) > PEER_SECONDS:
                    break  # a slow peer gets fewer repeats, not the whole budget
            accuracy = float(np.mean(np.ravel(model.predict(X_te)) == 2 * y_te - 1))
            gap = None
            coef = getattr(model, "coef_", None)  # vowpalwabbit's is empty (hashed features)
            if optimum is not None and isinstance(coef, np.ndarray) and coef.size == X_tr.shape[1]:
                intercept = getattr(model, "intercept_", None)
                intercept = 0.0 if intercept is None else np.ravel(intercept)[0]
                value = objective(coef, intercept, X_tr, 2 * y_tr - 1, loss, alpha)
                gap = value / optimum - 1.0
            rows.append({"name": name, "status": "ok", "seconds": _spread(times[1:]),
                         "passes": int(getattr(model, "n_iter_", epochs)), "gap": gap,
                         "test_accuracy": accuracy})
        except Exception as exc:  # a peer's failure must not end the benchmark
            rows.append({"name": name, "status": f"failed: {type(exc).__name__}: {exc}"})
    return rows


def _make_snapml(loss, alpha, epochs, n_threads, n_samples):
    import snapml

    # snapml minimises sum(loss) + regularizer / 2 ||w||^2, and penalises its
    # intercept (a column of ones), which the optimum here does not
    cls = snapml.LogisticRegression if loss == "log_loss" else snapml.SupportVectorMachine
    return lambda: cls(regularizer=n_samples * alpha, fit_intercept=True, n_jobs=n_threads)


def _make_vw(loss, alpha, epochs, n_threads, n_samples):
    from vowpalwabbit.sklearn import VWClassifier

    vw_loss = "logistic" if loss == "log_loss" else "hinge"
    return lambda: VWClassifier(loss_function=vw_loss, l2=alpha, passes=epochs, quiet=True)


# -------------------------------------------------------------------------- run it

def machine_info():
    """CPU count, usable threads, OpenMP, platform and library versions.

    Returns
    -------
    info : dict
    """
    versions = {"hogwild": __version__, "python": platform.python_version(),
                "numpy": np.__version__, "scipy": scipy.__version__,
                "scikit-learn": sklearn.__version__}
    return {"cpu_count": os.cpu_count(), "usable_threads": resolve_n_jobs(None),
            "openmp": openmp_enabled(), "platform": platform.platform(),
            "machine": platform.machine(), "versions": versions}


def _cpu_times():
    """Jiffies of all CPUs (/proc/stat) and this process's CPU seconds, or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq = fields[:7]
    steal = fields[7] if len(fields) > 7 else 0
    own = os.times()
    return {"busy": user + nice + system + irq + softirq, "idle": idle + iowait,
            "steal": steal, "own_seconds": own.user + own.system}


def cpu_use(before, after):
    """Shares of all CPUs' time between two :func:`_cpu_times` snapshots.

    Returns
    -------
    use : dict or None
        ``this_process``, ``other_processes`` (busy time not ours) and
        ``stolen`` (taken by the hypervisor for other guests), each a
        fraction of the CPUs' total time; None where /proc/stat is missing.
        Both sources count whole clock ticks, so over a short window this
        process's count can exceed the busy ticks it is part of; it is
        capped at them, which keeps every share within [0, 1].
    """
    if before is None or after is None:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    d = {k: after[k] - before[k] for k in ("busy", "idle", "steal")}
    total = (d["busy"] + d["idle"] + d["steal"]) / hz
    if total <= 0:
        return None
    own = min(after["own_seconds"] - before["own_seconds"], d["busy"] / hz)
    return {"this_process": own / total,
            "other_processes": max(0.0, d["busy"] / hz - own) / total,
            "stolen": d["steal"] / hz / total}


def run_benchmark(X, y, *, source, name=None, loss="hinge", alpha=1e-5, threads=None, epochs=10,
                  repeats=5):
    """Run every measurement on one binary problem and return the numbers.

    Parameters
    ----------
    X : sparse matrix of shape (n_samples, n_features)
        Rows are used as given (normalise them first).
    y : ndarray of shape (n_samples,)
        Binary labels.
    source : str
        Where the data came from, for the report.
    name : str, default=None
        A short name for plot titles; ``None``: the file name of ``source``.
    loss : {"hinge", "log_loss"}, default="hinge"
    alpha : float, default=1e-5
    threads : list of int, default=None
        hogwild's thread counts; ``None``: 1 to every usable thread.
    epochs : int, default=10
    repeats : int, default=5

    Returns
    -------
    results : dict
        JSON-serialisable: ``machine``, ``config``, ``data``, ``epoch_time``,
        ``float32``, ``floor``, ``optimum``, ``liblinear``,
        ``time_to_target``, ``peers``.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
    threads = sorted(set(threads or range(1, resolve_n_jobs(None) + 1)))
    if 1 not in threads:  # speed-ups and the float32 ratio are relative to one thread
        threads = [1] + threads
    info = machine_info()
    info["loadavg_before"] = list(os.getloadavg())
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0)
    X_tr, X_te = X_tr.tocsr(), X_te.tocsr()
    data = {"float64": (X_tr, y_tr, X_te, y_te),
            "float32": (X_tr.astype(np.float32), y_tr, X_te.astype(np.float32), y_te)}
    params = dict(loss=loss, penalty="l2", alpha=alpha, learning_rate="optimal",
                  max_iter=epochs, tol=None, random_state=0)
    contenders = [Contender("scikit-learn SGD", lambda: SGDClassifier(**params), 1,
                            kind="scikit-learn")]
    for n in threads:
        contenders.append(Contender(f"hogwild {n} thread{'s' * (n > 1)}",
                                    lambda n=n: HogwildClassifier(n_jobs=n, **params), n))
    float32 = Contender("hogwild 1 thread float32",
                        lambda: HogwildClassifier(n_jobs=1, **params), 1, dtype="float32")

    with threadpool_limits(limits=1, user_api="blas"):
        before = _cpu_times()
        rows = time_epochs(contenders + [float32], data, epochs, repeats)
        info["cpu_use_epoch_race"] = cpu_use(before, _cpu_times())
        floor = time_floor(X_tr, repeats=max(repeats, 5) * epochs, n_threads=max(threads))
        optimum = solve_optimum(X_tr, y_tr, loss, alpha)
        liblinear = time_liblinear(X_tr, y_tr, loss, alpha, optimum["objective"], repeats)
        target = time_to_target(contenders, X_tr, y_tr, loss, alpha, optimum["objective"],
                                MAX_EPOCHS_FACTOR * epochs, repeats)
        peers = run_peers(X_tr, y_tr, X_te, y_te, loss, alpha, epochs, max(threads), repeats,
                          optimum=optimum["objective"])
    info["loadavg_after"] = list(os.getloadavg())

    by_name = {r["name"]: r for r in rows}
    sklearn_s = by_name["scikit-learn SGD"]["seconds_per_epoch"]["median"]
    one_s = by_name["hogwild 1 thread"]["seconds_per_epoch"]["median"]
    for r in rows:
        s = r["seconds_per_epoch"]["median"]
        r["ns_per_nnz"] = s / X_tr.nnz * 1e9
        r["speedup_vs_1_thread"] = one_s / s if r["kind"] == "hogwild" else None
        r["ratio_to_sklearn"] = s / sklearn_s
    f32 = by_name[float32.name]
    floors = {k: {"seconds": f, "ns_per_nnz": f["median"] / X_tr.nnz * 1e9,
                  "ratio_to_sklearn": f["median"] / sklearn_s,
                  "ratio_to_hogwild_1_thread": f["median"] / one_s}
              for k, f in floor.items()}
    if "shuffled_dots_parallel" in floors:
        # the read's own speed-up, repeat by repeat, beside hogwild's
        floors["shuffled_dots_parallel"].update(threads=max(threads), speedup_vs_1_thread=float(
            np.median(np.divide(floor["shuffled_dots"]["all"],
                                floor["shuffled_dots_parallel"]["all"]))))
    return {
        "machine": info,
        "config": {"source": source, "name": name or Path(source).name, "loss": loss,
                   "penalty": "l2", "alpha": alpha, "learning_rate": "optimal",
                   "epochs": epochs, "repeats": repeats, "threads": threads,
                   "target_gap": TARGET_GAP, "max_epochs_to_target": MAX_EPOCHS_FACTOR * epochs},
        "data": {"n_samples": X.shape[0], "n_train": X_tr.shape[0], "n_test": X_te.shape[0],
                 "n_features": X.shape[1], "nnz_train": int(X_tr.nnz),
                 "positive_fraction": float(np.mean(y))},
        "epoch_time": [r for r in rows if r["name"] != float32.name],
        "float32": {**f32, "ratio_to_float64": f32["seconds_per_epoch"]["median"] / one_s,
                    "floor_ratio_to_float64": float(np.median(
                        np.divide(floor["shuffled_dots_float32"]["all"],
                                  floor["shuffled_dots"]["all"])))},
        "floor": floors,
        "optimum": optimum,
        "liblinear": liblinear,
        "time_to_target": target,
        "peers": peers,
    }


# ------------------------------------------------------------------------- report

def _table(header, rows, align):
    """Columns padded to their widest cell; ``align`` is a string of '<' and '>'."""
    cells = [header] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(f"{c:{a}{w}}" for c, a, w in zip(r, align, widths)).rstrip()
                     for r in cells)


def _ms(spread):
    return (f"{spread['median'] * 1e3:.2f}",
            f"[{spread['min'] * 1e3:.2f}-{spread['max'] * 1e3:.2f}]")


def _pct(gap):
    return f"{gap * 100:.3g}%"


def format_report(results):
    """The printed report: a header line and three aligned tables.

    Parameters
    ----------
    results : dict
        What :func:`run_benchmark` returns.

    Returns
    -------
    text : str
    """
    cfg, d, m = results["config"], results["data"], results["machine"]
    load = " ".join(f"{v:.2f}" for v in m["loadavg_before"])
    load_after = " ".join(f"{v:.2f}" for v in m["loadavg_after"])
    lines = [
        f"hogwild {m['versions']['hogwild']} bench: {cfg['source']}",
        f"train {d['n_train']:,} x {d['n_features']:,}, {d['nnz_train']:,} nnz "
        f"(test {d['n_test']:,} rows); loss={cfg['loss']}, L2 alpha={cfg['alpha']:g}, "
        f"{cfg['epochs']} epochs, {cfg['repeats']} repeats (interleaved, median [min-max]); "
        f"{m['cpu_count']} CPUs; load average {load} before, {load_after} after",
        "",
        "Epoch time: fit of all epochs / epochs",
    ]
    use = m.get("cpu_use_epoch_race")
    if use:
        lines[-1] += (f" (of all CPUs' time meanwhile: this process {use['this_process']:.0%}, "
                      f"other processes {use['other_processes']:.0%}, "
                      f"stolen by the hypervisor {use['stolen']:.0%})")
    rows = []
    for r in results["epoch_time"] + [results["float32"]]:
        med, rng = _ms(r["seconds_per_epoch"])
        speedup = r["speedup_vs_1_thread"]
        rows.append([r["name"], med, rng, f"{r['ns_per_nnz']:.2f}",
                     "-" if speedup is None else f"{speedup:.2f}x",
                     f"{r['ratio_to_sklearn']:.2f}", f"{r['test_accuracy']:.4f}"])
    for key, label in FLOORS.items():
        if key not in results["floor"]:  # results.json of an earlier version
            continue
        floor = results["floor"][key]
        med, rng = _ms(floor["seconds"])
        speedup = floor.get("speedup_vs_1_thread")
        rows.append([label.format(threads=floor.get("threads")), med, rng,
                     f"{floor['ns_per_nnz']:.2f}", "-" if speedup is None else f"{speedup:.2f}x",
                     f"{floor['ratio_to_sklearn']:.2f}", "-"])
    lines.append(_table(["contender", "ms/epoch", "[min-max] ms", "ns/nnz", "speed-up",
                         "x sklearn time", "test acc"], rows, "<>>>>>>"))
    f32 = results["float32"]
    lines.append(f"float32 / float64 epoch time, hogwild 1 thread: {f32['ratio_to_float64']:.2f}"
                 + (f"; the shuffled read's, repeat by repeat: {f32['floor_ratio_to_float64']:.2f}"
                    if "floor_ratio_to_float64" in f32 else ""))

    opt, lib = results["optimum"], results["liblinear"]
    lines += ["", f"Time to within {cfg['target_gap']:.1%} of the optimum "
              f"(objective {opt['objective']:.6g} by {opt['solver'].split('(')[0]}"
              f"{'' if opt['converged'] else ', NOT converged'}, {opt['seconds']:.2f} s"
              + (f", intercept penalty <= {_pct(opt['intercept_penalty_bound'])}"
                 if opt["intercept_penalty_bound"] else "") + "); "
              f"SGD runs partial_fit epochs, up to {cfg['max_epochs_to_target']}; "
              "'one fit' times fit(max_iter=epochs) once the epochs are known"]
    rows = []
    lib_s = lib["seconds"]
    rows.append([lib["name"] + " (default tol)", f"{lib_s['median']:.3f}",
                 f"[{lib_s['min']:.3f}-{lib_s['max']:.3f}]", "-", "-", "-",
                 ("reached" if lib["gap"] <= cfg["target_gap"] else "NOT reached")
                 + f", gap {_pct(lib['gap'])}" + ("" if lib["converged"] else ", no convergence")])
    for r in results["time_to_target"]:
        if r["seconds"] is None:
            rows.append([r["name"], "-", "-", "-", "-", "-",
                         f"not reached, best gap {_pct(r['best_gap'])}"])
            continue
        s, f = r["seconds"], r["fit_seconds"]
        note = f"best gap {_pct(r['best_gap'])}"
        if r["reached"] < r["runs"]:
            note = f"reached in {r['reached']}/{r['runs']} runs, " + note
        rows.append([r["name"], f"{s['median']:.3f}", f"[{s['min']:.3f}-{s['max']:.3f}]",
                     f"{r['epochs']:g}", f"{f['median']:.3f}", _pct(r["fit_gap"]), note])
    lines.append(_table(["contender", "partial_fit s", "[min-max] s", "epochs",
                         "one fit s", "fit gap", "result"], rows,
                        "<>>>>><"))
    for r in results["time_to_target"]:
        if "fit_speedup" in r:
            fit, read = r["fit_speedup"], r["read_speedup"]
            lines.append(f"{r['name']}, one fit: {fit['median']:.2f}x one thread's "
                         f"[{fit['min']:.2f}-{fit['max']:.2f}] round by round; the shuffled "
                         f"read between those rounds: {read['median']:.2f}x "
                         f"[{read['min']:.2f}-{read['max']:.2f}], the cores' own scaling then")

    lines += ["", "Peers (snapml to its own tolerance, vowpalwabbit for the epochs above)"]
    for p in results["peers"]:
        if p["status"] == "ok":
            med, rng = _ms(p["seconds"])
            gap = "" if p.get("gap") is None else f", gap {_pct(p['gap'])}"
            lines.append(f"{p['name']}: {med} ms per fit of {p.get('passes', cfg['epochs'])} "
                         f"passes {rng}{gap}, test acc {p['test_accuracy']:.4f}")
        elif p["status"] == "not installed":
            lines.append(f"{p['name']} not installed: skipped")
        else:
            lines.append(f"{p['name']} {p['status']}")
    return "\n".join(lines)


def write_results(results, out_dir):
    """Write ``results.json`` and, when matplotlib imports, the two plots.

    Parameters
    ----------
    results : dict
        What :func:`run_benchmark` returns.
    out_dir : str or path-like
        Created if missing.

    Returns
    -------
    written : list of pathlib.Path
    notes : list of str
        One line per thing that could not be written (matplotlib missing).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    written, notes = [path], []
    try:
        import matplotlib
    except ImportError:
        notes.append("matplotlib not installed: no plots (pip install 'hogwild[bench]')")
        return written, notes
    matplotlib.use("Agg")
    written += _plot(results, out)
    return written, notes


def _plot(results, out):
    import matplotlib.pyplot as plt

    cfg = results["config"]
    d = results["data"]
    title = (f"{cfg['name']}: {d['n_train']:,} x {d['n_features']:,}, {cfg['loss']}, "
             f"alpha={cfg['alpha']:g}")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    floor = 1e-7  # a run can end a hair below the reference optimum
    for r in results["time_to_target"]:
        t = [p["seconds"] for p in r["trace"]]
        g = [max(p["gap"], floor) for p in r["trace"]]
        ax.plot(t, g, marker=".", label=r["name"])
    # LIBLINEAR's whole fit: one point, its gap clipped at ``floor`` like the lines
    lib = results["liblinear"]
    ax.plot([lib["seconds"]["median"]], [max(lib["gap"], floor)], "k*", markersize=10,
            label=lib["name"])
    ax.axhline(cfg["target_gap"], color="grey", linestyle="--", linewidth=1,
               label=f"target {cfg['target_gap']:.1%}")
    ax.set(yscale="log", xlabel="wall time of partial_fit epochs (s)",
           ylabel="(objective - optimum) / optimum", title=title)
    ax.legend()
    fig.tight_layout()
    first = out / "objective_vs_time.png"
    fig.savefig(first, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    hog = [r for r in results["epoch_time"] if r["kind"] == "hogwild"]
    n = [r["threads"] for r in hog]
    ax.plot(n, [r["speedup_vs_1_thread"] for r in hog], "o-", label="hogwild")
    ax.plot(n, n, color="grey", linestyle="--", linewidth=1, label="linear")
    # hogwild 1 thread's time over scikit-learn's: scikit-learn's speed-up on this scale
    ax.axhline(hog[0]["ratio_to_sklearn"], color="C1", linewidth=1,
               label="scikit-learn SGD (1 thread)")
    read = results["floor"].get("shuffled_dots_parallel")
    if read:  # what the memory system allows: the shuffled read's own speed-up
        ax.plot([1, read["threads"]], [1.0, read["speedup_vs_1_thread"]], "s:", color="C2",
                label="read of the rows alone (x_i . w)")
    ax.set(xlabel="threads", ylabel="speed-up vs hogwild 1 thread (median epoch)",
           xticks=n, title=title)
    ax.legend()
    fig.tight_layout()
    second = out / "speedup_vs_threads.png"
    fig.savefig(second, dpi=120)
    plt.close(fig)
    return [first, second]
