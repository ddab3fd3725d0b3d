# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Python-facing native helpers that every model shares.

The loss codes, the OpenMP probe, the seeded shuffle and the one-pass CSR
check. The inline pieces the kernels cimport are declared in
``_native.pxd``.
"""
from libc.stdint cimport int32_t, int64_t, uint64_t

from hogwild._native cimport (
    EPSILON_INSENSITIVE, HINGE, HUBER, HW_OPENMP_VERSION, LOG_LOSS, MODIFIED_HUBER,
    PERCEPTRON, SQUARED_EPSILON_INSENSITIVE, SQUARED_ERROR, SQUARED_HINGE, STEP_FIXED,
    STEP_INVSCALING, STEP_OPTIMAL, dloss_and_loss, hw_bounded, hw_max_threads, index_t,
)

LOSSES = {
    "hinge": HINGE,
    "log_loss": LOG_LOSS,
    "modified_huber": MODIFIED_HUBER,
    "squared_hinge": SQUARED_HINGE,
    "perceptron": PERCEPTRON,
    "squared_error": SQUARED_ERROR,
    "huber": HUBER,
    "epsilon_insensitive": EPSILON_INSENSITIVE,
    "squared_epsilon_insensitive": SQUARED_EPSILON_INSENSITIVE,
}
SCHEDULES = {"fixed": STEP_FIXED, "optimal": STEP_OPTIMAL, "invscaling": STEP_INVSCALING}

OPENMP_VERSION = HW_OPENMP_VERSION


def omp_max_threads():
    """Threads an OpenMP region would get now (1 in a serial build).

    Follows ``OMP_NUM_THREADS`` and limits set through threadpoolctl.
    """
    return hw_max_threads()


def loss_and_derivative(int loss, double[::1] p, double[::1] y, double epsilon):
    """Vectorised loss and its derivative, for tests and objective reports.

    Parameters
    ----------
    loss : int
        A code from ``LOSSES``.
    p, y : ndarray of shape (n,), float64
        Predictions and targets (targets in {-1, +1} for classification).
    epsilon : float
        The epsilon of the huber and epsilon-insensitive losses.

    Returns
    -------
    values, derivatives : list of float, list of float
    """
    cdef Py_ssize_t i, n = p.shape[0]
    cdef double value
    values = [0.0] * n
    derivatives = [0.0] * n
    for i in range(n):
        # the kernels' combined path, which the tests check against
        # finite differences
        derivatives[i] = dloss_and_loss(loss, p[i], y[i], epsilon, &value)
        values[i] = value
    return values, derivatives


def shuffle(int64_t[::1] order, uint64_t seed):
    """Shuffle ``order`` in place: Fisher-Yates driven by SplitMix64.

    The same seed gives the same permutation on every platform. Bounded draws
    take the high bits of a 64 x 64-bit product, rejecting the few values
    that would bias it (Lemire 2019), so every permutation is equally likely.
    Native rather than ``RandomState.permutation``: the serial work between
    epochs is what threads cannot share (docs/design.md, "Per-fit costs").

    Parameters
    ----------
    order : ndarray of shape (n,), int64
        Shuffled in place.
    seed : int
        Any 64-bit unsigned integer.
    """
    cdef Py_ssize_t i, j, n = order.shape[0]
    cdef uint64_t state = seed
    cdef int64_t tmp
    with nogil:
        for i in range(n - 1, 0, -1):
            j = <Py_ssize_t>hw_bounded(&state, <uint64_t>(i + 1))
            tmp = order[i]
            order[i] = order[j]
            order[j] = tmp


# csr_status's answers
CSR_CANONICAL = 0
CSR_UNSORTED = 1
CSR_MALFORMED = 2


def csr_status(const index_t[::1] indices, const index_t[::1] indptr, Py_ssize_t n_cols):
    """Whether CSR arrays are safe for the kernels, in one pass over them.

    Returns ``CSR_CANONICAL`` when ``indptr`` runs from 0 to ``len(indices)``
    without decreasing and every row's indices strictly increase within
    ``[0, n_cols)``; ``CSR_UNSORTED`` when all of that holds but the order
    (an unsorted or repeated index: sound, but the kernels need one entry per
    column, in order); ``CSR_MALFORMED`` otherwise. scipy's checks answer the
    same in three passes (``check_format(full_check=True)``, then
    ``has_canonical_format``). Callers give scipy the malformed arrays, for
    its message.
    """
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1, nnz = indices.shape[0]
    cdef Py_ssize_t i, k, start, end, descents = 0
    cdef int32_t block
    cdef const index_t *ind = &indices[0] if nnz > 0 else NULL
    cdef bint out_of_range = False
    if n_rows < 0 or indptr[0] != 0 or indptr[n_rows] != nnz:
        return CSR_MALFORMED
    with nogil:
        # Every place an index is not below the next one, rows ignored: a
        # branch-free loop that gcc vectorises.
        # (32-bit counts, block by block, keep four to a vector)
        for start in range(0, nnz - 1, 1 << 30):
            end = min(start + (1 << 30), nnz - 1)
            block = 0
            for k in range(start, end):
                block += ind[k] >= ind[k + 1]
            descents += block
        # Row by row: indptr, the descents across row boundaries (they are
        # allowed), and each row's two ends, which bound a sorted row.
        for i in range(n_rows):
            start = indptr[i]
            end = indptr[i + 1]
            if end < start or end > nnz:  # indptr decreases, or runs past the indices
                out_of_range = True
                break
            if end > start:
                if start > 0:
                    descents -= ind[start - 1] >= ind[start]
                out_of_range = out_of_range | (ind[start] < 0) | (ind[end - 1] >= n_cols)
        if not out_of_range and descents > 0:
            # a row is unsorted: its ends no longer bound it
            for k in range(nnz):
                out_of_range = out_of_range | (ind[k] < 0) | (ind[k] >= n_cols)
    if out_of_range:
        return CSR_MALFORMED
    return CSR_UNSORTED if descents > 0 else CSR_CANONICAL
