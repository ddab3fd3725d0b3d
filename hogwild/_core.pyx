# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""The linear SGD kernels of hogwild: epochs of lock-free parallel SGD.

Two entry points, one per parallel strategy, each taking the data, a row
order, the step number of its first row, an :class:`SGDParams` (what the fit
asked for) and a state object (the model and what the kernel keeps between
calls):

- :func:`sgd_epoch` with a :class:`SharedState`: the Hogwild! paper's
  method, every thread on one weight buffer with plain loads and stores;
- :func:`sgd_epoch_replicas` with a :class:`ReplicaState`: a private scaled
  replica per thread, merged at barriers; with one thread, sequential SGD as
  scikit-learn's, averaged SGD included.

Everything inside runs without the GIL. The estimators validate every input
before calling in: these functions trust the index bounds and the parameter
values they are given. The pieces other kernels share (losses, schedules,
row access, prefetch, OpenMP shims) are cimported from ``_native.pxd``.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport fabs
from libc.stdint cimport int64_t

import numpy as np

from hogwild._native cimport (
    PREFETCH, clip_dloss, column, dloss, dloss_and_loss, hw_barrier, hw_team_size, index_t,
    l1_pull, loss_value, prefetch_row, row_dot, row_start, step_size,
)


ctypedef struct Params:
    int loss                 # a code of _native.LOSSES
    double epsilon           # of the huber and epsilon-insensitive losses
    int schedule             # a code of _native.SCHEDULES
    double eta               # the fixed step, or invscaling's eta0
    double power_t
    double alpha
    double optimal_init      # the 'optimal' schedule's t0
    double l2                # alpha * (1 - l1_ratio), 0 without L2
    double l1                # alpha * l1_ratio, 0 without L1
    double curvature         # bound on the loss's second derivative (replica merge)
    double intercept_decay   # factor on the intercept's step
    bint fit_intercept
    bint need_loss           # replicas: sum the loss, or only |p| (overflow check)
    int n_threads
    Py_ssize_t sync_rows     # replicas: positions between merges


cdef dict _PARAM_DEFAULTS = dict(
    loss=0, epsilon=0.1, schedule=0, eta=0.01, power_t=0.5, alpha=0.0001, optimal_init=0.0,
    l2=0.0, l1=0.0, curvature=1.0, intercept_decay=1.0, fit_intercept=True,
    need_loss=True, n_threads=1, sync_rows=1,
)


cdef class SGDParams:
    """What a fit asks of the kernel: loss, schedule, penalties, threads.

    A typed C struct behind keyword attributes. Every field has a default,
    so a caller names only what it sets::

        SGDParams(loss=LOSSES["log_loss"], schedule=SCHEDULES["optimal"], ...)

    Fields
    ------
    loss : int
        A code from ``_native.LOSSES``.
    epsilon : float
        Of the huber and epsilon-insensitive losses.
    schedule : int
        A code from ``_native.SCHEDULES``.
    eta : float
        The step size of the 'fixed' schedule (Python sets it per epoch for
        'constant', 'adaptive' and 'backoff'), or invscaling's ``eta0``.
    power_t, alpha, optimal_init : float
        Step-size parameters, with scikit-learn's meanings.
    l2, l1 : float
        ``alpha * (1 - l1_ratio)`` and ``alpha * l1_ratio`` (0 when unused).
    curvature : float
        A bound on the loss's second derivative in the prediction (0.25 for
        log_loss, 1 for squared error), for the replica merge's saturation.
    intercept_decay : float
        Factor on the intercept's step (scikit-learn uses 0.01 on sparse X).
    fit_intercept : bool
    need_loss : bool
        Whether the caller reads the epoch's loss. Without it the replica
        kernel skips the loss value (log_loss's ``log1p``) and sums
        ``|prediction|`` instead, finite exactly when no prediction overflowed.
    n_threads : int
    sync_rows : int
        Replicas: positions of the order between merges.
    """

    cdef Params c

    def __init__(self, **fields):
        unknown = set(fields) - set(_PARAM_DEFAULTS)
        if unknown:
            raise TypeError(f"SGDParams has no field {sorted(unknown)[0]!r}")
        values = dict(_PARAM_DEFAULTS)
        values.update(fields)
        self.c = values

    def __getattr__(self, name):
        cdef dict fields = self.c
        if name not in fields:
            raise AttributeError(name)
        return fields[name]

    def __setattr__(self, name, value):
        cdef dict fields = self.c
        if name not in fields:
            raise AttributeError(f"SGDParams has no field {name!r}")
        fields[name] = value
        self.c = fields

    def __repr__(self):
        cdef dict fields = self.c
        return "SGDParams(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"

    def __reduce__(self):
        return (_params_from_dict, (self.c,))


