# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""The native core of hogwild: one epoch of lock-free parallel SGD.

Everything here runs without the GIL. The estimators in ``_sgd.py`` validate
every input before calling in: this module trusts the shapes, the index
bounds and the parameter values it is given.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport exp, fabs, log, log1p, pow, sqrt
from libc.stdint cimport int32_t, int64_t, uint64_t

import numpy as np

cdef extern from *:
    """
    #include <stdint.h>
    #ifdef _OPENMP
    #include <omp.h>
    #define HW_OPENMP_VERSION _OPENMP
    static int hw_max_threads(void) { return omp_get_max_threads(); }
    static int hw_team_size(void) { return omp_get_num_threads(); }
    /* orphaned: binds to the parallel region of the caller */
    static void hw_barrier(void) {
        #pragma omp barrier
    }
    #else
    #define HW_OPENMP_VERSION 0
    static int hw_max_threads(void) { return 1; }
    static int hw_team_size(void) { return 1; }
    static void hw_barrier(void) { }
    #endif
    /* SplitMix64 (Steele, Lea and Flood 2014): the next 64 random bits. */
    static inline uint64_t hw_splitmix64(uint64_t *state) {
        uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    /* High and low 64 bits of a 64 x 64-bit product. */
    static inline uint64_t hw_mul128(uint64_t a, uint64_t b, uint64_t *low) {
    #if defined(__SIZEOF_INT128__)
        unsigned __int128 m = (unsigned __int128)a * b;
        *low = (uint64_t)m;
        return (uint64_t)(m >> 64);
    #else
        uint64_t a0 = a & 0xFFFFFFFFULL, a1 = a >> 32, b0 = b & 0xFFFFFFFFULL, b1 = b >> 32;
        uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
        uint64_t mid = (p00 >> 32) + (p01 & 0xFFFFFFFFULL) + (p10 & 0xFFFFFFFFULL);
        *low = (mid << 32) | (p00 & 0xFFFFFFFFULL);
        return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    #endif
    }
    /* A uniform draw from [0, bound), bound >= 1, without bias (Lemire 2019). */
    static inline uint64_t hw_bounded(uint64_t *state, uint64_t bound) {
        uint64_t low, high = hw_mul128(hw_splitmix64(state), bound, &low);
        if (low < bound) {
            uint64_t threshold = (0 - bound) % bound;
            while (low < threshold)
                high = hw_mul128(hw_splitmix64(state), bound, &low);
        }
        return high;
    }
    /* Ask for the cache lines of [begin, end) ahead of use, into L2
       (locality 2: prefetcht1 on x86-64). Into L1 (prefetcht0) the epoch
       was 10-25% slower on news20 and 25-55% on data larger than L3: L1's few
       miss buffers filled with lines the loop would not read for 4 rows.
       The walk starts at begin's line, so an unaligned row's last line is
       not left out. */
    static inline void hw_prefetch(const void *begin, const void *end) {
    #if defined(__GNUC__) || defined(__clang__)
        const char *a = (const char *)((uintptr_t)begin & ~(uintptr_t)63);
        const char *e = (const char *)end;
        for (; a < e; a += 64) __builtin_prefetch(a, 0, 2);
        /* GCC counts a prefetch as no side effect: it would find this
           function and its callers "looping const" and delete every call
           (GCC 12 -O1 and up emitted no prefetch at all until this line).
           An empty volatile asm is a side effect it keeps, and costs nothing. */
        __asm__ __volatile__("");
    #else
        (void)begin; (void)end;
    #endif
    }
    """
    int HW_OPENMP_VERSION
    int hw_max_threads() noexcept nogil
    int hw_team_size() noexcept nogil
    void hw_barrier() noexcept nogil
    void hw_prefetch(const void *begin, const void *end) noexcept nogil
    uint64_t hw_bounded(uint64_t *state, uint64_t bound) noexcept nogil

ctypedef fused index_t:
    int32_t
    int64_t

# Loss codes; Python code names them through LOSSES.
cdef enum:
    HINGE = 0
    LOG_LOSS = 1
    MODIFIED_HUBER = 2
    SQUARED_HINGE = 3
    PERCEPTRON = 4
    SQUARED_ERROR = 5
    HUBER = 6
    EPSILON_INSENSITIVE = 7
    SQUARED_EPSILON_INSENSITIVE = 8

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

# Learning-rate codes. Schedules whose step is constant within an epoch
# ("constant", "adaptive", "backoff") are all STEP_FIXED: Python picks eta.
cdef enum:
    STEP_FIXED = 0
    STEP_OPTIMAL = 1
    STEP_INVSCALING = 2
SCHEDULES = {"fixed": STEP_FIXED, "optimal": STEP_OPTIMAL, "invscaling": STEP_INVSCALING}

# How many of its rows ahead a thread asks for the values and indices of.
cdef enum:
    PREFETCH = 4

# scikit-learn clips the loss derivative to this magnitude; so do we.
cdef double MAX_DLOSS = 1e12

OPENMP_VERSION = HW_OPENMP_VERSION


def omp_max_threads():
    """Threads an OpenMP region would get now (1 in a serial build).

    Follows ``OMP_NUM_THREADS`` and limits set through threadpoolctl.
    """
    return hw_max_threads()


