"""The two ways threads share a linear model, each a thin adapter over its kernel.

A strategy owns the kernel's state for one problem (one binary or
regression model) through a fit, and runs rows: ``strategy(order, t)``
trains on the rows ``order`` as steps ``t, t + 1, ...`` and returns their
summed loss. The epoch driver (``_epochs.py``) decides everything else.

- :class:`SharedEpochs`: every thread on one weight buffer, the Hogwild!
  paper's method (``_core.sgd_epoch``);
- :class:`ReplicaEpochs`: a private scaled replica per thread, merged at
  barriers (``_core.sgd_epoch_replicas``); with one thread, scikit-learn's
  sequential SGD, averaged SGD included.
"""
import threading

import numpy as np
import scipy.sparse as sp

from .. import _core

# Replicas merge every SYNC_WORK * n_features non-zeros of work (at least
# every MIN_SYNC_ROWS rows a thread): a merge touches O(n_features) per
# thread, so it costs about 1 / SYNC_WORK of the work between merges.
# Below MIN_ROWS_PER_THREAD rows a thread, replicas would run most of an
# epoch blind to each other, so fewer threads train. (docs/design.md, "The
# replica merge", for how these were chosen.)
SYNC_WORK = 64
MIN_SYNC_ROWS = 32
MIN_ROWS_PER_THREAD = 128


class KernelRows:
    """X as the kernels read it: CSR arrays, or a dense C-ordered X raveled.

    Built once per fit without copying X. Dense X has empty ``indices`` and
    ``indptr``, which is how the kernels tell the two apart.
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

    @property
    def nnz_per_row(self):
        """Mean stored values a row (n_features for dense X)."""
        if self.dense:
            return float(self.n_features)
        return self.data.shape[0] / max(1, self.n_samples)

    def mean_square(self, out=None):
        """Mean of ``x_u ** 2`` per column, over at most 1,024 evenly spread rows."""
        return _core.column_mean_square(self.data, self.indices, self.indptr,
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


class Problem:
    """One binary (or regression) problem: its targets, weights and model.

    ``coef`` and ``intercept`` are 1-D views into the estimator's
    ``(n_outputs, n_features)`` buffers; ``average`` is ``(avg_coef,
    avg_intercept, avg_stamp)`` views, or None; ``label`` is the positive
    class of a one-vs-rest problem.
    """

    def __init__(self, y, sample_weight, coef, intercept, average=None, label=None):
        self.y, self.sample_weight = y, sample_weight
        self.coef, self.intercept, self.average = coef, intercept, average
        self.label = label


class ScratchPool:
    """Scratch memory kept from one fit to the next: one buffer, at most LIMIT bytes.

    glibc gives freed memory of this size back to the system at once, so
    replicas allocated afresh for every fit cost a page fault per 4 KiB on
    first touch, a visible share of a short multi-thread fit (docs/design.md,
    "Per-fit costs"). The pool keeps the largest buffer given back. Taking
    empties it, so concurrent fits (one-vs-rest threads) never share a
    buffer: the ones that find it empty allocate. Beyond LIMIT a fit's epochs
    dwarf the faults, and holding the memory would cost more than it saves.
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


SCRATCH = ScratchPool()


class SharedEpochs:
    """Rows trained on one weight buffer shared by all threads (the Hogwild! paper).

    L2 is the paper's sparse ``n / d_u`` scheme, L1 the lazy cumulative
    penalty; averaging is supported.

    Parameters
    ----------
    problem : Problem
    rows : KernelRows
    params : _core.SGDParams
    inv_freq : ndarray of shape (n_features,)
        ``rows.inv_freq`` of the training rows.
    average_start : int
        First step the average counts.
    """

    def __init__(self, problem, rows, params, inv_freq, average_start):
        self.problem, self.rows, self.params = problem, rows, params
        self.state = _core.SharedState(problem.coef, problem.intercept, inv_freq,
                                       l1=params.l1 > 0, average=problem.average,
                                       average_start=average_start)

    def __call__(self, order, t):
        rows, prob = self.rows, self.problem
        sumloss = _core.sgd_epoch(rows.data, rows.indices, rows.indptr, prob.y,
                                  prob.sample_weight, order, t, self.params, self.state)
        if prob.average is not None:
            flush_average(prob.coef, prob.average, self.state.average_start,
                          int(t) + len(order) - 1)
        return sumloss

    def release(self):
        """Nothing to give back: the shared epochs keep no scratch memory."""


class ReplicaEpochs:
    """Rows trained with one private, scaled weight replica per thread.

    The kernel merges the replicas into the model at barriers and leaves
    every replica equal to the model, so they are filled once, here. With
    one thread the replica is the model itself: sequential SGD with exact
    L2, as in scikit-learn, and averaging as scikit-learn averages (with
    several threads averaging runs on :class:`SharedEpochs`).

    Parameters
    ----------
    problem : Problem
    rows : KernelRows
    params : _core.SGDParams
        Its ``n_threads`` sizes the replicas; 1 if ``problem.average``.
    average_start : int, default=0
        First step the average counts.
    """

    def __init__(self, problem, rows, params, average_start=0):
        self.problem, self.rows, self.params = problem, rows, params
        average = None
        if problem.average is not None:
            average = problem.average[:2]
            self.average_start = average_start
        n_threads, n, dtype = params.n_threads, rows.n_features, rows.data.dtype
        self.scratch = None
        if n_threads == 1:
            replicas, col_sq = problem.coef[np.newaxis, :], np.zeros(0)  # no copy
        else:
            self.scratch, (replicas, col_sq) = SCRATCH.take(
                [((n_threads, n), dtype), ((n,), np.float64)])
            replicas[:] = problem.coef
            rows.mean_square(out=col_sq)
        self.state = _core.ReplicaState(problem.coef, problem.intercept, replicas, col_sq,
                                        l1=params.l1 > 0, average=average,
                                        average_start=average_start)

    def __call__(self, order, t):
        rows, prob = self.rows, self.problem
        sumloss = _core.sgd_epoch_replicas(rows.data, rows.indices, rows.indptr, prob.y,
                                           prob.sample_weight, order, t, self.params,
                                           self.state)
        if prob.average is not None:
            # the kernel leaves every mean up to date: stamp them so, in case
            # a later partial_fit continues on the shared buffer
            end = int(t) + len(order) - 1
            if end >= self.average_start:
                np.maximum(prob.average[2], end, out=prob.average[2])
        return sumloss

    def release(self):
        """Give the scratch memory back to the pool (the epochs are over)."""
        if self.scratch is not None:
            self.state = None
            SCRATCH.give(self.scratch)
            self.scratch = None


def sync_rows(rows, n_threads):
    """Positions between replica merges: ``SYNC_WORK * n_features`` non-zeros of work."""
    return max(int(SYNC_WORK * rows.n_features / max(1.0, rows.nnz_per_row)),
               MIN_SYNC_ROWS * n_threads)


def flush_average(coef, average, start, end):
    """Bring every coordinate's running mean up to step ``end``."""
    avg_coef, avg_intercept, avg_stamp = average
    if end < start:
        return
    n_old = (avg_stamp - start + 1).astype(coef.dtype)
    gap = np.maximum(end - avg_stamp, 0).astype(coef.dtype)
    total = n_old + gap
    np.divide(avg_coef * n_old + gap * coef, total, out=avg_coef, where=total > 0)
    np.maximum(avg_stamp, end, out=avg_stamp)
