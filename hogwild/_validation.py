"""Input checks that guard the native code: nothing out of range reaches a kernel.

scikit-learn's validators (``validate_data``, ``check_array``) do the rest;
this module adds what the kernels need beyond them: sound CSR index arrays,
in the canonical form the kernels read.
"""
import numpy as np

from . import _native

# index dtypes the kernels read in place (native byte order)
NATIVE_INDEX = (np.dtype(np.int32), np.dtype(np.int64))


def checked_csr(X, canonical=False):
    """X's CSR arrays, checked so that nothing out of range reaches native code.

    Parameters
    ----------
    X : scipy.sparse CSR matrix or array
    canonical : bool, default=False
        Also sorted and free of repeated indices within each row, as the
        epoch kernels need: a copy with the duplicates summed if not.

    Returns
    -------
    X : CSR matrix or array
        X itself when its arrays pass ``_native.csr_status`` as they are;
        otherwise a new matrix object: scipy's checks (which name the
        problem) may unify index dtypes or byte order, and must do it on
        ours, not the caller's.

    Raises
    ------
    ValueError
        Naming what is wrong with a malformed matrix.
    """
    n_stored = (X.data.shape[0], X.indices.shape[0])
    if X.indptr.shape[0] != X.shape[0] + 1 or X.indptr[-1] != n_stored[1]:
        # scipy would silently drop the values past indptr[-1]; such a matrix
        # was built wrong, so say so rather than guess
        raise ValueError(
            f"Malformed CSR matrix: indptr has {X.indptr.shape[0]} entries ending at "
            f"{X.indptr[-1]}, but the matrix has {X.shape[0]} rows and "
            f"{n_stored[1]} stored indices (it must have n_rows + 1 entries "
            "ending at the number of stored values)."
        )
    if not (n_stored[0] == n_stored[1] and X.indices.dtype == X.indptr.dtype
            and X.indices.dtype in NATIVE_INDEX and X.indices.flags.c_contiguous
            and X.indptr.flags.c_contiguous and X.data.flags.c_contiguous):
        # Arrays the kernels cannot take as they are: scipy's checks name any
        # problem (data and indices of one length, ...) and unify the index
        # arrays, on a new matrix object over the caller's arrays.
        X = type(X)((X.data, X.indices, X.indptr), shape=X.shape)
        X.check_format(full_check=True)
        X.data, X.indices, X.indptr = (np.ascontiguousarray(a)
                                       for a in (X.data, X.indices, X.indptr))
    status = _native.csr_status(X.indices, X.indptr, X.shape[1])
    if status == _native.CSR_MALFORMED:
        # scipy's message names the problem (indices out of range, indptr
        # decreasing)...
        type(X)((X.data, X.indices, X.indptr), shape=X.shape).check_format(full_check=True)
        # ...but it skips indptr's order when no value is stored, and its own
        # product then reads past the empty arrays
        drops = np.flatnonzero(np.diff(X.indptr) < 0)
        raise ValueError(
            "Malformed CSR matrix: indptr must be non-decreasing"
            + (f"; it decreases after row {drops[0]}." if drops.size else
               f" and every column index within [0, {X.shape[1]}).")
        )
    if status == _native.CSR_UNSORTED and canonical:
        X = X.copy()
        X.sum_duplicates()  # and sorts the indices
    return X