cdef inline double _loss(int loss, double p, double y, double eps) noexcept nogil:
    cdef double z, r
    if loss == HINGE or loss == PERCEPTRON:
        z = (1.0 if loss == HINGE else 0.0) - p * y
        return z if z > 0.0 else 0.0
    elif loss == LOG_LOSS:
        z = p * y
        # log(1 + exp(-z)) without overflow on either side
        if z > 18.0:
            return exp(-z)
        if z < -18.0:
            return -z
        return log1p(exp(-z))
    elif loss == MODIFIED_HUBER:
        z = p * y
        if z >= 1.0:
            return 0.0
        if z >= -1.0:
            return (1.0 - z) * (1.0 - z)
        return -4.0 * z
    elif loss == SQUARED_HINGE:
        z = 1.0 - p * y
        return z * z if z > 0.0 else 0.0
    elif loss == SQUARED_ERROR:
        return 0.5 * (p - y) * (p - y)
    elif loss == HUBER:
        r = fabs(p - y)
        if r <= eps:
            return 0.5 * r * r
        return eps * r - 0.5 * eps * eps
    elif loss == EPSILON_INSENSITIVE:
        r = fabs(y - p) - eps
        return r if r > 0.0 else 0.0
    else:  # SQUARED_EPSILON_INSENSITIVE
        r = fabs(y - p) - eps
        return r * r if r > 0.0 else 0.0


cdef inline double _dloss(int loss, double p, double y, double eps) noexcept nogil:
    """Derivative of the loss with respect to the prediction p."""
    cdef double z
    if loss == HINGE or loss == PERCEPTRON:
        z = p * y
        return -y if z <= (1.0 if loss == HINGE else 0.0) else 0.0
    elif loss == LOG_LOSS:
        z = p * y
        if z > 18.0:
            return -y * exp(-z)
        if z < -18.0:
            return -y
        return -y / (exp(z) + 1.0)
    elif loss == MODIFIED_HUBER:
        z = p * y
        if z >= 1.0:
            return 0.0
        if z >= -1.0:
            return -2.0 * (1.0 - z) * y
        return -4.0 * y
    elif loss == SQUARED_HINGE:
        z = 1.0 - p * y
        return -2.0 * y * z if z > 0.0 else 0.0
    elif loss == SQUARED_ERROR:
        return p - y
    elif loss == HUBER:
        z = p - y
        if fabs(z) <= eps:
            return z
        return eps if z > 0.0 else -eps
    elif loss == EPSILON_INSENSITIVE:
        z = y - p
        if z > eps:
            return -1.0
        if z < -eps:
            return 1.0
        return 0.0
    else:  # SQUARED_EPSILON_INSENSITIVE
        z = y - p
        if z > eps:
            return -2.0 * (z - eps)
        if z < -eps:
            return -2.0 * (z + eps)
        return 0.0


cdef inline double _dloss_and_loss(int loss, double p, double y, double eps,
                                   double *row_loss) noexcept nogil:
    """The derivative, and the loss into ``row_loss`` unless it is NULL.

    log_loss shares one ``exp`` between the two; the other losses are cheap.
    """
    cdef double z, e
    if loss == LOG_LOSS:
        z = p * y
        if z > 18.0:
            e = exp(-z)
            if row_loss != NULL:
                row_loss[0] = e
            return -y * e
        if z < -18.0:
            if row_loss != NULL:
                row_loss[0] = -z
            return -y
        e = exp(-z)
        if row_loss != NULL:
            row_loss[0] = log1p(e)
        return -y * e / (1.0 + e)
    if row_loss != NULL:
        row_loss[0] = _loss(loss, p, y, eps)
    return _dloss(loss, p, y, eps)


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
        derivatives[i] = _dloss_and_loss(loss, p[i], y[i], epsilon, &value)
        values[i] = value
    return values, derivatives


def shuffle(int64_t[::1] order, uint64_t seed):
    """Shuffle ``order`` in place: Fisher-Yates driven by SplitMix64.

    The same seed gives the same permutation on every platform. Bounded draws
    take the high bits of a 64 x 64-bit product, rejecting the few values
    that would bias it (Lemire 2019), so every permutation is equally likely.
    About 2 ns a row, against 10 for ``RandomState.permutation``: the serial
    work between epochs is what two threads cannot share.

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
    ``has_canonical_format``): 0.5 ms on news20's million non-zeros, where
    this takes 0.13. Callers give scipy the malformed arrays, for its message.
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


cdef inline double _step_size(int schedule, double eta0, double power_t,
                              double alpha, double optimal_init,
                              double t) noexcept nogil:
    if schedule == STEP_OPTIMAL:
        return 1.0 / (alpha * (optimal_init + t - 1.0))
    if schedule == STEP_INVSCALING:
        return eta0 / pow(t, power_t)
    return eta0


cdef inline double _row_dot(const floating *w, const floating *v, const index_t *ind,
                           bint dense, Py_ssize_t begin, Py_ssize_t end) noexcept nogil:
    """``w . x`` for the row stored at ``[begin, end)`` (dense rows: ind unused)."""
    cdef Py_ssize_t j
    cdef double p = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0
    if dense:
        for j in range(begin, end):
            p = p + w[j - begin] * v[j]
    else:
        # four running sums: one add chain waits ~4 cycles a non-zero
        j = begin
        while j + 4 <= end:
            p = p + w[ind[j]] * v[j]
            p1 = p1 + w[ind[j + 1]] * v[j + 1]
            p2 = p2 + w[ind[j + 2]] * v[j + 2]
            p3 = p3 + w[ind[j + 3]] * v[j + 3]
            j = j + 4
        while j < end:
            p = p + w[ind[j]] * v[j]
            j = j + 1
        p = (p + p1) + (p2 + p3)
    return p


cdef inline void _prefetch_row(const floating *v, const index_t *ind, const index_t *ptr,
                               Py_ssize_t i) noexcept nogil:
    """Ask for the cache lines of CSR row ``i``'s values and indices."""
    hw_prefetch(&v[ptr[i]], &v[ptr[i + 1]])
    hw_prefetch(&ind[ptr[i]], &ind[ptr[i + 1]])


