# cython: language_level=3
"""Native pieces every hogwild kernel shares, declared for ``cimport``.

Everything here is ``inline`` and ``nogil``: a kernel that cimports it
compiles its own copy, so a call costs nothing across modules. The kernels
are ``_core.pyx`` (linear SGD) and the ones to come (matrix factorization);
``_native.pyx`` holds the Python-facing wrappers (shuffle, the CSR check,
the loss codes, the OpenMP probe).

- OpenMP shims that compile to constants in a serial build;
- SplitMix64 and an unbiased bounded draw, for shuffles;
- a prefetch of a row's cache lines;
- the losses of scikit-learn's SGD and their derivatives;
- the step-size schedules;
- the lazy cumulative L1 penalty;
- reading a row: where it is stored, its columns, its dot product with the
  weights.
"""
from cython cimport floating
from libc.math cimport exp, fabs, log1p, pow
from libc.stdint cimport int32_t, int64_t, uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    #ifdef _OPENMP
    #include <omp.h>
    #define HW_OPENMP_VERSION _OPENMP
    static inline int hw_max_threads(void) { return omp_get_max_threads(); }
    static inline int hw_team_size(void) { return omp_get_num_threads(); }
    /* orphaned: binds to the parallel region of the caller */
    static inline void hw_barrier(void) {
        #pragma omp barrier
    }
    #else
    #define HW_OPENMP_VERSION 0
    static inline int hw_max_threads(void) { return 1; }
    static inline int hw_team_size(void) { return 1; }
    static inline void hw_barrier(void) { }
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
    /* A uniform draw from [0, bound), bound >= 1, without bias (Lemire 2019):
       the high word of random x bound, redrawn in the few cases that
       would favour some values. */
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
       (locality 2: prefetcht1 on x86-64). Into L1 the few miss buffers fill
       with lines the loop will not read for several rows (docs/design.md,
       "Prefetch"). The walk starts at begin's line, so an unaligned row's
       last line is not left out. */
    static inline void hw_prefetch(const void *begin, const void *end) {
    #if defined(__GNUC__) || defined(__clang__)
        const char *a = (const char *)((uintptr_t)begin & ~(uintptr_t)63);
        const char *e = (const char *)end;
        for (; a < e; a += 64) __builtin_prefetch(a, 0, 2);
        /* GCC counts a prefetch as no side effect: it would find this
           function and its callers "looping const" and delete every call.
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

# Loss codes; Python names them through ``_native.LOSSES``.
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

# Step-size codes. Schedules whose step is constant within an epoch
# ("constant", "adaptive", "backoff") are all STEP_FIXED: Python picks eta.
cdef enum:
    STEP_FIXED = 0
    STEP_OPTIMAL = 1
    STEP_INVSCALING = 2

# How many of its rows ahead a thread asks for the values and indices of.
cdef enum:
    PREFETCH = 4


cdef inline double loss_value(int loss, double p, double y, double eps) noexcept nogil:
    """The loss of prediction ``p`` for target ``y``."""
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


cdef inline double dloss(int loss, double p, double y, double eps) noexcept nogil:
    """Derivative of the loss with respect to the prediction ``p``."""
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


cdef inline double dloss_and_loss(int loss, double p, double y, double eps,
                                  double *row_loss) noexcept nogil:
    """The derivative, and the loss into ``row_loss`` unless it is NULL.

    log_loss shares one ``exp(-z)`` between the two, so its derivative is
    written ``-y e / (1 + e)`` here and ``-y / (exp(z) + 1)`` in
    :func:`dloss`: equal in exact arithmetic, not always in the last bit.
    The replica kernel uses this form and the shared kernel the other;
    keeping both keeps each kernel's models bit for bit what they were.
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
        row_loss[0] = loss_value(loss, p, y, eps)
    return dloss(loss, p, y, eps)


cdef inline double clip_dloss(double g) noexcept nogil:
    """The derivative clipped to +-1e12, as scikit-learn clips it."""
    if g > 1e12:
        return 1e12
    if g < -1e12:
        return -1e12
    return g


cdef inline double step_size(int schedule, double eta, double power_t, double alpha,
                             double optimal_init, double t) noexcept nogil:
    """The step size of step ``t`` (from 1), scikit-learn's schedules.

    optimal: ``1 / (alpha (t0 + t - 1))`` (Bottou's t0 = ``optimal_init``);
    invscaling: ``eta / t**power_t``; otherwise ``eta``, fixed by Python.
    """
    if schedule == STEP_OPTIMAL:
        return 1.0 / (alpha * (optimal_init + t - 1.0))
    if schedule == STEP_INVSCALING:
        return eta / pow(t, power_t)
    return eta


cdef inline double l1_pull(double w, double total, double received) noexcept nogil:
    """A weight after the cumulative L1 penalty (Tsuruoka, Tsujii, Ananiadou 2009).

    ``total`` is the penalty every weight should have received by now,
    ``received`` what this one has (negative when it was pulled up from
    below zero): ``w`` moves towards zero by the difference, never past it.
    The caller adds ``result - w`` to ``received``.
    """
    if w > 0.0:
        w = w - (total + received)
        if w < 0.0:
            w = 0.0
    elif w < 0.0:
        w = w + (total - received)
        if w > 0.0:
            w = 0.0
    return w


cdef inline Py_ssize_t row_start(const index_t *ptr, bint dense, Py_ssize_t n_features,
                                 Py_ssize_t i) noexcept nogil:
    """Where row ``i``'s values start (and, with ``i + 1``, end).

    Dense X is stored row after row (``ptr`` unused); CSR rows by ``indptr``.
    """
    return i * n_features if dense else ptr[i]


cdef inline Py_ssize_t column(const index_t *ind, bint dense, Py_ssize_t j,
                              Py_ssize_t begin) noexcept nogil:
    """The column of the value at ``j`` in a row stored from ``begin``."""
    return j - begin if dense else ind[j]


cdef inline double row_dot(const floating *w, const floating *v, const index_t *ind,
                           bint dense, Py_ssize_t begin, Py_ssize_t end) noexcept nogil:
    """``w . x`` for the row stored at ``[begin, end)`` (dense rows: ind unused)."""
    cdef Py_ssize_t j
    cdef double p = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0
    if dense:
        for j in range(begin, end):
            p = p + w[j - begin] * v[j]
    else:
        # four running sums: one chain of adds would wait on each add's latency
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


cdef inline void prefetch_row(const floating *v, const index_t *ind, const index_t *ptr,
                              Py_ssize_t i) noexcept nogil:
    """Ask for the cache lines of CSR row ``i``'s values and indices."""
    hw_prefetch(&v[ptr[i]], &v[ptr[i + 1]])
    hw_prefetch(&ind[ptr[i]], &ind[ptr[i + 1]])