def _params_from_dict(fields):
    return SGDParams(**fields)


cdef class SharedState:
    """The model one shared-buffer fit trains, and what its epochs carry over.

    Parameters
    ----------
    coef : ndarray of shape (n_features,)
        The weights, updated in place.
    intercept : ndarray of shape (1,)
        The intercept, updated in place.
    inv_freq : ndarray of shape (n_features,)
        ``n / d_u`` per feature (0 where ``d_u`` is 0): each row's share of the
        L2 penalty of coordinate ``u`` (see :func:`sgd_epoch`).
    l1 : bool, default=False
        Keep the lazy L1 bookkeeping: ``l1_received`` (per coordinate) and
        ``l1_total`` (the penalty every weight should have received so far).
    average : tuple of (avg_coef, avg_intercept, avg_stamp) or None
        The running means and each coordinate's last counted step, updated
        in place; ``average_start`` is the first step they count.
    average_start : int, default=0
    """

    cdef public object coef, intercept, inv_freq, l1_received
    cdef public object avg_coef, avg_intercept, avg_stamp
    cdef public double l1_total
    cdef public int64_t average_start

    def __init__(self, coef, intercept, inv_freq, l1=False, average=None, average_start=0):
        self.coef, self.intercept, self.inv_freq = coef, intercept, inv_freq
        self.l1_received = np.zeros(coef.shape[0] if l1 else 0, dtype=coef.dtype)
        self.l1_total = 0.0
        if average is None:
            average = (np.empty(0, dtype=coef.dtype), np.empty(0, dtype=coef.dtype),
                       np.empty(0, dtype=np.int64))
        self.avg_coef, self.avg_intercept, self.avg_stamp = average
        self.average_start = average_start