cdef inline double _clip_dloss(double g) noexcept nogil:
    if g > MAX_DLOSS:
        return MAX_DLOSS
    if g < -MAX_DLOSS:
        return -MAX_DLOSS
    return g


def sgd_epoch(
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    bint dense,
    Py_ssize_t n_features,
    const floating[::1] y,
    const floating[::1] sample_weight,
    const int64_t[::1] order,
    floating[::1] coef,
    floating[::1] intercept,
    const floating[::1] inv_freq,
    floating[::1] avg_coef,
    floating[::1] avg_intercept,
    int64_t[::1] avg_stamp,
    int64_t avg_start,
    int loss,
    double epsilon,
    int schedule,
    double eta0,
    double power_t,
    double alpha,
    double optimal_init,
    double l2_strength,
    const double[::1] l1_cumulative,
    floating[::1] l1_received,
    double intercept_decay,
    bint fit_intercept,
    double t_start,
    int n_threads,
):
    """Run one epoch of Hogwild! SGD over the rows listed in ``order``.

    Threads split ``order`` round-robin (OpenMP static schedule, chunk 1) and
    update ``coef`` and ``intercept`` in place with plain loads and stores: no
    locks, no atomics. The row at position ``k`` of ``order`` is step
    ``t = t_start + k`` whatever thread runs it, so with one thread the epoch
    is exactly sequential SGD and bit-for-bit reproducible.

    Regularization touches only the coordinates of the row, so an update
    costs O(non-zeros of the row):

    * L2 as in the Hogwild! paper: coordinate ``u`` shrinks by
      ``w_u *= max(0, 1 - eta * l2_strength * inv_freq[u])`` with
      ``inv_freq[u] = n / d_u`` (``d_u`` the number of rows in which feature
      ``u`` is non-zero), which in expectation over the rows is the full
      penalty, clipped so that a large step never flips a sign.
    * L1 by the cumulative penalty of Tsuruoka et al. (2009), as scikit-learn
      does, made lazy: ``l1_cumulative[k]`` is the total L1 penalty every
      weight should have received by step ``k`` (read-only, computed by the
      caller), ``l1_received[u]`` what ``u`` has received; a touched
      coordinate is pulled towards zero by the difference, never past it.

    Neither needs a scalar that every update writes; only the intercept is
    written by every row.

    Averaging (``avg_coef`` non-empty) keeps the running mean of each
    coordinate from step ``avg_start`` on, lazily: ``avg_stamp[u]`` is the
    last step the mean of ``u`` accounts for; coordinates are constant
    between the rows that touch them, so the lazy mean is exact. The caller
    brings every coordinate up to date at the end of the epoch.

    Parameters
    ----------
    data, indices, indptr : CSR arrays of X (``dense=False``), or ``data`` is
        the C-ordered dense X raveled and ``indices``/``indptr`` are empty.
        Dense zeros are skipped, so dense and CSR input give the same model.
        The CSR arrays must be canonical (``_checked_csr(X, canonical=True)``):
        in range, and no index twice in a row, which the replica kernel's
        write loop relies on.
    dense : bool
    n_features : int
    y : ndarray of shape (n_samples,)
        Targets, in {-1, +1} for classification.
    sample_weight : ndarray of shape (n_samples,)
        Per-row weights, class weights already folded in.
    order : ndarray of shape (n_rows,), int64
        Rows to visit, in order.
    coef : ndarray of shape (n_features,)
        Weights, updated in place.
    intercept : ndarray of shape (1,)
        Intercept, updated in place.
    inv_freq : ndarray of shape (n_features,)
        ``n / d_u`` per feature (0 where ``d_u`` is 0).
    avg_coef, avg_intercept, avg_stamp : ndarray
        Averaging state, or empty arrays when averaging is off.
    avg_start : int
        First step that enters the average.
    loss : int
        A code from ``LOSSES``.
    epsilon : float
    schedule : int
        A code from ``SCHEDULES``.
    eta0, power_t, alpha, optimal_init : float
        Step-size parameters, with scikit-learn's meanings.
    l2_strength : float
        ``alpha * (1 - l1_ratio)`` (0 when unused).
    l1_cumulative : ndarray of shape (n_rows,), float64
        Cumulative L1 penalty after each step of the epoch, or empty when L1
        is off.
    l1_received : ndarray of shape (n_features,)
        L1 penalty each coordinate has received so far; updated in place.
    intercept_decay : float
        Factor on the intercept's step (scikit-learn uses 0.01 on sparse X).
    fit_intercept : bool
    t_start : float
        Step number of the first row (scikit-learn's ``t_``, from 1).
    n_threads : int

    Returns
    -------
    sumloss : float
        Sum over the epoch of each row's loss before its update.
    """
    cdef:
        Py_ssize_t n_rows = order.shape[0]
        Py_ssize_t k, i, j, begin, end, u
        bint averaging = avg_coef.shape[0] > 0
        bint use_l1 = l1_cumulative.shape[0] > 0
        double sumloss = 0.0
        double p, g, eta, upd, t, shrink, cum, wu, wz, wold, x, n_old, gap
        int64_t s, stamp
        floating *w = &coef[0] if coef.shape[0] > 0 else NULL
        floating *b = &intercept[0]
        const floating *v = &data[0] if data.shape[0] > 0 else NULL
        const floating *yp = &y[0]
        const floating *swp = &sample_weight[0]
        const floating *freq = &inv_freq[0] if inv_freq.shape[0] > 0 else NULL
        const index_t *ind = NULL
        const index_t *ptr = NULL
        floating *aw = NULL
        floating *ab = NULL
        int64_t *st = NULL
        const double *l1c = NULL
        floating *l1q = NULL
    if not dense:
        ind = &indices[0] if indices.shape[0] > 0 else NULL
        ptr = &indptr[0]
    if use_l1:
        l1c = &l1_cumulative[0]
        l1q = &l1_received[0]
    if averaging:
        aw = &avg_coef[0]
        ab = &avg_intercept[0]
        st = &avg_stamp[0]

    with nogil:
        for k in prange(n_rows, schedule='static', chunksize=1,
                        num_threads=n_threads):
            if not dense and k + PREFETCH * n_threads < n_rows:
                _prefetch_row(v, ind, ptr, order[k + PREFETCH * n_threads])
            i = order[k]
            t = t_start + k
            s = <int64_t>t
            if dense:
                begin = i * n_features
                end = begin + n_features
            else:
                begin = ptr[i]
                end = ptr[i + 1]

            p = b[0] + _row_dot(w, v, ind, dense, begin, end)
            sumloss += _loss(loss, p, yp[i], epsilon)
            g = _clip_dloss(_dloss(loss, p, yp[i], epsilon))
            eta = _step_size(schedule, eta0, power_t, alpha, optimal_init, t)
            upd = -eta * g * swp[i]
            if upd == 0.0 and l2_strength == 0.0 and not use_l1:
                # nothing to write (hinge with the margin met, zero weight);
                # the lazy average fills the gap at the next touch
                end = begin

            for j in range(begin, end):
                x = v[j]
                if dense:
                    if x == 0.0:
                        continue
                    u = j - begin
                else:
                    u = ind[j]
                wu = w[u]
                wold = wu
                if l2_strength > 0.0:
                    shrink = 1.0 - eta * l2_strength * freq[u]
                    wu = wu * shrink if shrink > 0.0 else 0.0
                wu = wu + upd * x
                if use_l1:
                    cum = l1c[k]
                    wz = wu
                    if wu > 0.0:
                        wu = wu - (cum + l1q[u])
                        if wu < 0.0:
                            wu = 0.0
                    elif wu < 0.0:
                        wu = wu + (cum - l1q[u])
                        if wu > 0.0:
                            wu = 0.0
                    l1q[u] = <floating>(l1q[u] + (wu - wz))
                w[u] = <floating>wu
                if averaging and s >= avg_start:
                    stamp = st[u]
                    n_old = <double>(stamp - avg_start + 1)
                    gap = <double>(s - 1 - stamp)
                    if gap < 0.0:
                        # another thread already stamped a later step
                        gap = 0.0
                        s = stamp + 1
                    aw[u] = <floating>((aw[u] * n_old + gap * wold + w[u])
                                       / (n_old + gap + 1.0))
                    st[u] = s
                    s = <int64_t>t

            if fit_intercept:
                b[0] = <floating>(b[0] + upd * intercept_decay)
            if averaging and s >= avg_start:
                ab[0] = <floating>(ab[0] + (b[0] - ab[0]) / (t - avg_start + 1.0))
    return sumloss


