"""The epoch driver: everything a linear fit does between kernel calls.

One :class:`EpochDriver` trains one problem (a binary or regression model)
through a strategy (``_strategies.py``). It owns the epoch loop: the row
order and its shuffles, the step-size schedule (decided once, in
:class:`Schedule`), the chunks each epoch is cut into, the divergence
check, ``verbose`` lines, the stopping rules and the per-chunk hook.

The seam: :meth:`EpochDriver.run` ("run these epochs from step ``t`` and
report") and :meth:`EpochDriver.run_rows` ("run these rows"). After each
chunk (tens of milliseconds of work) the driver calls ``on_chunk`` with a
:class:`Progress`; a hook that raises stops the training there, and Python
handles Ctrl-C between chunks. One-vs-rest threads use the hook to stop
together (:func:`train_problems`); progress bars and distributed rounds
can drive the same seam.
"""
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .. import _native

# An epoch is cut into kernel calls of about this many non-zeros (tens of
# milliseconds), so that Python regains control often: Ctrl-C and the hook
# take effect between calls.
CHUNK_NNZ = 1 << 24


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule, decided once per fit.

    The kernel computes the 'optimal' and 'invscaling' steps row by row
    (``_native.step_size``); for the others the step is fixed within an
    epoch and this class picks it: ``eta0``, decayed by ``backoff`` per epoch
    (the Hogwild! paper's schedule), or cut by 5 on a plateau ('adaptive',
    which the driver does).
    """

    learning_rate: str
    eta0: float
    power_t: float
    alpha: float
    backoff: float
    code: int  # the kernel's schedule code
    optimal_init: float  # the 'optimal' schedule's t0

    @classmethod
    def make(cls, learning_rate, eta0, power_t, alpha, backoff, loss_code, epsilon):
        """The schedule, with the 'optimal' t0 as scikit-learn sets it (Bottou's heuristic).

        ``t0 = 1 / (eta_init * alpha)`` where ``eta_init = typw / max(1,
        |dloss(-typw, 1)|)`` and ``typw = sqrt(1 / sqrt(alpha))``, the
        typical size of a weight.
        """
        code, optimal_init = _native.SCHEDULES["fixed"], 0.0
        if learning_rate == "optimal":
            typw = np.sqrt(1.0 / np.sqrt(alpha))
            _, dloss = _native.loss_and_derivative(
                loss_code, np.array([-typw]), np.array([1.0]), float(epsilon))
            initial_eta0 = typw / max(1.0, dloss[0])
            code, optimal_init = _native.SCHEDULES["optimal"], 1.0 / (initial_eta0 * alpha)
        elif learning_rate == "invscaling":
            code = _native.SCHEDULES["invscaling"]
        return cls(learning_rate, float(eta0), float(power_t), float(alpha), float(backoff),
                   code, optimal_init)

    def first_eta(self, epochs_done):
        """The fixed step of the epoch after ``epochs_done`` earlier ones."""
        if self.learning_rate == "backoff":
            return self.eta0 * self.backoff ** epochs_done
        return self.eta0


@dataclass(frozen=True)
class Stopping:
    """When to stop: scikit-learn's ``tol`` / ``n_iter_no_change`` rules.

    ``tol=None`` never stops early. With ``score`` (early stopping), the
    rule watches ``score()``, the held-out score of the current model;
    otherwise the epoch's summed training loss. ``adaptive`` cuts the step
    by 5 on a plateau instead of stopping, until it falls below 1e-6.
    """

    tol: float = None
    n_iter_no_change: int = 5
    adaptive: bool = False
    score: object = None


class Plateau:
    """scikit-learn's stopping counter on a value to minimise.

    An epoch whose value is not below the best so far by ``margin`` counts
    as no improvement; :meth:`update` says when ``n_iter_no_change`` such
    epochs have come in a row. ``margin=None`` never reaches a plateau.
    """

    def __init__(self, margin, n_iter_no_change):
        self.margin, self.n_iter_no_change = margin, n_iter_no_change
        self.best, self.count = np.inf, 0

    def update(self, value):
        """Record an epoch's value; whether the plateau is reached."""
        worse = self.margin is not None and value > self.best - self.margin
        self.count = self.count + 1 if worse else 0
        self.best = min(self.best, value)
        return self.count >= self.n_iter_no_change


@dataclass
class Progress:
    """What the per-chunk hook is told: where the driver is."""

    epoch: int  # 0-based, within this run
    rows_done: int  # of this epoch
    n_rows: int  # in an epoch
    t: float  # step number of the next row
    sumloss: float  # of this epoch so far


@dataclass
class Report:
    """What a run did."""

    n_epochs: int = 0
    t: float = 1.0  # step number of the next row
    eta: float = 0.0  # the fixed step at the end (adaptive may have cut it)
    epoch_losses: list = field(default_factory=list)  # summed loss of each epoch
    converged: bool = False  # the stopping rule ended the run


class Stopped(Exception):
    """The per-chunk hook stopped the training (one-vs-rest: another class failed)."""


class EpochDriver:
    """The epoch loop of one problem, around a strategy.

    Parameters
    ----------
    strategy : SharedEpochs or ReplicaEpochs
        Trains rows (``strategy(order, t) -> sumloss``); its ``params`` is
        the kernel's :class:`~hogwild._core.SGDParams`, whose ``eta`` the
        driver sets, and its ``problem`` holds the model.
    rows : ndarray of int
        The training rows (an epoch visits each once).
    seed : int
        Of the shuffles: epoch ``e`` of a run uses ``epoch_seed(seed, e)``.
    shuffle : bool
    schedule : Schedule
    stopping : Stopping
    verbose : int, default=0
    on_chunk : callable, default=None
        Called with a :class:`Progress` after every kernel call; raise to stop.
    """

    def __init__(self, strategy, rows, *, seed, shuffle, schedule, stopping, verbose=0,
                 on_chunk=None):
        self.strategy, self.schedule, self.stopping = strategy, schedule, stopping
        self.order = np.array(rows, dtype=np.int64)  # shuffled in place each epoch
        self.seed, self.shuffle, self.verbose, self.on_chunk = seed, shuffle, verbose, on_chunk
        self._bounds = {}  # chunk bounds by number of rows

    def _chunks(self, n_rows):
        """``(start, end)`` of each kernel call over ``n_rows`` positions."""
        if n_rows not in self._bounds:
            n_chunks = max(1, int(np.ceil(n_rows * self.strategy.rows.nnz_per_row / CHUNK_NNZ)))
            bounds = np.linspace(0, n_rows, n_chunks + 1).astype(np.int64).tolist()
            self._bounds[n_rows] = list(zip(bounds[:-1], bounds[1:]))
        return self._bounds[n_rows]

    def run_rows(self, order, t, epoch=0):
        """Train on the rows ``order`` from step ``t``, chunk by chunk; their summed loss."""
        sumloss = 0.0
        for start, end in self._chunks(len(order)):
            sumloss += self.strategy(order[start:end], t + start)
            if self.on_chunk is not None:
                self.on_chunk(Progress(epoch, int(end), len(order), t + end, sumloss))
        return sumloss

    def run(self, max_epochs, t, epochs_done=0):
        """Train up to ``max_epochs`` epochs from step ``t``, stopping by the rules.

        Parameters
        ----------
        max_epochs : int
        t : float
            Step number of the first row (scikit-learn's ``t_``, from 1).
        epochs_done : int, default=0
            Epochs trained before this run (the 'backoff' schedule counts them).

        Returns
        -------
        report : Report
        """
        prob, params, stop = self.strategy.problem, self.strategy.params, self.stopping
        n_rows = len(self.order)
        eta = self.schedule.eta0
        params_eta = params.eta
        # the held-out score is maximised, the training loss minimised
        plateau = Plateau(stop.tol if stop.score is not None else (
            None if stop.tol is None else stop.tol * n_rows), stop.n_iter_no_change)
        report = Report(t=t, eta=eta)
        start_time = time.time()
        for epoch in range(max_epochs):
            if self.verbose > 0:
                print(f"-- Epoch {epoch + 1}")
            if self.shuffle:
                _native.shuffle(self.order, epoch_seed(self.seed, epoch))
            if self.schedule.learning_rate == "backoff":
                eta = self.schedule.first_eta(epochs_done + epoch)
            if eta != params_eta:  # a struct field set from Python: skip when unchanged
                params.eta = params_eta = eta
            sumloss = self.run_rows(self.order, t, epoch)
            t += n_rows
            report.n_epochs, report.t, report.eta = epoch + 1, t, eta
            report.epoch_losses.append(sumloss)
            # scikit-learn clips the loss derivative, so a too-large step can grow the
            # weights without overflowing them while predictions overflow: check both.
            if not (np.isfinite(sumloss) and np.isfinite(prob.intercept).all()
                    and np.isfinite(prob.coef).all()):
                # scikit-learn's words first: code that matches them still does
                raise ValueError(
                    f"Floating-point under-/overflow occurred at epoch #{epoch + 1}. "
                    "Scaling input data with StandardScaler or MinMaxScaler might help "
                    "(MaxAbsScaler or normalize for sparse input), as might a smaller "
                    "eta0 or a larger alpha: the model diverged."
                )
            if self.verbose > 0:
                w = prob.coef
                print(
                    f"Norm: {np.linalg.norm(w):.2f}, NNZs: {np.count_nonzero(w)}, "
                    f"Bias: {prob.intercept[0]:.6f}, T: {n_rows * (epoch + 1)}, "
                    f"Avg. loss: {sumloss / n_rows:f}"
                )
                print(f"Total training time: {time.time() - start_time:.2f} seconds.")
            value = -stop.score(t) if stop.score is not None else sumloss
            if plateau.update(value):
                if stop.adaptive and eta > 1e-6:
                    eta /= 5.0
                    plateau.count = 0
                else:
                    if self.verbose:
                        print(f"Convergence after {epoch + 1} epochs took "
                              f"{time.time() - start_time:.2f} seconds")
                    report.converged = True
                    break
        return report

    def close(self):
        """Release the strategy's scratch memory; the driver is done."""
        self.strategy.release()


def epoch_seed(seed, epoch):
    """The shuffle seed of a problem's epoch: one per (seed, epoch).

    The seeds of one problem are far apart in SplitMix64's sequence, so its
    epochs' streams do not meet in practice.
    """
    return (int(seed) << 32) | (epoch & 0xFFFFFFFF)


def train_problems(train, problems, n_threads):
    """``[train(problem, threads, on_chunk) for problem in problems]``, side by side.

    One-vs-rest classes run on Python threads (the kernels release the GIL),
    the threads left over split inside each class; with at least as many
    classes as threads every class runs on one thread: no write contention,
    and each class is reproducible. Ctrl-C (or an error in one class)
    reaches the calling thread, which tells the other classes to stop at
    their next chunk through their ``on_chunk`` hook.

    Parameters
    ----------
    train : callable
        ``train(problem, n_threads, on_chunk) -> result``.
    problems : list
    n_threads : int
        Threads in all.

    Returns
    -------
    results : list
    """
    if len(problems) < 2 or n_threads < 2:
        return [train(problem, n_threads, None) for problem in problems]
    inner = max(1, n_threads // len(problems))
    stop = threading.Event()

    def on_chunk(progress):
        if stop.is_set():
            raise Stopped

    pool = ThreadPoolExecutor(max_workers=min(n_threads, len(problems)))
    try:
        return list(pool.map(lambda problem: train(problem, inner, on_chunk), problems))
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
