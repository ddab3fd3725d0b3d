# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""The benchmark's native read: what an SGD epoch cannot do without.

Bench-only: no estimator calls it. It reads rows with the same pieces the
kernels use (``_native.pxd``), so ``hogwild bench`` can set an epoch beside
the read it contains.
"""
from cython cimport floating
from cython.parallel cimport parallel, threadid
from libc.stdint cimport int64_t

from hogwild._native cimport PREFETCH, hw_team_size, index_t, prefetch_row, row_dot


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

    Like the epoch kernels, it trusts the CSR arrays (``checked_csr``) and
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
                prefetch_row(v, ind, ptr, order[k + PREFETCH * team])
            i = order[k]
            out[k] = row_dot(wp, v, ind, False, ptr[i], ptr[i + 1])
            k = k + team