cdef inline double _kept(double saturation) noexcept nogil:
    """Share of a change that later steps on a coordinate leave in place.

    ``exp(-saturation)`` (see :func:`sgd_epoch_replicas`), as the inverse
    of its third-order Taylor polynomial: no ``exp`` per coordinate and
    replica in the merge, and the same limits (1 at 0, 0 at infinity).
    Saturations are never negative (summed steps x mean squares). No branch,
    so the merge loops that call it vectorise.
    """
    return 1.0 / (1.0 + saturation * (1.0 + saturation * 0.5 * (1.0 + saturation * (1.0 / 3.0))))


cdef inline double _merge_weight(const double *state, Py_ssize_t r, Py_ssize_t team,
                                 double x2) noexcept nogil:
    """Weight of replica ``r``'s change to a coordinate: ``mean(rho**k, k < team)``.

    Run one after another in a random order, a replica's change comes after
    k of the other replicas' steps, for k = 0 .. team-1 equally often, and
    each leaves a share ``rho`` of it: the mean of ``_kept`` over the other
    replicas, whose saturation is ``state[r2, 6]`` (``kappa`` x their summed
    steps; rows of 16) x ``x2``, the coordinate's mean squared value.
    """
    cdef double rho = 0.0
    cdef Py_ssize_t r2
    for r2 in range(team):
        if r2 != r:
            rho = rho + _kept(state[16 * r2 + 6] * x2)
    return _mean_power(rho / (team - 1), team)


