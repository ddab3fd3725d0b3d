"""Reading data for a distributed fit: a list of svmlight files, one partition each."""
import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_svmlight_file


def _load(path, n_features, dtype, zero_based):
    X, y = load_svmlight_file(path, n_features=n_features, dtype=dtype, zero_based=zero_based)
    return X.tocsr(), y


def _width(path, zero_based):
    X, _ = load_svmlight_file(path, zero_based=zero_based)
    return X.shape[1]


def read_svmlight_files(paths, n_features=None, dtype=np.float64, zero_based="auto"):
    """X and y from svmlight/libsvm files, one row block per file, read lazily on the workers.

    Parameters
    ----------
    paths : list of str
        The files (each must be readable where the workers run).
    n_features : int, default=None
        Width of X. None reads every file once now (on the workers, with
        ``dask.compute``) to find the widest; give it to skip that pass.
    dtype : {np.float64, np.float32}, default=np.float64
    zero_based : bool or 'auto', default='auto'
        As :func:`sklearn.datasets.load_svmlight_file`; give it when the
        files may disagree (with 'auto', each file decides alone).

    Returns
    -------
    X : dask array of shape (n_samples, n_features)
        CSR blocks; their row counts are unknown until the fit computes them.
    y : dask array of shape (n_samples,)
    """
    import dask
    import dask.array as da

    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("read_svmlight_files needs at least one file.")
    if n_features is None:
        n_features = max(dask.compute(*[dask.delayed(_width)(p, zero_based) for p in paths]))
    loads = [dask.delayed(_load)(p, int(n_features), dtype, zero_based) for p in paths]
    meta = sp.csr_matrix((0, int(n_features)), dtype=dtype)
    X = da.concatenate([da.from_delayed(load[0], shape=(np.nan, int(n_features)),
                                        dtype=dtype, meta=meta) for load in loads])
    y = da.concatenate([da.from_delayed(load[1], shape=(np.nan,), dtype=np.float64)
                        for load in loads])
    return X, y
