"""Timing for ``hogwild bench``: interleaved epoch races, the read floors, time to target.

Every timer here runs contenders round-robin over the repeats, after one
warm-up each, so a slow spell of the machine hits them all alike.
"""
import os
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._losses import objective
from .._validation import checked_csr
from . import _reads


#: relative gap to the optimum that counts as "reached" in the time-to-target
#: race, unless the run sets another
TARGET_GAP = 1e-3


def _spread(values):
    values = np.asarray(values, dtype=float)
    return {"median": float(np.median(values)), "min": float(values.min()),
            "max": float(values.max()), "all": values.tolist()}


@dataclass
class Contender:
    """One model in a race: a name, a factory and its data; averaged SGD or not."""

    name: str
    make: Callable
    threads: int
    dtype: str = "float64"
    kind: str = "hogwild"
    averaged: bool = False


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
    X = checked_csr(X)  # row_dots trusts the arrays, as the epoch kernels do
    X32, w32 = X.astype(np.float32), w.astype(np.float32)
    out = np.empty(X.shape[0])
    reads = [("shuffled_dots", X, w, 1), ("shuffled_dots_float32", X32, w32, 1)]
    if n_threads > 1:
        reads.append(("shuffled_dots_parallel", X, w, n_threads))
    times = {"products": [], **{read[0]: [] for read in reads}}
    for i in range(repeats + 1):
        # Each read is timed right after an untimed one, as an epoch reads
        # the rows the epoch before it read: otherwise the matrix read last
        # is in L3 and the others partly not (docs/benchmarks.md).
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
    _reads.row_dots(X.data, X.indices, X.indptr, order, w, out, team)
    start = time.perf_counter()
    _reads.row_dots(X.data, X.indices, X.indptr, order, w, out, team)
    return time.perf_counter() - start


def _fit_quietly(model, X, y):
    """Fit, returning (seconds, converged): a ConvergenceWarning is recorded, not shown."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    return seconds, not any(issubclass(w.category, ConvergenceWarning) for w in caught)


def _trajectory(make, X, y, signed, classes, loss, alpha, optimum, max_epochs, target_gap):
    """``(seconds, gap)`` after each ``partial_fit`` epoch; stops at ``target_gap``
    (None: runs every epoch)."""
    model = make()
    elapsed, trace = 0.0, []
    for _ in range(max_epochs):
        start = time.perf_counter()
        model.partial_fit(X, y, classes=classes)
        elapsed += time.perf_counter() - start
        value = objective(model.coef_, model.intercept_, X, signed, loss, alpha)
        trace.append((elapsed, (value - optimum) / optimum))
        if target_gap is not None and trace[-1][1] <= target_gap:
            break
    return trace


def time_to_target(contenders, X, y, loss, alpha, optimum, max_epochs, repeats,
                   target_gap=TARGET_GAP):
    """Wall time of ``partial_fit`` epochs until the objective is within ``target_gap``.

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
    target_gap : float, default=TARGET_GAP
        Relative gap ``(objective - optimum) / optimum`` that counts as reached.

    Returns
    -------
    rows : list of dict
        Per contender: ``name``, ``threads``, ``averaged``, ``reached`` (runs that got
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
                                              optimum, max_epochs,
                                              target_gap if r > 0 else None))
    rows = []
    for c in contenders:
        hits = []
        for trace in traces[c.name]:
            for epoch, (seconds, gap) in enumerate(trace, start=1):
                if gap <= target_gap:
                    hits.append((seconds, epoch))
                    break
        rows.append({
            "name": c.name, "threads": c.threads, "averaged": c.averaged, "runs": repeats,
            "reached": len(hits),
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
    same rounds), each a spread over the rounds. An averaged row is compared
    with the averaged 1-thread row.
    """
    todo = [(c, r) for c, r in zip(contenders, rows) if r["epochs"] is not None]
    times = {c.name: [] for c, _ in todo}
    teams = sorted({c.threads for c, _ in todo if c.kind == "hogwild" and c.threads > 1})
    X_read = checked_csr(X)  # row_dots trusts the arrays, as the epoch kernels do
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
    one = {c.averaged: c.name for c, _ in reversed(todo)
           if c.kind == "hogwild" and c.threads == 1}
    for c, r in todo:
        if c.averaged in one and c.kind == "hogwild" and c.threads > 1:
            r["fit_speedup"] = _spread(np.divide(times[one[c.averaged]], times[c.name]))
            r["read_speedup"] = _spread([read[c.threads] for read in reads])


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
