"""The client's side of a distributed fit: partitions to workers, rounds or clocks, faults.

:func:`distributed_train` is the whole fit once the estimator has checked
its parameters:

1. every partition of X and y is computed and checked on a worker
   (:func:`~._worker.prepare`) and stays there; the client gathers only
   their summaries (rows, labels, column statistics), and refuses bad input
   before any training starts;
2. the partitions are grouped by the worker that holds them: one task per
   worker per round (``average``) or one long task per worker (``ssp``);
3. the model stays on the workers between rounds; the client pulls it every
   ``SNAPSHOT_EVERY`` clocks, and after a failure (a worker killed) goes on
   from the last snapshot with the partitions Dask recomputed, so every row
   is trained on as often as asked.
"""
import copy
import time
import warnings

import numpy as np
from distributed import wait
from distributed.client import FutureCancelledError
from distributed.comm.core import CommClosedError
from distributed.scheduler import KilledWorker

from ..linear_model._epochs import Schedule
from .. import _native
from ._server import ParameterServer, ssp_loop
from ._worker import (Plan, describe, merge, prepare, score_from_sums, straggler_delay,
                      train_clock, validation_sums)

# The client pulls the model (a snapshot to restart from) every this many clocks.
SNAPSHOT_EVERY = 10

# How long a fit waits for Dask to recompute the partitions of a lost worker.
RECOMPUTE_TIMEOUT = 120

# What a lost worker looks like from the client.
WORKER_LOST = (KilledWorker, FutureCancelledError, CommClosedError, OSError, TimeoutError)


def _summary(model):
    """A merged model's loss, rows, whether it is finite, and each worker's threads."""
    finite = bool(np.isfinite(model["coef"]).all() and np.isfinite(model["intercept"]).all())
    return model["loss"], model["rows"], finite, model["threads"]


def _diverged(clock):
    return ValueError(
        f"Floating-point under-/overflow occurred at clock #{clock + 1}: the model "
        "diverged. Use a smaller eta0, a larger alpha, or scale the input "
        "(StandardScaler, MaxAbsScaler or normalize).")