def sgd_epoch(
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    const floating[::1] y,
    const floating[::1] sample_weight,
    const int64_t[::1] order,
    double t_start,
    SGDParams params,
    SharedState state,
):
    """Run Hogwild! SGD over the rows listed in ``order``, on one shared model.

    Threads split ``order`` round-robin (OpenMP static schedule, chunk 1) and
    update ``state.coef`` and ``state.intercept`` in place with plain loads
    and stores: no locks, no atomics. The row at position ``k`` of ``order``
    is step ``t = t_start + k`` whatever thread runs it, so with one thread
    the epoch is exactly sequential SGD and bit-for-bit reproducible.

    Regularization touches only the coordinates of the row, so an update
    costs O(non-zeros of the row):

    * L2 as in the Hogwild! paper: coordinate ``u`` shrinks by
      ``w_u *= max(0, 1 - eta * l2 * inv_freq[u])`` with ``inv_freq[u] = n /
      d_u`` (``d_u`` the number of rows in which feature ``u`` is non-zero),
      which in expectation over the rows is the full penalty, clipped so
      that a large step never flips a sign.
    * L1 by the cumulative penalty of Tsuruoka et al. (2009), as scikit-learn
      does, made lazy: ``u_k = l1_total + l1 * sum(eta_j, j <= k)`` is the
      penalty every weight should have received by step ``k``,
      ``l1_received[u]`` what ``u`` has received; a touched coordinate is
      pulled towards zero by the difference, never past it.

    Neither needs a scalar that every update writes; only the intercept is
    written by every row.

    Averaging (``state.avg_coef`` non-empty) keeps the running mean of each
    coordinate from step ``average_start`` on, lazily: ``avg_stamp[u]`` is
    the last step the mean of ``u`` accounts for; coordinates are constant
    between the rows that touch them, so the lazy mean is exact. The caller
    brings every coordinate up to date at the end of the epoch.

    Parameters
    ----------
    data, indices, indptr : ndarray
        The CSR arrays of X; or ``data`` is the C-ordered dense X raveled and
        ``indices`` and ``indptr`` are empty. Dense zeros are skipped, so
        dense and CSR input give the same model. CSR arrays must be canonical
        (``_validation.checked_csr(X, canonical=True)``): in range, and no
        index twice in a row, which the replica kernel's write loop relies on.
    y : ndarray of shape (n_samples,)
        Targets, in {-1, +1} for classification.
    sample_weight : ndarray of shape (n_samples,)
        Per-row weights, class weights already folded in.
    order : ndarray of shape (n_rows,), int64
        Rows to visit, in order.
    t_start : float
        Step number of the first row (scikit-learn's ``t_``, from 1).
    params : SGDParams
    state : SharedState
        Its arrays must have ``data``'s dtype (the averaging stamps int64).

    Returns
    -------
    sumloss : float
        Sum over the rows of each row's loss before its update.
    """
    cdef:
        floating[::1] coef = state.coef
        floating[::1] intercept = state.intercept
        const floating[::1] inv_freq = state.inv_freq
        floating[::1] l1_received = state.l1_received
        floating[::1] avg_coef = state.avg_coef
        floating[::1] avg_intercept = state.avg_intercept
        int64_t[::1] avg_stamp = state.avg_stamp
        double[::1] l1_cumulative
        Params P = params.c
        # the fields the loop reads, as plain scalars: a struct shared by an
        # OpenMP region is read through a pointer, which every float64 weight
        # store might alias
        int loss = P.loss, schedule = P.schedule, n_threads = P.n_threads
        double epsilon = P.epsilon, eta0 = P.eta, power_t = P.power_t, alpha = P.alpha
        double optimal_init = P.optimal_init, l2 = P.l2, decay = P.intercept_decay
        bint fit_intercept = P.fit_intercept
        bint dense = indptr.shape[0] == 0
        Py_ssize_t n_features = coef.shape[0]
        Py_ssize_t n_rows = order.shape[0]
        Py_ssize_t k, i, j, begin, end, u
        bint averaging = avg_coef.shape[0] > 0
        bint use_l1 = P.l1 > 0.0
        double sumloss = 0.0, total
        double p, g, eta, upd, t, shrink, wu, wz, wold, x, n_old, gap
        int64_t s, stamp, avg_start = state.average_start
        floating *w = &coef[0] if n_features > 0 else NULL
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
    if use_l1 and n_rows > 0:
        # the cumulative penalty after each step of this call, in order
        l1_cumulative = np.empty(n_rows)
        total = 0.0
        for k in range(n_rows):
            total = total + step_size(P.schedule, P.eta, P.power_t, P.alpha,
                                      P.optimal_init, t_start + k) * P.l1
            l1_cumulative[k] = state.l1_total + total
        state.l1_total = l1_cumulative[n_rows - 1]
        l1c = &l1_cumulative[0]
        l1q = &l1_received[0]
    elif use_l1:
        use_l1 = False
    if averaging:
        aw = &avg_coef[0]
        ab = &avg_intercept[0]
        st = &avg_stamp[0]

    with nogil:
        for k in prange(n_rows, schedule='static', chunksize=1,
                        num_threads=n_threads):
            if not dense and k + PREFETCH * n_threads < n_rows:
                prefetch_row(v, ind, ptr, order[k + PREFETCH * n_threads])
            i = order[k]
            t = t_start + k
            s = <int64_t>t
            begin = row_start(ptr, dense, n_features, i)
            end = row_start(ptr, dense, n_features, i + 1)

            p = b[0] + row_dot(w, v, ind, dense, begin, end)
            sumloss += loss_value(loss, p, yp[i], epsilon)
            g = clip_dloss(dloss(loss, p, yp[i], epsilon))
            eta = step_size(schedule, eta0, power_t, alpha, optimal_init, t)
            upd = -eta * g * swp[i]
            if upd == 0.0 and l2 == 0.0 and not use_l1:
                # nothing to write (hinge with the margin met, zero weight);
                # the lazy average fills the gap at the next touch
                end = begin

            for j in range(begin, end):
                x = v[j]
                if dense and x == 0.0:
                    continue  # a dense zero is not a value of the row
                u = column(ind, dense, j, begin)
                wu = w[u]
                wold = wu
                if l2 > 0.0:
                    shrink = 1.0 - eta * l2 * freq[u]
                    wu = wu * shrink if shrink > 0.0 else 0.0
                wu = wu + upd * x
                if use_l1:
                    wz = wu
                    wu = l1_pull(wu, l1c[k], l1q[u])
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
                b[0] = <floating>(b[0] + upd * decay)
            if averaging and s >= avg_start:
                ab[0] = <floating>(ab[0] + (b[0] - ab[0]) / (t - avg_start + 1.0))
    return sumloss


