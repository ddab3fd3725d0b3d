# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Matrix factorization by lock-free parallel SGD: one epoch over the ratings.

A rating ``r`` of item ``i`` by user ``u`` is predicted
``mean + b_u + c_i + p_u . q_i``. Its step touches one row of each factor
matrix and two biases, so threads that run ratings side by side rarely
write the same row: the HOGWILD! paper's matrix-completion case. Rows are
read and written with plain loads and stores, no locks.

Per rating, with ``g`` the loss's derivative at the prediction:

    p_u <- p_u - eta_u (g q_i + a_u p_u)
    q_i <- q_i - eta_i (g p_u + a_i q_i)      (with the p_u from before the step)
    b_u <- b_u - eta_u (g + a_u b_u),   c_i <- c_i - eta_i (g + a_i c_i)

``a_u`` and ``a_i`` are per-row L2 strengths (``alpha``, or ``alpha``
scaled by the row's degree), and the steps ``eta`` are the epoch's fixed
step, or per-row AdaGrad as LIBMF's: ``eta / sqrt(G)`` where ``G``, one
number a row, starts at 1 and adds the mean squared gradient of the row's
factors after each step.
"""
import numpy as np

from cython.parallel cimport parallel, prange
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

from cython cimport floating

from hogwild._native cimport (SQUARED_ERROR, clip_dloss, dloss_and_loss, hw_bounded,
                              hw_team_size, index_t)

# The caller's ratings, read in place by the layout (any stride, either float type).
ctypedef fused rating_t:
    float
    double

# How threads share the blocks (MFParams.schedule); see mf_epoch.
cdef enum:
    BLOCKS = 0
    HOGWILD = 1
    ROWS = 2
SCHEDULE_BLOCKS, SCHEDULE_HOGWILD, SCHEDULE_ROWS = BLOCKS, HOGWILD, ROWS

cdef extern from *:
    """
    /* x86-64 with GCC >= 11 or clang >= 14: the ratings' loop is also
       compiled for x86-64-v3 (AVX2, FMA) and the loader picks the copy the
       CPU runs: the wide vectors without -march=native in the build. */
    #if defined(__x86_64__) && !defined(_WIN32) && \
        ((defined(__clang__) && __clang_major__ >= 14) || \
         (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
    #define HW_MF_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define HW_MF_CLONES
    #endif
    /* Ask for a factor row in L1, for writing, a rating ahead of its step.
       The empty volatile asm keeps GCC from deleting the call (a prefetch is
       no side effect to it: see _native.pxd's hw_prefetch). */
    static inline void hw_mf_prefetch(const void *row, Py_ssize_t bytes) {
    #if defined(__GNUC__) || defined(__clang__)
        const char *a = (const char *)((uintptr_t)row & ~(uintptr_t)63);
        const char *e = (const char *)row + bytes;
        for (; a < e; a += 64) __builtin_prefetch(a, 1, 3);
        __asm__ __volatile__("");
    #else
        (void)row; (void)bytes;
    #endif
    }
    /* AdaGrad's two steps, eta / sqrt(G_u) and eta / sqrt(G_i), as one
       packed square root and one packed division where SSE2 is (x86-64
       always): the divider is the scalar part's bottleneck. Correctly
       rounded like the scalar operations, so the same bits; and no errno
       check (G >= 1, so the root always exists). */
    #if defined(__SSE2__) || defined(_M_X64)
    #include <emmintrin.h>
    static inline void hw_mf_rates(double eta, double g_u, double g_i,
                                   double *eta_u, double *eta_i) {
        __m128d r = _mm_div_pd(_mm_set1_pd(eta), _mm_sqrt_pd(_mm_set_pd(g_i, g_u)));
        _mm_storel_pd(eta_u, r);
        _mm_storeh_pd(eta_i, r);
    }
    #else
    #include <math.h>
    static inline void hw_mf_rates(double eta, double g_u, double g_i,
                                   double *eta_u, double *eta_i) {
        *eta_u = eta / sqrt(g_u);
        *eta_i = eta / sqrt(g_i);
    }
    #endif
    /* What a thread's ratings step needs besides the range of ratings: the
       arrays of one dtype T (void here), the flags and the loss's derivative
       for the losses other than squared error (clipped, with the loss). */
    typedef double (*hw_mf_dloss_t)(int loss, double p, double y, double eps,
                                    double *row_loss);
    typedef struct {
        const int32_t *users, *items;
        const void *ratings;
        void *P, *Q, *user_bias, *item_bias;
        const double *user_alpha, *item_alpha;
        double *user_g, *item_g;
        Py_ssize_t k;
        int loss, squared, per_user, per_item, biases, adagrad;
        double eps, eta, mean;
        hw_mf_dloss_t dloss;
    } hw_mf_args;
    /* A row sum for the vectoriser. GCC ends an "omp simd" reduction with
       its lanes added one after another, a chain as long as the vector on
       every rating's path; its own reductions end in a tree, and setup.py
       lets it reassociate this module's floating point
       (-fassociative-math), so GCC gets the plain loop. Other compilers get
       the pragma, which also lets them reorder the sum. */
    #if defined(__GNUC__) && !defined(__clang__)
    #define HW_MF_SIMD(...)
    #else
    #define HW_MF_PRAGMA(x) _Pragma(#x)
    #define HW_MF_SIMD(...) HW_MF_PRAGMA(omp simd reduction(+:__VA_ARGS__))
    #endif
    /* Ratings [lo, hi) in turn (the module docstring's step); their summed
       loss. The whole loop is one function, so that the compiler keeps the
       rating's scalars in registers across the row loops. The rows p_u and
       q_i never overlap (one of each matrix), hence restrict; the row
       sums may be added in any order (HW_MF_SIMD), so that they vectorise.
       The scalars are double, the rows T. */
    #define HW_MF_TRAIN(T, SUFFIX)                                                \
    HW_MF_CLONES                                                                  \
    static double hw_mf_train_##SUFFIX(const hw_mf_args *a, Py_ssize_t lo,        \
                                       Py_ssize_t hi) {                           \
        const int32_t *users = a->users, *items = a->items;                       \
        const T *ratings = (const T *)a->ratings;                                 \
        T *P = (T *)a->P, *Q = (T *)a->Q;                                         \
        T *bu = (T *)a->user_bias, *bi = (T *)a->item_bias;                       \
        const Py_ssize_t k = a->k;                                                \
        const double inv_k = 1.0 / (double)k;                                     \
        double sumloss = 0.0;                                                     \
        for (Py_ssize_t j = lo; j < hi; j++) {                                    \
            const int32_t u = users[j], i = items[j];                             \
            T *restrict pu = P + (Py_ssize_t)u * k;                               \
            T *restrict qi = Q + (Py_ssize_t)i * k;                               \
            if (j + 1 < hi) {                                                     \
                hw_mf_prefetch(P + (Py_ssize_t)users[j + 1] * k, k * sizeof(T));  \
                hw_mf_prefetch(Q + (Py_ssize_t)items[j + 1] * k, k * sizeof(T));  \
            }                                                                     \
            /* the rates first: their root and division take longest, and    \
               need only the AdaGrad sums */                                  \
            double eta_u = a->eta, eta_i = a->eta;                                \
            if (a->adagrad)                                                       \
                hw_mf_rates(a->eta, a->user_g[u], a->item_g[i], &eta_u, &eta_i);  \
            T dot = 0;                                                            \
            HW_MF_SIMD(dot)                                                       \
            for (Py_ssize_t f = 0; f < k; f++) dot += pu[f] * qi[f];              \
            const double p = a->mean + (double)bu[u] + (double)bi[i] + (double)dot; \
            double g, row_loss;                                                   \
            if (a->squared) {                                                     \
                g = p - (double)ratings[j];                                       \
                row_loss = 0.5 * g * g;                                           \
                g = g > 1e12 ? 1e12 : (g < -1e12 ? -1e12 : g);                    \
            } else {                                                              \
                g = a->dloss(a->loss, p, (double)ratings[j], a->eps, &row_loss);  \
            }                                                                     \
            sumloss += row_loss;                                                  \
            const double a_u = a->user_alpha[a->per_user ? u : 0];                \
            const double a_i = a->item_alpha[a->per_item ? i : 0];                \
            const T gt = (T)g, eu = (T)eta_u, ei = (T)eta_i;                      \
            const T au = (T)a_u, ai = (T)a_i;                                     \
            T su = 0, si = 0;                                                     \
            HW_MF_SIMD(su, si)                                                    \
            for (Py_ssize_t f = 0; f < k; f++) {                                  \
                T pf = pu[f], qf = qi[f];                                         \
                T gp = gt * qf + au * pf, gq = gt * pf + ai * qf;                 \
                su += gp * gp;                                                    \
                si += gq * gq;                                                    \
                pu[f] = pf - eu * gp;                                             \
                qi[f] = qf - ei * gq;                                             \
            }                                                                     \
            if (a->biases) {                                                      \
                bu[u] = (T)((double)bu[u] - eta_u * (g + a_u * (double)bu[u]));   \
                bi[i] = (T)((double)bi[i] - eta_i * (g + a_i * (double)bi[i]));   \
            }                                                                     \
            if (a->adagrad) {                                                     \
                a->user_g[u] += (double)su * inv_k;                               \
                a->item_g[i] += (double)si * inv_k;                               \
            }                                                                     \
        }                                                                         \
        return sumloss;                                                           \
    }
    HW_MF_TRAIN(float, f)
    HW_MF_TRAIN(double, d)
    /* A thread with no free block gives its core away rather than spin on
       the lock: on a shared machine the thread it waits for may need it. */
    #ifdef _WIN32
    #include <windows.h>
    static inline void hw_mf_yield(void) { SwitchToThread(); }
    #else
    #include <sched.h>
    static inline void hw_mf_yield(void) { sched_yield(); }
    #endif
    """
    ctypedef double (*hw_mf_dloss_t)(int loss, double p, double y, double eps,
                                     double *row_loss) noexcept nogil
    ctypedef struct hw_mf_args:
        const int32_t *users
        const int32_t *items
        const void *ratings
        void *P
        void *Q
        void *user_bias
        void *item_bias
        const double *user_alpha
        const double *item_alpha
        double *user_g
        double *item_g
        Py_ssize_t k
        int loss, squared, per_user, per_item, biases, adagrad
        double eps, eta, mean
        hw_mf_dloss_t dloss
    void hw_mf_yield() noexcept nogil
    double hw_mf_train_f(const hw_mf_args *a, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil
    double hw_mf_train_d(const hw_mf_args *a, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil


cdef class MFParams:
    """What one epoch of the kernel does, besides the data and the model.

    Parameters
    ----------
    loss : int
        A code of ``_native.LOSSES``: squared_error, log_loss (ratings
        +-1), or epsilon_insensitive with ``epsilon=0`` (absolute error).
    epsilon : float, default=0.0
    eta : float, default=0.01
        The step (AdaGrad's base step).
    mean : float, default=0.0
        The global mean added to every prediction.
    fit_intercept : bool, default=True
        Whether to train the user and item biases.
    adagrad : bool, default=False
    n_threads : int, default=1
    schedule : int, default=SCHEDULE_BLOCKS
        How threads share the blocks: ``SCHEDULE_BLOCKS`` (no two share a
        row, FPSGD), ``SCHEDULE_HOGWILD`` (any block, the HOGWILD! paper's
        updates) or ``SCHEDULE_ROWS`` (each thread its own user ranges). See
        :func:`mf_epoch`.
    """

    cdef public int loss, n_threads, schedule
    cdef public double epsilon, eta, mean
    cdef public bint fit_intercept, adagrad

    def __init__(self, *, loss, epsilon=0.0, eta=0.01, mean=0.0, fit_intercept=True,
                 adagrad=False, n_threads=1, schedule=SCHEDULE_BLOCKS):
        if schedule not in (SCHEDULE_BLOCKS, SCHEDULE_HOGWILD, SCHEDULE_ROWS):
            raise ValueError(f"unknown schedule {schedule}")
        self.loss, self.epsilon, self.eta, self.mean = loss, epsilon, eta, mean
        self.fit_intercept, self.adagrad, self.n_threads = fit_intercept, adagrad, n_threads
        self.schedule = schedule


cdef extern from *:
    """
    /* The block scheduler's lock and the thread number, as constants in a
       build without OpenMP (one thread, nothing to exclude). */
    #ifdef _OPENMP
    #include <omp.h>
    typedef omp_lock_t hw_lock_t;
    static inline void hw_lock_init(hw_lock_t *l) { omp_init_lock(l); }
    static inline void hw_lock_destroy(hw_lock_t *l) { omp_destroy_lock(l); }
    static inline void hw_lock(hw_lock_t *l) { omp_set_lock(l); }
    static inline void hw_unlock(hw_lock_t *l) { omp_unset_lock(l); }
    static inline int hw_thread_num(void) { return omp_get_thread_num(); }
    #else
    typedef int hw_lock_t;
    static inline void hw_lock_init(hw_lock_t *l) { (void)l; }
    static inline void hw_lock_destroy(hw_lock_t *l) { (void)l; }
    static inline void hw_lock(hw_lock_t *l) { (void)l; }
    static inline void hw_unlock(hw_lock_t *l) { (void)l; }
    static inline int hw_thread_num(void) { return 0; }
    #endif
    """
    ctypedef int hw_lock_t
    void hw_lock_init(hw_lock_t *l) noexcept nogil
    void hw_lock_destroy(hw_lock_t *l) noexcept nogil
    void hw_lock(hw_lock_t *l) noexcept nogil
    void hw_unlock(hw_lock_t *l) noexcept nogil
    int hw_thread_num() noexcept nogil


cdef double _dloss(int loss, double p, double y, double eps, double *row_loss) noexcept nogil:
    """The clipped derivative and the loss, for the kernel's losses other than squared error."""
    return clip_dloss(dloss_and_loss(loss, p, y, eps, row_loss))


cdef Py_ssize_t _pick(const int64_t *blocks, Py_ssize_t n_blocks, Py_ssize_t *cursor,
                      uint8_t *taken, char *busy_user, char *busy_item,
                      const int64_t *grid) noexcept nogil:
    """The next block of ``blocks`` whose user and item ranges no thread holds (-2: none
    free now, -1: none left); marks it taken and its ranges held. Under the lock."""
    cdef Py_ssize_t j, b
    cdef bint left = False
    while cursor[0] < n_blocks and taken[cursor[0]]:
        cursor[0] += 1
    for j in range(cursor[0], n_blocks):
        if taken[j]:
            continue
        left = True
        b = blocks[j]
        if not busy_user[grid[3 * b]] and not busy_item[grid[3 * b + 1]]:
            taken[j] = 1
            busy_user[grid[3 * b]] = 1
            busy_item[grid[3 * b + 1]] = 1
            return j
    return -2 if left else -1


cdef inline Py_ssize_t _next_own(const int64_t *blocks, Py_ssize_t n_blocks,
                                 const int64_t *grid, const uint8_t *taken, Py_ssize_t after,
                                 int tid, int team, bint by_user_range) noexcept nogil:
    """The next position of ``blocks`` after ``after``, not taken, that thread ``tid``
    of a team of ``team`` trains (-1: none): every ``team``-th (the shared schedule), or
    the blocks of the owners ``o`` with ``o % team == tid`` (a team smaller than asked
    for still trains every block)."""
    cdef Py_ssize_t j
    for j in range(after + 1, n_blocks):
        if not taken[j] and (grid[3 * blocks[j] + 2] if by_user_range else j) % team == tid:
            return j
    return -1


def mf_epoch(const int32_t[::1] users, const int32_t[::1] items, const floating[::1] ratings,
             const int64_t[::1] starts, const int64_t[::1] blocks, uint8_t[::1] taken,
             Py_ssize_t budget, const int64_t[:, ::1] grid, MFParams params,
             floating[:, ::1] user_factors, floating[:, ::1] item_factors,
             floating[::1] user_bias, floating[::1] item_bias,
             const double[::1] user_alpha, const double[::1] item_alpha,
             double[::1] user_g, double[::1] item_g):
    """Train on about ``budget`` more ratings of an epoch, in place; their summed loss.

    An epoch is the blocks of ``blocks`` (in that order), each trained once;
    ``taken`` marks those trained so far (all 0 at the epoch's start), and a
    call trains untaken blocks until it has started ``budget`` ratings (each
    thread its share, in the schedules without a lock) or none is left.
    Calls follow one another until the epoch's ratings are trained: Python
    regains control between them (Ctrl-C) while every call still picks
    from all the epoch's remaining blocks, so that near a call's end a
    thread seldom waits for a block that does not collide.

    The ratings are stored in the caller's compact copy, grouped into
    blocks (a block: the ratings of a range of users and a range of items,
    few enough rows to stay in cache, in a shuffled order); each block's
    ratings are trained in turn, so a thread reads its ratings in sequence
    and the factor rows from cache. How threads share the blocks:

    - ``SCHEDULE_BLOCKS`` (FPSGD's schedule, Chin et al.): a thread takes
      the next block in ``blocks`` whose user range and item range no other
      thread is training, so no two threads ever write the same row (a lock
      guards only the choice of blocks, once per block);
    - ``SCHEDULE_HOGWILD``, the HOGWILD! paper's way: threads split
      ``blocks`` between them in order and may write the same rows at once,
      without locks;
    - ``SCHEDULE_ROWS``: each thread trains the blocks of the user ranges
      it owns (``grid[:, 2]``), in the order of ``blocks``: each user row
      has one writer, item rows are shared without locks.

    Parameters
    ----------
    users, items : ndarray of int32 of shape (n_ratings,)
        Ids, checked by the caller: ``0 <= id < n_users`` (``n_items``).
    ratings : ndarray of shape (n_ratings,)
    starts : ndarray of int64 of shape (n_blocks + 1,)
        Block ``b`` is ratings ``[starts[b], starts[b + 1])``.
    blocks : ndarray of int64
        The epoch's blocks, in order.
    taken : ndarray of uint8 of the length of ``blocks``
        1 where the block at that position has been trained this epoch;
        updated.
    budget : int
        Ratings this call starts at least (unless the epoch ends first).
    grid : ndarray of int64 of shape (n_blocks, 3)
        Each block's user range and item range (numbered from 0), and the
        thread that owns its user range (``SCHEDULE_ROWS``; 0 to
        ``n_threads - 1``, checked by the caller).
    params : MFParams
    user_factors, item_factors : ndarray of shape (n_users, k), (n_items, k)
    user_bias, item_bias : ndarray of shape (n_users,), (n_items,)
    user_alpha, item_alpha : ndarray of float64
        Each row's L2 strength; of length 1 for one strength for all.
    user_g, item_g : ndarray of float64
        AdaGrad's sums, one per row (ignored without ``params.adagrad``).

    Returns
    -------
    sumloss : float
    trained : int
        The ratings this call trained (0: the epoch was over).
    """
    cdef:
        Py_ssize_t n_blocks = blocks.shape[0], k = user_factors.shape[1], b, j, cursor = 0
        Py_ssize_t n_user_ranges = 0, n_item_ranges = 0, started = 0, mine, share
        int loss = params.loss, n_threads = params.n_threads, schedule = params.schedule
        int tid, team
        double sumloss = 0.0, local
        hw_lock_t lock
        hw_mf_args args
        double[::1] thread_loss
        int64_t[::1] thread_ratings
        char[::1] busy_user, busy_item
    if taken.shape[0] != n_blocks:
        raise ValueError(f"taken has {taken.shape[0]} entries for {n_blocks} blocks")
    if n_blocks == 0:
        return 0.0, 0
    args.users, args.items, args.ratings = &users[0], &items[0], &ratings[0]
    args.P, args.Q = &user_factors[0, 0], &item_factors[0, 0]
    args.user_bias, args.item_bias = &user_bias[0], &item_bias[0]
    args.user_alpha, args.item_alpha = &user_alpha[0], &item_alpha[0]
    args.per_user, args.per_item = user_alpha.shape[0] > 1, item_alpha.shape[0] > 1
    args.user_g, args.item_g = &user_g[0], &item_g[0]
    args.k, args.loss, args.squared = k, loss, loss == SQUARED_ERROR
    args.biases, args.adagrad = params.fit_intercept, params.adagrad
    args.eps, args.eta, args.mean = params.epsilon, params.eta, params.mean
    args.dloss = _dloss
    if n_threads > 1 and schedule == BLOCKS:
        for j in range(grid.shape[0]):
            n_user_ranges = max(n_user_ranges, grid[j, 0] + 1)
            n_item_ranges = max(n_item_ranges, grid[j, 1] + 1)
        busy_user, busy_item = bytearray(n_user_ranges), bytearray(n_item_ranges)
    else:  # no block is ever picked under the lock
        schedule = HOGWILD if n_threads == 1 else schedule
        busy_user = busy_item = bytearray(1)
    thread_loss = np.zeros(n_threads)
    thread_ratings = np.zeros(n_threads, dtype=np.int64)
    hw_lock_init(&lock)
    with nogil, parallel(num_threads=n_threads):
        tid = hw_thread_num()
        team = hw_team_size()
        share = (budget + team - 1) // team
        local = 0.0
        mine = 0
        j = -1
        while True:
            if schedule == BLOCKS:
                hw_lock(&lock)
                j = -1
                if started < budget:
                    j = _pick(&blocks[0], n_blocks, &cursor, &taken[0], &busy_user[0],
                              &busy_item[0], &grid[0, 0])
                    if j >= 0:
                        started = started + starts[blocks[j] + 1] - starts[blocks[j]]
                hw_unlock(&lock)
                if j == -2:  # every block left shares a range with one in training
                    hw_mf_yield()
                    continue
            elif mine < share:
                j = _next_own(&blocks[0], n_blocks, &grid[0, 0], &taken[0], j, tid, team,
                              schedule == ROWS)
                if j >= 0:
                    taken[j] = 1
            else:
                j = -1
            if j == -1:
                break
            b = blocks[j]
            mine = mine + starts[b + 1] - starts[b]
            if floating is float:
                local = local + hw_mf_train_f(&args, starts[b], starts[b + 1])
            else:
                local = local + hw_mf_train_d(&args, starts[b], starts[b + 1])
            if schedule == BLOCKS:
                hw_lock(&lock)
                busy_user[grid[b, 0]] = 0
                busy_item[grid[b, 1]] = 0
                hw_unlock(&lock)
        thread_loss[tid] = local
        thread_ratings[tid] = mine
    hw_lock_destroy(&lock)
    for j in range(n_threads):
        sumloss += thread_loss[j]
    return sumloss, int(np.sum(thread_ratings))


def mf_predict(const int32_t[::1] users, const int32_t[::1] items, double mean,
               const floating[:, ::1] user_factors, const floating[:, ::1] item_factors,
               const floating[::1] user_bias, const floating[::1] item_bias,
               double[::1] out, int n_threads=1):
    """``mean + b_u + c_i + p_u . q_i`` for each pair, into ``out`` (ids checked by the caller)."""
    cdef:
        Py_ssize_t n = users.shape[0], k = user_factors.shape[1], j, f
        int32_t u, i
        double p
    with nogil:
        for j in prange(n, schedule='static', num_threads=n_threads):
            u = users[j]
            i = items[j]
            p = mean + user_bias[u] + item_bias[i]
            for f in range(k):
                p = p + user_factors[u, f] * item_factors[i, f]
            out[j] = p


# ------------------------------------------------------------------ layout
# The ratings' one compact copy is written straight from the caller's
# columns (any stride, int32 or int64 ids, float32 or float64 ratings): a
# counting sort by block, two passes, no permutation array (a shuffled
# order of 100 M ratings and its argsort would each be as large as the copy).

cdef inline Py_ssize_t _cell(Py_ssize_t u, Py_ssize_t i, Py_ssize_t user_rows,
                             Py_ssize_t item_rows, Py_ssize_t n_item_ranges) noexcept nogil:
    return (u // user_rows) * n_item_ranges + i // item_rows


def mf_count(const index_t[:] users, const index_t[:] items, const uint8_t[::1] keep,
             Py_ssize_t user_rows, Py_ssize_t item_rows, Py_ssize_t n_item_ranges,
             int64_t[::1] cell_counts, int64_t[::1] user_degree, int64_t[::1] item_degree):
    """Add each rating to its block's count and its user's and item's degree.

    ``keep``: the ratings to count (1) and to leave out (0), or empty for
    all. Ids are checked by the caller (``0 <= id < len(degree)``).
    """
    cdef Py_ssize_t j, n = users.shape[0]
    cdef bint every = keep.shape[0] == 0
    with nogil:
        for j in range(n):
            if every or keep[j]:
                cell_counts[_cell(users[j], items[j], user_rows, item_rows, n_item_ranges)] += 1
                user_degree[users[j]] += 1
                item_degree[items[j]] += 1


def mf_scatter(const index_t[:] users, const index_t[:] items, const rating_t[:] ratings,
               const uint8_t[::1] keep, Py_ssize_t user_rows, Py_ssize_t item_rows,
               Py_ssize_t n_item_ranges, int64_t[::1] fill, int32_t[::1] out_users,
               int32_t[::1] out_items, floating[::1] out_ratings):
    """Write each kept rating into its block's next free slot ``fill[c]``, in order.

    Blocks are numbered as :func:`mf_count` counts them; with ``fill`` the
    starts of the blocks, calls on consecutive slices of the ratings lay
    them out block by block in the caller's order.
    """
    cdef:
        Py_ssize_t j, c, a, n = users.shape[0]
        bint every = keep.shape[0] == 0
    with nogil:
        for j in range(n):
            if every or keep[j]:
                c = _cell(users[j], items[j], user_rows, item_rows, n_item_ranges)
                a = fill[c]
                fill[c] = a + 1
                out_users[a] = <int32_t>users[j]
                out_items[a] = <int32_t>items[j]
                out_ratings[a] = <floating>ratings[j]


def mf_shuffle_blocks(const int64_t[::1] starts, Py_ssize_t first, Py_ssize_t last,
                      uint64_t seed, int32_t[::1] users, int32_t[::1] items,
                      floating[::1] ratings, int n_threads=1):
    """Shuffle each block ``first <= c < last`` (``[starts[c], starts[c + 1])``) in place.

    Fisher-Yates driven by SplitMix64, seeded by ``seed`` and the block: the
    same order on every platform and for any ``n_threads``.
    """
    cdef:
        Py_ssize_t j, c, a, b
        uint64_t state
        int32_t tu, ti
        floating tr
    with nogil:
        for c in prange(first, last, schedule='dynamic', num_threads=n_threads):
            state = seed ^ (<uint64_t>c * <uint64_t>0x9E3779B97F4A7C15)
            a = starts[c]
            j = starts[c + 1] - 1
            while j > a:
                b = a + <Py_ssize_t>hw_bounded(&state, <uint64_t>(j - a + 1))
                tu = users[j]
                users[j] = users[b]
                users[b] = tu
                ti = items[j]
                items[j] = items[b]
                items[b] = ti
                tr = ratings[j]
                ratings[j] = ratings[b]
                ratings[b] = tr
                j = j - 1


def mf_group(const index_t[:] users, const index_t[:] items, const uint8_t[::1] keep,
             int64_t[::1] fill, int32_t[::1] out):
    """Each kept rating's item into its user's next free slot ``fill[u]`` of ``out``.

    With ``fill`` the starts of a CSR ``indptr``, ``out`` becomes the items
    each user rated (in the caller's order): the pattern ``recommend``
    excludes.
    """
    cdef Py_ssize_t j, a, n = users.shape[0]
    cdef bint every = keep.shape[0] == 0
    with nogil:
        for j in range(n):
            if every or keep[j]:
                a = fill[users[j]]
                fill[users[j]] = a + 1
                out[a] = <int32_t>items[j]