cdef inline double _mean_power(double rho, Py_ssize_t team) noexcept nogil:
    """``mean(rho**k for k < team)``: the merge weight of a change kept at ``rho``."""
    cdef double weight = 0.0, power = 1.0
    cdef Py_ssize_t k
    for k in range(team):
        weight = weight + power
        power = power * rho
    return weight / team


cdef enum:
    # teams up to this size merge through a per-coordinate table of kept
    # shares (two divisions per coordinate and replica become one)
    MERGE_TABLE = 64


cdef inline double _merged_change(const double *state, const floating *replicas,
                                  Py_ssize_t stride, Py_ssize_t u, double model_u,
                                  Py_ssize_t team, double x2) noexcept nogil:
    """The team's weighted change to coordinate ``u`` (see ``_merge_weight``).

    The same sum as ``sum(change_r * _merge_weight(state, r, team, x2))``,
    computed with one ``_kept`` per replica: rho of replica ``r`` is the mean
    of the others' kept shares, (total - own) / (team - 1). A column that
    the sample never saw (``x2 == 0``) keeps every change whole.
    """
    cdef double kept[MERGE_TABLE]
    cdef double change, delta = 0.0, total = 0.0
    cdef Py_ssize_t r
    if x2 == 0.0:
        for r in range(team):
            delta = delta + (state[16 * r] * replicas[r * stride + u] - model_u)
        return delta
    if team > MERGE_TABLE:
        for r in range(team):
            change = state[16 * r] * replicas[r * stride + u] - model_u
            if change != 0.0:
                delta = delta + change * _merge_weight(state, r, team, x2)
        return delta
    for r in range(team):
        kept[r] = _kept(state[16 * r + 6] * x2)
        total = total + kept[r]
    for r in range(team):
        change = state[16 * r] * replicas[r * stride + u] - model_u
        if change != 0.0:
            delta = delta + change * _mean_power((total - kept[r]) / (team - 1), team)
    return delta


cdef inline void _merge_two(floating *model, floating *w0, floating *w1,
                            const double *col_sq, double scale0, double scale1,
                            double sat0, double sat1, Py_ssize_t lo,
                            Py_ssize_t hi) noexcept nogil:
    """``_merged_change`` for a team of two over coordinates ``[lo, hi)``, in place.

    Each replica's change is weighted ``(1 + the other's kept share) / 2``;
    the whole model slice and both replicas' slices are written. Branch-free,
    so the compiler vectorises it (a merge is most of what a second thread
    adds to a news20 epoch).
    """
    cdef Py_ssize_t u
    cdef double m, k0, k1
    for u in range(lo, hi):
        k0 = _kept(sat0 * col_sq[u])
        k1 = _kept(sat1 * col_sq[u])
        m = model[u]
        m = m + 0.5 * ((scale0 * w0[u] - m) * (1.0 + k1) + (scale1 * w1[u] - m) * (1.0 + k0))
        model[u] = <floating>m
        w0[u] = <floating>m
        w1[u] = <floating>m