class Partitions:
    """The fit's data on the workers: one checked :class:`~._worker.Part` per block.

    Parameters
    ----------
    client : distributed.Client
    futures : list of Future
        One ``Part`` each, in row order.
    summaries : list of dict
        :func:`~._worker.describe` of each.
    """

    def __init__(self, client, futures, summaries):
        self.client, self.futures, self.summaries = client, futures, summaries
        self.n_total = sum(s["n_rows"] for s in summaries)
        self.n_features = summaries[0]["n_features"]
        self.col_sq = sum(s["col_sq"] for s in summaries) / max(1, self.n_total)

    @classmethod
    def compute(cls, client, estimator, blocks, dtype, classifier, seed=0):
        """Compute and check ``blocks`` (``(X, y, sample_weight)`` delayed triples) on the workers.

        ``seed`` seeds early stopping's split of each partition.
        """
        import dask

        # Partitions go to the workers in row order, once (the first P / W to
        # the first worker, ...): the grouping, and so an 'average' fit with a
        # fixed random_state, is the same on any cluster of as many workers.
        workers = sorted(_workers(client))
        futures = [
            client.compute(dask.delayed(prepare, pure=False)(estimator, i, X, y, sw, dtype,
                                                             seed),
                           workers=[workers[i * len(workers) // len(blocks)]],
                           allow_other_workers=True)
            for i, (X, y, sw) in enumerate(blocks)]
        try:
            summaries = client.gather(client.map(describe, futures, classifier=classifier,
                                                 pure=False))
        except (ValueError, TypeError):
            raise  # a partition's own check, which names it
        except Exception as exc:
            raise ValueError(
                f"Computing the partitions of X and y failed ({type(exc).__name__}: "
                f"{exc}); X's blocks must be computable to train on them.") from exc
        kinds = {s["sparse"] for s in summaries}
        if len(kinds) > 1:
            first = [s["sparse"] for s in summaries]
            raise TypeError(
                "X's partitions mix sparse and dense blocks (partition "
                f"{first.index(True)} is sparse, partition {first.index(False)} dense); "
                "make every block CSR or every block a NumPy array.")
        widths = [s["n_features"] for s in summaries]
        if len(set(widths)) > 1:
            odd = next(i for i, w in enumerate(widths) if w != widths[0])
            raise ValueError(
                f"X's partitions differ in width: partition 0 has {widths[0]} features, "
                f"partition {odd} has {widths[odd]}; pass n_features when reading them.")
        return cls(client, futures, summaries)

    def groups(self):
        """``{worker address: [part futures]}``: each part with the worker holding it."""
        who_has = self.client.who_has(self.futures)
        workers = sorted(_workers(self.client))
        groups = {}
        for future in self.futures:
            holders = [w for w in who_has.get(future.key, ()) if w in workers]
            if holders:
                groups.setdefault(holders[0], []).append(future)
        # parts whose worker died: to the worker with the fewest (Dask recomputes them)
        for future in self.futures:
            if not any(w in workers for w in who_has.get(future.key, ())):
                target = min(workers, key=lambda w: len(groups.get(w, [])))
                groups.setdefault(target, []).append(future)
        return groups


def _workers(client):
    """The addresses of the workers now; waits (a minute at most) while there are none."""
    workers = set(client.nthreads())
    if not workers:  # between a worker's death and its nanny's restart, say
        client.wait_for_workers(1, timeout=60)
        workers = set(client.nthreads())
    return workers


def _note_departures(client, workers, fault, clock):
    """The workers now; those of ``workers`` that are gone go into ``fault``."""
    now = _workers(client)
    if workers - now:
        fault.left(workers - now, clock)
    return now


class Fault:
    """What a fit saw go wrong, for the one warning at its end."""

    def __init__(self):
        self.events = []

    def left(self, workers, clock):
        self.events.append(f"worker {', '.join(sorted(workers))} left at clock {clock}")

    def restarted(self, clock, snapshot_clock):
        self.events.append(f"clock {clock} failed; restarted from the snapshot at clock "
                           f"{snapshot_clock}")

    def warn(self):
        if self.events:
            warnings.warn(
                "The distributed fit lost workers and recovered: " + "; ".join(self.events)
                + ". Their partitions were recomputed and every row was trained on as "
                "often as asked.", RuntimeWarning, stacklevel=4)


def _then_sleep(straggle, worker, train, plan, parts, model, clock, eta):
    """``train(...)``, then a slowed worker's nap (benchmarks, tests)."""
    result = train(plan, parts, model, clock, eta)
    delay = straggler_delay(straggle, worker, clock)
    if delay:
        time.sleep(delay)
    return result


def train_average(client, parts, plan, clocks, model, verbose=0, on_clock=None,
                  straggle=None):
    """``sync="average"``: every clock, each worker trains from the model; the changes merge.

    ``straggle`` slows workers down (:func:`~._worker.straggler_delay`).

    Returns
    -------
    model : dict
    history : list of dict
        Per clock: seconds, training loss, rows, bytes moved.
    n_clocks : int
        Clocks run.
    clocks : Clocks
        The stopping rule's state at the end (a restart rewinds it).
    """
    fault = Fault()
    plan_f, col_sq_f = client.scatter([plan, parts.col_sq], broadcast=True, hash=False)
    # what a restart goes back to: the clock, the model, the stopping rule's state
    snapshot = (0, model, copy.deepcopy(clocks))
    model_f = client.scatter([model], broadcast=True, hash=False)[0]
    history, clock = [], 0
    workers = _workers(client)
    # Where each worker's partitions are is looked up again only after a
    # failure or at a snapshot that finds the workers changed: between them,
    # a round costs the client one round trip.
    groups = parts.groups()
    while clock < clocks.n_clocks:
        start = time.perf_counter()
        try:
            changes = [client.submit(_then_sleep, straggle, i, train_clock,
                                     plan_f, group, model_f, clock, clocks.eta(clock),
                                     workers=[w], allow_other_workers=True, pure=False)
                       for i, (w, group) in enumerate(groups.items())]
            model_f = client.submit(merge, model_f, changes, col_sq_f, pure=False)
            loss, rows, finite, threads = client.submit(_summary, model_f,
                                                        pure=False).result()
            score = None
            if clocks.by_score and clocks.ends_epoch(clock):
                sums = client.gather([
                    client.submit(validation_sums, plan_f, group, model_f, workers=[w],
                                  allow_other_workers=True, pure=False)
                    for w, group in groups.items()])
                score = score_from_sums(sums)
        except WORKER_LOST:
            fault.restarted(clock, snapshot[0])
            clock, model, clocks = snapshot[0], snapshot[1], copy.deepcopy(snapshot[2])
            del history[clock:]
            wait(parts.futures, timeout=RECOMPUTE_TIMEOUT)  # Dask recomputes lost ones
            groups = parts.groups()
            model_f = client.scatter([model], broadcast=True, hash=False)[0]
            plan_f, col_sq_f = client.scatter([plan, parts.col_sq], broadcast=True,
                                              hash=False)
            continue
        if not finite:
            raise _diverged(clock)
        n_workers = len(groups)
        history.append({
            "clock": clock, "seconds": time.perf_counter() - start, "loss": loss,
            "validation_score": score,
            "rows": rows, "workers": n_workers, "threads": threads,
            # the changes up (float32) and the model down to every worker but one
            "bytes": n_workers * parts.n_features * model["coef"].shape[0]
            * (np.dtype(np.float32).itemsize + model["coef"].dtype.itemsize),
        })
        if verbose:
            print(f"-- Clock {clock + 1}: loss {loss / max(1, rows):.6f} over {rows} rows, "
                  f"{history[-1]['seconds']:.3f} s")
        if on_clock is not None:
            on_clock(clock)
        stop = clocks.record(clock, loss, rows, score)
        clock += 1
        if stop or clock % SNAPSHOT_EVERY == 0 or clock == clocks.n_clocks:
            model = model_f.result()
            model = {"coef": model["coef"], "intercept": model["intercept"]}
            snapshot = (clock, model, copy.deepcopy(clocks))
            model_f = client.scatter([model], broadcast=True, hash=False)[0]
            now = _note_departures(client, workers, fault, clock)
            if now != workers:
                workers, groups = now, parts.groups()
        if stop:
            break
    fault.warn()
    return snapshot[1], history, clock, clocks


def train_ssp(client, parts, plan, clocks, model, staleness, straggle=None, verbose=0,
              on_clock=None):
    """``sync="ssp"``: a parameter server and one loop per worker, at most ``staleness`` apart.

    Parameters
    ----------
    straggle : dict, default=None
        Slowed slots (:func:`~._worker.straggler_delay`).

    Returns
    -------
    model : dict
    history : dict
        The server's record: ``started`` (slot, clock, slowest slot's
        clock) at each clock's start, ``push_times`` (slot, clock, seconds)
        at each push, ``losses`` per epoch, ``pulls``, ``seconds``.
    n_clocks : int
        Clocks run (the slowest slot's).
    """
    fault = Fault()
    groups = list(parts.groups().items())
    n_slots = len(groups)
    snapshot = {"coef": model["coef"], "intercept": model["intercept"],
                "clocks": [0] * n_slots, "stop_at": clocks.n_clocks, "started": [],
                "losses": [], "pending": {}, "plateau": (np.inf, 0),
                "eta": clocks.schedule.eta0, "pulls": 0, "push_times": []}
    start = time.perf_counter()
    plan_f = client.scatter(plan, broadcast=True, hash=False)
    last_snapshot_clock = 0
    workers = _workers(client)
    while True:
        server_f = client.submit(ParameterServer, snapshot, snapshot["clocks"], staleness,
                                 parts.col_sq, clocks, actor=True, pure=False,
                                 workers=[groups[0][0]], allow_other_workers=True)
        server = server_f.result()
        server.restore(snapshot).result()
        loops = [client.submit(ssp_loop, plan_f, group, server, slot, staleness,
                               straggle, workers=[w],
                               allow_other_workers=True, pure=False)
                 for slot, (w, group) in enumerate(groups)]
        try:
            while not all(f.done() for f in loops):
                time.sleep(0.05)
                for f in loops:
                    if f.status == "error":
                        f.result()  # raises the loop's error
                state = server.snapshot().result()
                slowest = min(state["clocks"])
                workers = _note_departures(client, workers, fault, slowest)
                if on_clock is not None:
                    on_clock(slowest)
                if slowest - last_snapshot_clock >= SNAPSHOT_EVERY:
                    snapshot, last_snapshot_clock = state, slowest
            for f in loops:
                f.result()
            snapshot = server.snapshot().result()
            break
        except WORKER_LOST + (RuntimeError, ValueError) as exc:
            if isinstance(exc, ValueError) and "diverged" in str(exc):
                raise
            if isinstance(exc, (RuntimeError, ValueError)) and not _is_lost(exc):
                raise
            fault.restarted(min(snapshot["clocks"]) if snapshot else 0,
                            min(snapshot["clocks"]))
            for f in loops:
                f.cancel()
            wait(parts.futures, timeout=RECOMPUTE_TIMEOUT)
            groups = _regroup(parts, groups)
            plan_f = client.scatter(plan, broadcast=True, hash=False)
            del exc
        workers = _note_departures(client, workers, fault, min(snapshot["clocks"]))
    fault.warn()
    model = {"coef": snapshot["coef"], "intercept": snapshot["intercept"]}
    if not (np.isfinite(model["coef"]).all() and np.isfinite(model["intercept"]).all()):
        raise _diverged(min(snapshot["clocks"]))
    history = {"started": snapshot["started"], "losses": snapshot["losses"],
               "pulls": snapshot["pulls"], "seconds": time.perf_counter() - start,
               "clocks": snapshot["clocks"], "push_times": snapshot["push_times"]}
    return model, history, min(snapshot["clocks"])


def _is_lost(exc):
    """Whether an error from a loop or the server means a worker (or the actor) is gone."""
    text = f"{type(exc).__name__}: {exc}"
    return any(word in text for word in ("Actor", "actor", "lost", "closed", "Worker",
                                         "connect", "Stream"))


def _regroup(parts, slots):
    """The slots after a failure: each keeps its partitions, on a worker alive now.

    A slot's clocks count its own partitions' clocks, so the partitions stay
    with their slot; the slot runs where its first partition is now (Dask
    recomputes lost ones), or on the live worker with the fewest slots.
    """
    who_has = parts.client.who_has([f for _, group in slots for f in group])
    alive = sorted(_workers(parts.client))
    placed = []
    for _, group in slots:
        holders = [w for w in who_has.get(group[0].key, ()) if w in alive]
        target = holders[0] if holders else min(
            alive, key=lambda w: sum(1 for a, _ in placed if a == w))
        placed.append((target, group))
    return placed


def make_plan(estimator, local, parts, fraction, seeds, t_start, epochs_done):
    """The :class:`~._worker.Plan` of a fit."""
    schedule = Schedule.make(estimator.learning_rate, estimator.eta0, estimator.power_t,
                             estimator.alpha, estimator.backoff,
                             _native.LOSSES[estimator.loss], estimator.epsilon)
    return Plan(estimator=local, schedule=schedule, seeds=tuple(int(s) for s in seeds),
                fraction=float(fraction), t_start=float(t_start), n_total=parts.n_total,
                epochs_done=int(epochs_done), n_jobs=estimator.n_jobs)
