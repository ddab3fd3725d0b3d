"""The reference solvers and the peers ``hogwild bench`` races: LIBLINEAR, snapml, Vowpal Wabbit."""
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from .._losses import objective
from ._timing import _fit_quietly, _spread


#: a peer stops repeating once its fits took this long (Vowpal Wabbit's text
#: interface is slow: docs/benchmarks.md), after at least one timed fit
PEER_SECONDS = 10.0


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
    bound), while a large ``intercept_scaling`` makes the dual coordinate
    descent crawl (docs/benchmarks.md, "The exact optimum").
    """
    C = 1.0 / (n_samples * alpha)
    if loss == "log_loss":
        if liblinear:
            return LogisticRegression(solver="liblinear", C=C)
        return LogisticRegression(C=C, tol=1e-10, max_iter=10_000)
    if liblinear:
        return LinearSVC(loss="hinge", C=C, dual=True)
    return LinearSVC(loss="hinge", C=C, tol=1e-8, max_iter=100_000, dual=True)


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