# ---------------------------------------------------------------- replicas

ctypedef struct ThreadState:
    double scale        # true weights = scale x the replica's stored values
    double intercept    # the replica's intercept
    double l1_total     # cumulative L1 penalty of the replica's own steps
    double loss_sum     # the thread's rows' losses (or |p|) in this call
    double saturation   # curvature x the step sizes of rows that updated,
                        # summed since the last merge
    double pad[11]      # 128 bytes: no two threads' states share a cache line


ctypedef struct Average:
    # the running mean of a scaled sequential model, as scikit-learn keeps
    # it (Xu 2011; Bottou, "SGD tricks", 2012): mean = (aw + a * stored) / b,
    # aw an array beside the weights; a row updates aw on its non-zeros only
    double a
    double b
    double intercept    # the intercept's running mean
    double start        # the first step averaged


cdef class ReplicaState:
    """The model a replica fit trains, its replicas and per-thread state.

    Parameters
    ----------
    coef : ndarray of shape (n_features,)
        The model, updated in place at each merge.
    intercept : ndarray of shape (1,)
        The model's intercept, updated in place.
    replicas : ndarray of shape (n_threads, n_features)
        One replica per thread, equal to ``coef`` on entry (and left so by
        every call); with one thread, ``coef[np.newaxis]`` itself.
    col_sq : ndarray of shape (n_features,), float64
        Mean of ``x_u ** 2`` over (a sample of) the rows
        (:func:`column_mean_square`), for the merge; may be empty with one
        thread.
    l1 : bool, default=False
        Keep per-replica L1 bookkeeping (``l1_received``).
    average : tuple of (avg_coef, avg_intercept) or None
        Averaged SGD (one thread only): the running means, up to date on
        entry and on return, updated in place; ``average_start`` is the first
        step they count.
    average_start : int, default=0

    Attributes
    ----------
    team : int
        Threads the last call ran with (OpenMP may give fewer than asked).
    """

    cdef public object coef, intercept, replicas, col_sq, l1_received
    cdef public object avg_coef, avg_intercept
    cdef public int64_t average_start
    cdef readonly int team
    cdef object _threads_buffer
    cdef ThreadState *threads

    def __init__(self, coef, intercept, replicas, col_sq, l1=False, average=None,
                 average_start=0):
        n_threads = replicas.shape[0]
        if average is not None and n_threads != 1:
            raise ValueError("averaging needs a team of one")
        if average is None:
            average = (np.empty(0, dtype=coef.dtype), np.empty(0, dtype=coef.dtype))
        self.avg_coef, self.avg_intercept = average
        self.average_start = average_start
        self.coef, self.intercept, self.replicas, self.col_sq = coef, intercept, replicas, col_sq
        shape = (n_threads, coef.shape[0]) if l1 else (0, 0)
        self.l1_received = np.zeros(shape, dtype=coef.dtype)
        self._threads_buffer = np.zeros((n_threads, sizeof(ThreadState) // sizeof(double)))
        cdef double[:, ::1] buffer = self._threads_buffer
        self.threads = <ThreadState *>&buffer[0, 0]
        self.team = 0

    def thread(self, Py_ssize_t r):
        """Thread ``r``'s state as a dict (for tests and debugging)."""
        if not 0 <= r < self._threads_buffer.shape[0]:
            raise IndexError(f"no thread {r}")
        cdef ThreadState s = self.threads[r]
        return dict(scale=s.scale, intercept=s.intercept, l1_total=s.l1_total,
                    loss_sum=s.loss_sum, saturation=s.saturation)


def sgd_epoch_replicas(
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    const floating[::1] y,
    const floating[::1] sample_weight,
    const int64_t[::1] order,
    double t_start,
    SGDParams params,
    ReplicaState state,
):
    """Run SGD over ``order`` with one private weight replica per thread.

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
    ``col_sq[u]``, the mean of ``x_u**2`` over (a sample of) the rows, and
    uses the cheaper ``1 / (1 + s + s**2/2 + s**3/6)`` for the exponential.
    A rare coordinate keeps each change whole (the sum of deltas); a
    frequent one, saturated in every replica, gets the mean. Both limits
    matter and fail alone (docs/design.md, "The replica merge"). The
    intercept merges the same way, with ``intercept_decay`` for ``x**2``.
    The result depends only on the order and the team size, not on timing.

    With a team of one the model itself is trained (``replicas`` is then a
    view of ``coef``, or one replica folded into it at the end): sequential
    SGD with exact L2, as scikit-learn does it.

    Averaging (``state.avg_coef`` non-empty, one thread) is scikit-learn's
    averaged SGD: from step ``average_start`` on, the mean of the weights
    after each row. It is kept as scikit-learn keeps it (Xu 2011): the mean
    of the scaled weights is ``(avg_coef + a * stored) / b`` for two scalars
    ``a`` and ``b``, so a row writes the mean on its own non-zeros only. The
    mean takes in the weights after the row's L1 pull too (scikit-learn's
    takes the pull in after the fact, as if every earlier weight had had
    it). The mean is written out in full at the end of the call (and when
    the scale is folded into the weights), so where calls cut the rows
    changes nothing but rounding.

    Parameters
    ----------
    data, indices, indptr, y, sample_weight, order, t_start, params
        As in :func:`sgd_epoch`.
    state : ReplicaState
        Its arrays must have ``data``'s dtype (``col_sq`` float64).

    Returns
    -------
    sumloss : float
        Sum over the rows of each row's loss before its update (of
        ``|prediction|`` without ``params.need_loss``).
    """
    cdef:
        floating[::1] coef = state.coef
        floating[::1] intercept = state.intercept
        floating[:, ::1] replicas = state.replicas
        floating[:, ::1] l1_received = state.l1_received
        const double[::1] col_sq = state.col_sq
        ThreadState *threads = state.threads
        floating[::1] avg_coef = state.avg_coef
        floating[::1] avg_intercept = state.avg_intercept
        Average avg
        floating *aw = NULL
        Params P = params.c
        Params mine
        bint dense = indptr.shape[0] == 0
        Py_ssize_t n_features = coef.shape[0]
        Py_ssize_t n_rows = order.shape[0]
        Py_ssize_t sync_rows = P.sync_rows if P.sync_rows > 0 else 1
        Py_ssize_t k, k0, k1, i, u, r, tid, team, lo, hi
        Py_ssize_t team_out = 1
        Py_ssize_t *team_seen = &team_out  # written in the parallel region
        bint use_l1 = l1_received.shape[0] > 0
        double delta, scale, sumloss = 0.0
        floating *w
        floating *q
        floating *model = &coef[0] if n_features > 0 else NULL
        ThreadState *me
        const floating *v = &data[0] if data.shape[0] > 0 else NULL
        const floating *yp = &y[0]
        const floating *swp = &sample_weight[0]
        const index_t *ind = NULL
        const index_t *ptr = NULL
    if not dense:
        ind = &indices[0] if indices.shape[0] > 0 else NULL
        ptr = &indptr[0]
    for r in range(replicas.shape[0]):
        threads[r].scale = 1.0
        threads[r].intercept = intercept[0]
        threads[r].loss_sum = 0.0
        threads[r].saturation = 0.0

    if avg_coef.shape[0] > 0:
        # averaged SGD: one thread, in order, no merge
        aw = &avg_coef[0]
        avg.a, avg.b = 0.0, 1.0
        avg.intercept = avg_intercept[0]
        avg.start = <double>state.average_start
        me = &threads[0]
        w = &replicas[0, 0]
        q = &l1_received[0, 0] if use_l1 else NULL
        with nogil:
            for k in range(n_rows):
                if not dense and k + PREFETCH < n_rows:
                    prefetch_row(v, ind, ptr, order[k + PREFETCH])
                i = order[k]
                if dense:
                    me.loss_sum = me.loss_sum + _replica_row(
                        v, ind, True, n_features, i * n_features, (i + 1) * n_features,
                        yp[i], swp[i], t_start + k, w, me, q, &P, aw, &avg)
                else:
                    me.loss_sum = me.loss_sum + _replica_row(
                        v, ind, False, n_features, ptr[i], ptr[i + 1],
                        yp[i], swp[i], t_start + k, w, me, q, &P, aw, &avg)
            _fold_average(aw, w, &avg, n_features)
        avg_intercept[0] = <floating>avg.intercept
        team_out = 1
    else:
        with nogil, parallel(num_threads=P.n_threads):
            # each thread reads its own copy: the shared struct is reached through
            # a pointer, which every float64 weight store might alias
            mine = P
            tid = threadid()
            team = hw_team_size()
            w = &replicas[tid, 0]
            me = &threads[tid]
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
                        prefetch_row(v, ind, ptr, order[k + PREFETCH * team])
                    i = order[k]
                    # two call sites, each with a constant layout: the compiler
                    # drops the other layout's branches from the inlined row
                    if dense:
                        me.loss_sum = me.loss_sum + _replica_row(
                            v, ind, True, n_features, i * n_features, (i + 1) * n_features,
                            yp[i], swp[i], t_start + k, w, me, q, &mine, NULL, NULL)
                    else:
                        me.loss_sum = me.loss_sum + _replica_row(
                            v, ind, False, n_features, ptr[i], ptr[i + 1],
                            yp[i], swp[i], t_start + k, w, me, q, &mine, NULL, NULL)
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
                                   threads[0].scale, threads[1].scale,
                                   threads[0].saturation, threads[1].saturation, lo, hi)
                    else:
                        for u in range(lo, hi):
                            delta = _merged_change(threads, &replicas[0, 0],
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
                            delta = delta + (threads[r].intercept - intercept[0]) * _merge_weight(
                                threads, r, team, mine.intercept_decay)
                        intercept[0] = <floating>(intercept[0] + delta)
                    hw_barrier()
                    # the next merge starts after the next barrier: no one writes
                    # the model or the intercept until every thread has read them
                    me.scale = 1.0
                    me.intercept = intercept[0]
                    me.l1_total = 0.0
                    me.saturation = 0.0
            if tid == 0:
                team_seen[0] = team

    state.team = team_out
    if team_out == 1:
        # a team of one merged nothing: fold its scale and intercept into the
        # model, and restart a separate replica from it
        scale = threads[0].scale
        w = &replicas[0, 0]
        if w == model:
            # one pointer: the compiler vectorises the loop (with two it
            # checks them for overlap, finds it, and runs the scalar loop)
            for u in range(n_features):
                model[u] = <floating>(scale * model[u])
        else:
            for u in range(n_features):
                model[u] = <floating>(scale * w[u])
            for u in range(n_features):
                w[u] = model[u]
        intercept[0] = <floating>threads[0].intercept
    for r in range(replicas.shape[0]):
        sumloss = sumloss + threads[r].loss_sum
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


cdef inline double _merge_weight(const ThreadState *threads, Py_ssize_t r, Py_ssize_t team,
                                 double x2) noexcept nogil:
    """Weight of replica ``r``'s change to a coordinate: ``mean(rho**k, k < team)``.

    Run one after another in a random order, a replica's change comes after
    k of the other replicas' steps, for k = 0 .. team-1 equally often, and
    each leaves a share ``rho`` of it: the mean of ``_kept`` over the other
    replicas, whose saturation is their ``saturation`` x ``x2``, the
    coordinate's mean squared value.
    """
    cdef double rho = 0.0
    cdef Py_ssize_t r2
    for r2 in range(team):
        if r2 != r:
            rho = rho + _kept(threads[r2].saturation * x2)
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


cdef inline double _merged_change(const ThreadState *threads, const floating *replicas,
                                  Py_ssize_t stride, Py_ssize_t u, double model_u,
                                  Py_ssize_t team, double x2) noexcept nogil:
    """The team's weighted change to coordinate ``u`` (see ``_merge_weight``).

    The same sum as ``sum(change_r * _merge_weight(threads, r, team, x2))``,
    computed with one ``_kept`` per replica: rho of replica ``r`` is the mean
    of the others' kept shares, (total - own) / (team - 1). A column that
    the sample never saw (``x2 == 0``) keeps every change whole.
    """
    cdef double kept[MERGE_TABLE]
    cdef double change, delta = 0.0, total = 0.0
    cdef Py_ssize_t r
    if x2 == 0.0:
        for r in range(team):
            delta = delta + (threads[r].scale * replicas[r * stride + u] - model_u)
        return delta
    if team > MERGE_TABLE:
        for r in range(team):
            change = threads[r].scale * replicas[r * stride + u] - model_u
            if change != 0.0:
                delta = delta + change * _merge_weight(threads, r, team, x2)
        return delta
    for r in range(team):
        kept[r] = _kept(threads[r].saturation * x2)
        total = total + kept[r]
    for r in range(team):
        change = threads[r].scale * replicas[r * stride + u] - model_u
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
    so the compiler vectorises it: a merge is most of what a second thread
    adds to an epoch.
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
    Py_ssize_t begin, Py_ssize_t end, double y, double sw, double t,
    floating *w, ThreadState *me, floating *q, const Params *P, floating *aw, Average *avg,
) noexcept nogil:
    """One SGD step of a scaled replica on the row at ``[begin, end)``.

    Returns the row's loss, or ``|p|`` without ``P.need_loss``: cheaper, and
    still non-finite when the prediction overflows. ``me`` is the thread's
    state, ``q`` its L1 penalty received per coordinate (NULL without L1),
    ``aw`` and ``avg`` the running mean of averaged SGD (NULL without it;
    see :func:`sgd_epoch_replicas`).
    """
    cdef:
        Py_ssize_t j, u, a0, a1, a2, a3
        double scale = me.scale
        floating x0, x1, x2, x3
        double p, g, eta, upd, shrink, z, wz, cum, row_loss, n_avg
        floating zf, za
        bint averaging
    p = row_dot(w, v, ind, dense, begin, end) * scale + me.intercept
    if P.need_loss:
        g = dloss_and_loss(P.loss, p, y, P.epsilon, &row_loss)
    else:
        g = dloss_and_loss(P.loss, p, y, P.epsilon, NULL)
        row_loss = fabs(p)
    g = clip_dloss(g)
    eta = step_size(P.schedule, P.eta, P.power_t, P.alpha, P.optimal_init, t)
    upd = -eta * g * sw

    if P.l2 > 0.0:
        shrink = 1.0 - eta * P.l2
        scale = scale * (shrink if shrink > 0.0 else 0.0)
        if scale < 1e-9:
            if aw != NULL:
                _fold_average(aw, w, avg, n_features)
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
            # before their four writes.
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
        me.saturation = me.saturation + P.curvature * eta
        if P.fit_intercept:
            me.intercept = me.intercept + upd * P.intercept_decay
    # the running mean (aw + a * w) / b must not move while w takes this
    # row's step and L1 pull: aw takes -a x each change of w
    averaging = aw != NULL and t >= avg.start
    if averaging and upd != 0.0 and avg.a != 0.0:
        za = <floating>(avg.a * (upd / scale))
        for j in range(begin, end):
            if dense:
                aw[j - begin] = aw[j - begin] - za * v[j]
            else:
                aw[ind[j]] = aw[ind[j]] - za * v[j]
    if q != NULL:
        cum = me.l1_total + eta * P.l1
        me.l1_total = cum
        for j in range(begin, end):
            if dense and v[j] == 0.0:
                continue
            u = column(ind, dense, j, begin)
            z = w[u] * scale
            wz = z
            z = l1_pull(z, cum, q[u])
            if averaging:
                aw[u] = <floating>(aw[u] - avg.a * (<floating>(z / scale) - w[u]))
            w[u] = <floating>(z / scale)
            q[u] = <floating>(q[u] + (z - wz))
    if averaging:
        # then the mean takes the new weights in with share 1 / n (step n of
        # the average): b /= 1 - 1/n, a += b x scale / n (Xu 2011)
        n_avg = t - avg.start + 1.0
        if n_avg > 1.0:
            avg.b = avg.b / (1.0 - 1.0 / n_avg)
        avg.a = avg.a + avg.b * scale / n_avg
        avg.intercept = avg.intercept + (me.intercept - avg.intercept) / n_avg
    me.scale = scale
    return row_loss


cdef inline void _fold_average(floating *aw, const floating *w, Average *avg,
                               Py_ssize_t n_features) noexcept nogil:
    """Write the running mean ``(aw + a * w) / b`` out in ``aw``; ``a = 0``, ``b = 1``."""
    cdef Py_ssize_t u
    cdef double a = avg.a, inv_b = 1.0 / avg.b
    for u in range(n_features):
        aw[u] = <floating>((aw[u] + a * w[u]) * inv_b)
    avg.a = 0.0
    avg.b = 1.0


# ------------------------------------------------------- column statistics

def column_mean_square(
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    Py_ssize_t n_features,
    Py_ssize_t max_rows=1024,
    out=None,
):
    """Mean of ``x_u ** 2`` for each column ``u``, over a sample of rows.

    The sample is every ``ceil(n_rows / max_rows)``-th row. A thousand
    rows estimate the frequent columns well (docs/design.md, "The replica
    merge"), and a column the sample misses is rare, which the merge treats
    alike (it keeps rare columns' changes whole).

    Parameters
    ----------
    data, indices, indptr
        As in :func:`sgd_epoch` (dense X: ``indptr`` empty).
    n_features : int
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
    cdef bint dense = indptr.shape[0] == 0
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
                    prefetch_row(&data[0], &indices[0], &indptr[0], i + PREFETCH * step)
                for j in range(indptr[i], indptr[i + 1]):
                    x = data[j]
                    mean[indices[j]] += x * x
            i = i + step
        if n_read > 0:
            for j in range(n_features):
                mean[j] = mean[j] / n_read
    return out
