"""Input checks: nothing malformed or out of range reaches a kernel.

The estimators' data goes through here: scikit-learn's ``validate_data``
(shapes, finiteness, dtypes, feature counts and names), then what the
kernels need beyond it: sound CSR index arrays, in the canonical form the
kernels read. Parameters are checked by the estimators' constraints, and
labels by the classifier, as scikit-learn's SGD does.
"""
import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted, validate_data

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


def training_data(estimator, X, y, reset):
    """X and y for ``fit`` / ``partial_fit``: float32 or float64, C order or canonical CSR.

    ``reset`` starts the estimator's record of the features (``fit``, a
    first ``partial_fit``); otherwise X must match it.
    """
    X, y = validate_data(
        estimator,
        X,
        y,
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        order="C",
        accept_large_sparse=True,
        y_numeric=not is_classifier(estimator),
        reset=reset,
    )
    if sp.issparse(X):
        X = checked_csr(X, canonical=True)
    return X, y


def prediction_data(estimator, X):
    """X for prediction: a fitted model, the features it was fitted on, sound CSR arrays."""
    check_is_fitted(estimator)
    X = validate_data(estimator, X, accept_sparse="csr", reset=False)
    return checked_csr(X) if sp.issparse(X) else X