cdef inline double _replica_row(
    const floating *v, const index_t *ind, bint dense, Py_ssize_t n_features,
    Py_ssize_t i, Py_ssize_t begin, Py_ssize_t end, double y, double sw, double t,
    floating *w, double *st, floating *q, double kappa,
    int loss, double epsilon, int schedule, double eta0, double power_t,
    double alpha, double optimal_init, double l2_strength, double l1_strength,
    double intercept_decay, bint fit_intercept, bint need_loss,
) noexcept nogil:
    """One SGD step of a scaled replica on one row; returns the row's loss.

    Without ``need_loss`` it returns ``|p|`` instead: cheaper, and still
    non-finite when the prediction overflows.

    ``st`` is the replica's state: ``[0]`` scale, ``[1]`` intercept,
    ``[2]`` cumulative L1 penalty of its steps, ``[6]`` ``kappa`` x the sum
    of its step sizes since the last merge (rows that updated), for the
    merge's saturation estimate.
    """
    cdef:
        Py_ssize_t j, u, a0, a1, a2, a3
        double scale = st[0]
        floating x0, x1, x2, x3
        double p, g, eta, upd, shrink, z, wz, cum, row_loss
        floating zf
    p = _row_dot(w, v, ind, dense, begin, end) * scale + st[1]
    if need_loss:
        g = _dloss_and_loss(loss, p, y, epsilon, &row_loss)
    else:
        g = _dloss_and_loss(loss, p, y, epsilon, NULL)
        row_loss = fabs(p)
    g = _clip_dloss(g)
    eta = _step_size(schedule, eta0, power_t, alpha, optimal_init, t)
    upd = -eta * g * sw

    if l2_strength > 0.0:
        shrink = 1.0 - eta * l2_strength
        scale = scale * (shrink if shrink > 0.0 else 0.0)
        if scale < 1e-9:
            for u in range(n_features):
                w[u] = <floating>(w[u] * scale)
            scale = 1.0
    if upd != 0.0:
        # in the weights' own precision: float32 weights take no conversion
        # per non-zero
        zf = <floating>(upd / scale)
        if dense:
            for j in range(begin, end):
                w[j - begin] = w[j - begin] + zf * v[j]
        else:
            # Canonical rows (sorted, no index twice) let four reads go
            # before their four writes: news20 log_loss, 5% off the epoch.
            j = begin
            while j + 4 <= end:
                a0 = ind[j]
                a1 = ind[j + 1]
                a2 = ind[j + 2]
                a3 = ind[j + 3]
                x0 = w[a0] + zf * v[j]
                x1 = w[a1] + zf * v[j + 1]
                x2 = w[a2] + zf * v[j + 2]
                x3 = w[a3] + zf * v[j + 3]
                w[a0] = x0
                w[a1] = x1
                w[a2] = x2
                w[a3] = x3
                j = j + 4
            while j < end:
                w[ind[j]] = w[ind[j]] + zf * v[j]
                j = j + 1
        st[6] = st[6] + kappa * eta
        if fit_intercept:
            st[1] = st[1] + upd * intercept_decay
    if q != NULL:
        cum = st[2] + eta * l1_strength
        st[2] = cum
        for j in range(begin, end):
            if dense:
                if v[j] == 0.0:
                    continue
                u = j - begin
            else:
                u = ind[j]
            z = w[u] * scale
            wz = z
            if z > 0.0:
                z = z - (cum + q[u])
                if z < 0.0:
                    z = 0.0
            elif z < 0.0:
                z = z + (cum - q[u])
                if z > 0.0:
                    z = 0.0
            w[u] = <floating>(z / scale)
            q[u] = <floating>(q[u] + (z - wz))
    st[0] = scale
    return row_loss


def column_mean_square(
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    bint dense,
    Py_ssize_t n_features,
    Py_ssize_t max_rows=1024,
    out=None,
):
    """Mean of ``x_u ** 2`` for each column ``u``, over a sample of rows.

    The sample is every ``ceil(n_rows / max_rows)``-th row. A thousand
    rows estimate the frequent columns well (256, 1,024 and 4,096 rows gave
    the replica merge the same epochs to target; docs/benchmarks.md), and a
    column the sample misses is rare, which the merge treats alike (it keeps
    rare columns' changes whole).

    Parameters
    ----------
    data, indices, indptr, dense, n_features
        As in :func:`sgd_epoch`.
    max_rows : int, default=1024
        Most rows to read.
    out : ndarray of shape (n_features,), float64, default=None
        Where to write the result (it is overwritten); a new array if None.

    Returns
    -------
    mean_square : ndarray of shape (n_features,), float64
        ``out`` when given.
    """
    cdef Py_ssize_t i, j, n_rows, step, n_read = 0
    cdef double[::1] mean
    cdef double x
    if out is None:
        out = np.zeros(n_features)
    mean = out
    if mean.shape[0] != n_features:
        raise ValueError(f"out has {mean.shape[0]} entries for {n_features} features")
    mean[:] = 0.0
    if dense:
        n_rows = data.shape[0] // n_features if n_features > 0 else 0
    else:
        n_rows = indptr.shape[0] - 1
    step = (n_rows + max_rows - 1) // max_rows if max_rows > 0 else 1
    if step < 1:
        step = 1
    with nogil:
        i = 0
        while i < n_rows:
            n_read = n_read + 1
            if dense:
                for j in range(n_features):
                    x = data[i * n_features + j]
                    mean[j] += x * x
            else:
                if i + PREFETCH * step < n_rows:  # rows far apart: each one cold
                    _prefetch_row(&data[0], &indices[0], &indptr[0], i + PREFETCH * step)
                for j in range(indptr[i], indptr[i + 1]):
                    x = data[j]
                    mean[indices[j]] += x * x
            i = i + step
        if n_read > 0:
            for j in range(n_features):
                mean[j] = mean[j] / n_read
    return out


def row_dots(
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    const int64_t[::1] order,
    const floating[::1] w,
    double[::1] out,
    int n_threads=1,
):
    """Write ``x_i . w`` into ``out[k]`` for the CSR rows ``i = order[k]``, in order.

    The read an SGD epoch cannot do without: each row once, in the epoch's
    shuffled order, prefetched as the epoch kernels prefetch. ``hogwild
    bench`` times it as the floor of an epoch that writes nothing (hinge
    when every margin holds); scipy's ``X @ w`` reads the rows in storage
    order, which the hardware prefetches better. With ``n_threads`` the
    positions are dealt out as the replica kernel deals them (thread ``t``
    takes ``t``, ``t + team``, ...): the read's own thread scaling, the
    most an epoch's can reach.

    Like the epoch kernels, it trusts the CSR arrays (``_checked_csr``) and
    ``w`` to cover every column index; ``order`` is checked.
    """
    cdef Py_ssize_t k, i, tid, team, n_rows = indptr.shape[0] - 1, n = order.shape[0]
    cdef const floating *v = &data[0] if data.shape[0] > 0 else NULL
    cdef const index_t *ind = &indices[0] if indices.shape[0] > 0 else NULL
    cdef const index_t *ptr = &indptr[0]
    cdef const floating *wp = &w[0] if w.shape[0] > 0 else NULL
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} entries for {n} rows in order")
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}")
    for k in range(n):
        if not 0 <= order[k] < n_rows:
            raise ValueError(f"order[{k}] = {order[k]} is not a row of the {n_rows}")
    with nogil, parallel(num_threads=n_threads):
        tid = threadid()
        team = hw_team_size()
        k = tid
        while k < n:
            if k + PREFETCH * team < n:
                _prefetch_row(v, ind, ptr, order[k + PREFETCH * team])
            i = order[k]
            out[k] = _row_dot(wp, v, ind, False, ptr[i], ptr[i + 1])
            k = k + team


def sgd_epoch_replicas(
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    bint dense,
    Py_ssize_t n_features,
    const floating[::1] y,
    const floating[::1] sample_weight,
    const int64_t[::1] order,
    floating[::1] coef,
    floating[::1] intercept,
    floating[:, ::1] replicas,
    double[:, ::1] state,
    floating[:, ::1] l1_received,
    const double[::1] col_sq,
    Py_ssize_t sync_rows,
    int loss,
    double epsilon,
    int schedule,
    double eta0,
    double power_t,
    double alpha,
    double optimal_init,
    double l2_strength,
    double l1_strength,
    double curvature,
    double intercept_decay,
    bint fit_intercept,
    double t_start,
    int n_threads,
    bint need_loss=True,
):
    """Run one epoch of SGD with one private weight replica per thread.

    Each thread trains its own replica on its rows (position ``k`` of
    ``order`` goes to thread ``k % team size``, in order) and nothing else,
    so the sequential tricks of scikit-learn's SGD are safe again:

    * the replica is stored scaled, true weight = scale x stored value, so
      the L2 shrink of all weights is one multiply of the scale per row;
    * a row whose loss derivative is zero writes nothing (unless L1 is on);
    * L1 is the cumulative penalty of Tsuruoka et al. (2009) on the
      replica's own steps.

    Every ``sync_rows`` positions the threads meet at a barrier and merge,
    each thread merging a slice of the features, and every replica restarts
    from the model. The merge asks what one thread would have done with all
    the replicas' rows in turn. Each replica's change to a coordinate (its L2
    shrink and its steps) would have come after some of the others' steps,
    which pull the coordinate towards where they were heading: a share
    ``rho`` of the change survives each of them. So each change enters the
    model with weight ``mean(rho**k for k < team)``. For a quadratic of
    curvature ``a``, steps of size ``eta`` keep ``prod(1 - eta a x_u**2)`` of
    a distance, about ``exp(-saturation)`` with ``saturation = a * sum(eta) *
    x_u**2``; the kernel estimates a replica's saturation of ``u`` as
    ``curvature`` x the replica's summed step sizes (rows that updated) x
    ``col_sq[u]``, the mean of ``x_u**2`` over (a sample of) the rows, and uses the cheaper
    ``1 / (1 + s + s**2/2 + s**3/6)`` for the exponential. A rare coordinate
    keeps each change whole (the sum of deltas); a frequent one, saturated
    in every replica, gets the mean. Both limits matter and fail alone:
    summing sent the generated data to chance accuracy (frequent coordinates
    overshoot), averaging never reached 0.1% of the news20 optimum in 40
    epochs (docs/benchmarks.md). The intercept merges the same way, with
    ``intercept_decay`` for ``x**2``. The result depends only on the order
    and the team size, not on timing.

    With one thread the model itself is the replica (``replicas`` is then a
    view of ``coef``): sequential SGD with exact L2, as scikit-learn does it.

    Parameters
    ----------
    data, indices, indptr, dense, n_features, y, sample_weight, order
        As in :func:`sgd_epoch`.
    coef : ndarray of shape (n_features,)
        The model, updated in place at each merge.
    intercept : ndarray of shape (1,)
        The model's intercept, updated in place.
    replicas : ndarray of shape (n_threads, n_features)
        Scratch for the replicas (a view of ``coef`` with one thread).
    state : ndarray of shape (n_threads, 16), float64
        Per-thread scratch in its own 128-byte row: scale, intercept,
        cumulative L1 penalty, summed loss, -, -, summed steps for the
        merge; ``state[0, 4]`` receives the
        team size. With a team of one nothing is merged: the caller folds
        ``state[0, 0] * replicas[0]`` and ``state[0, 1]`` into the model.
    l1_received : ndarray of shape (n_threads, n_features), or (0, 0)
        Per-replica L1 penalty received; empty when L1 is off.
    col_sq : ndarray of shape (n_features,), float64
        Mean of ``x_u ** 2`` over the rows, or a sample of them
        (:func:`column_mean_square`); may be empty with one thread.
    sync_rows : int
        Positions between merges.
    loss, epsilon, schedule, eta0, power_t, alpha, optimal_init
        As in :func:`sgd_epoch`.
    l2_strength, l1_strength : float
        ``alpha * (1 - l1_ratio)`` and ``alpha * l1_ratio`` (0 when unused).
    curvature : float
        A bound on the loss's second derivative in the prediction (0.25 for
        log_loss, 1 for squared error), for the saturation of the merge.
    intercept_decay, fit_intercept, t_start, n_threads
        As in :func:`sgd_epoch`.
    need_loss : bool, default=True
        Whether the caller reads the epoch's loss. Without it the kernel
        skips the loss value (log_loss's ``log1p``) and returns the sum of
        ``|prediction|``, finite exactly when no prediction overflowed.

    Returns
    -------
    sumloss : float
        Sum over the epoch of each row's loss before its update (of
        ``|prediction|`` without ``need_loss``).
    """
    cdef:
        Py_ssize_t n_rows = order.shape[0]
        Py_ssize_t k, k0, k1, i, u, r, tid, team, lo, hi
        bint use_l1 = l1_received.shape[0] > 0
        double delta, change, sumloss = 0.0
        floating *w
        floating *q
        floating *model = &coef[0] if coef.shape[0] > 0 else NULL
        double *st
        const floating *v = &data[0] if data.shape[0] > 0 else NULL
        const floating *yp = &y[0]
        const floating *swp = &sample_weight[0]
        const index_t *ind = NULL
        const index_t *ptr = NULL
    if not dense:
        ind = &indices[0] if indices.shape[0] > 0 else NULL
        ptr = &indptr[0]
    if sync_rows < 1:
        sync_rows = 1
    for r in range(state.shape[0]):
        state[r, 0] = 1.0
        state[r, 1] = intercept[0]
        state[r, 3] = 0.0
        state[r, 6] = 0.0

    with nogil, parallel(num_threads=n_threads):
        tid = threadid()
        team = hw_team_size()
        w = &replicas[tid, 0]
        st = &state[tid, 0]
        q = &l1_received[tid, 0] if use_l1 else NULL
        lo = tid * n_features // team
        hi = (tid + 1) * n_features // team
        k0 = 0
        while k0 < n_rows:
            k1 = k0 + sync_rows
            if k1 > n_rows:
                k1 = n_rows
            k = k0 + tid
            while k < k1:
                if not dense and k + PREFETCH * team < n_rows:
                    _prefetch_row(v, ind, ptr, order[k + PREFETCH * team])
                i = order[k]
                if dense:
                    st[3] = st[3] + _replica_row(
                        v, ind, dense, n_features, i, i * n_features,
                        (i + 1) * n_features, yp[i], swp[i], t_start + k, w, st, q, curvature,
                        loss, epsilon, schedule, eta0, power_t, alpha, optimal_init,
                        l2_strength, l1_strength, intercept_decay, fit_intercept,
                        need_loss)
                else:
                    st[3] = st[3] + _replica_row(
                        v, ind, dense, n_features, i, ptr[i], ptr[i + 1], yp[i],
                        swp[i], t_start + k, w, st, q, curvature,
                        loss, epsilon, schedule, eta0, power_t, alpha, optimal_init,
                        l2_strength, l1_strength, intercept_decay, fit_intercept,
                        need_loss)
                k = k + team
            k0 = k1
            if team > 1:
                hw_barrier()
                # merge my slice of the features from every replica: each
                # replica's change (L2 shrink and steps) weighted by how much
                # of it one thread would keep after the others' steps on the
                # coordinate (docstring)
                if team == 2:
                    _merge_two(model, &replicas[0, 0], &replicas[1, 0], &col_sq[0],
                               state[0, 0], state[1, 0], state[0, 6], state[1, 6], lo, hi)
                else:
                    for u in range(lo, hi):
                        delta = _merged_change(&state[0, 0], &replicas[0, 0],
                                               replicas.shape[1], u, model[u], team, col_sq[u])
                        model[u] = <floating>(model[u] + delta)
                        for r in range(team):
                            replicas[r, u] = model[u]
                if use_l1:
                    for u in range(lo, hi):
                        for r in range(team):
                            l1_received[r, u] = 0.0
                if tid == 0:
                    # the intercept, touched by every row, merges the same way
                    delta = 0.0
                    for r in range(team):
                        delta = delta + (state[r, 1] - intercept[0]) * _merge_weight(
                            &state[0, 0], r, team, intercept_decay)
                    intercept[0] = <floating>(intercept[0] + delta)
                hw_barrier()
                # the next merge starts after the next barrier: no one writes
                # the model or the intercept until every thread has read them
                st[0] = 1.0
                st[1] = intercept[0]
                st[2] = 0.0
                st[6] = 0.0
        if tid == 0:
            state[0, 4] = team

    for r in range(state.shape[0]):
        sumloss = sumloss + state[r, 3]
    return sumloss
