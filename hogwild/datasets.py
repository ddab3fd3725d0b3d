"""Generated data that looks like text or click logs: sparse, with power-law columns."""
import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state


def _sparse_design(n_samples, n_features, density, noise, random_state):
    """CSR rows (L2-normalised, column popularity ~ 1/rank^1.1) and a noisy margin."""
    rng = check_random_state(random_state)
    popularity = 1.0 / np.arange(1, n_features + 1) ** 1.1
    popularity /= popularity.sum()
    nnz = rng.poisson(n_features * density, n_samples) + 1
    rows = np.repeat(np.arange(n_samples), nnz)
    cols = rng.choice(n_features, nnz.sum(), p=popularity)
    X = sp.csr_matrix((rng.rand(len(cols)), (rows, cols)), shape=(n_samples, n_features))
    X.sum_duplicates()
    X = normalize(X)
    truth = rng.randn(n_features) * (rng.rand(n_features) < 0.3)
    margin = X @ truth * 5
    margin += noise * margin.std() * rng.randn(n_samples)
    return X, margin


def make_sparse_classification(n_samples=2000, n_features=300, density=0.05, n_classes=2,
                               noise=1.0, random_state=None):
    """A sparse classification problem shaped like bag-of-words text.

    Column ``j`` is drawn with probability proportional to ``1 / (j + 1)^1.1``
    (a power law, as word frequencies are), each row has ``1 + Poisson(n_features
    * density)`` draws with uniform values, rows are L2-normalised, and labels
    cut a sparse linear score plus Gaussian noise into classes of equal size.

    Parameters
    ----------
    n_samples : int, default=2000
    n_features : int, default=300
    density : float, default=0.05
        Mean fraction of columns drawn per row (duplicates merge, so the
        stored density is a little lower).
    n_classes : int, default=2
    noise : float, default=1.0
        Standard deviation of the label noise, relative to the score's.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,), int
        Classes ``0 .. n_classes - 1``.
    """
    X, margin = _sparse_design(n_samples, n_features, density, noise, random_state)
    cuts = np.quantile(margin, np.arange(1, n_classes) / n_classes)
    return X, np.digitize(margin, cuts)


def make_sparse_regression(n_samples=2000, n_features=300, density=0.05, noise=0.3,
                           random_state=None):
    """A sparse regression problem: the rows of :func:`make_sparse_classification`.

    Parameters
    ----------
    n_samples, n_features, density : as in :func:`make_sparse_classification`
    noise : float, default=0.3
        Standard deviation of the target noise, relative to the signal's.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,), float64
    """
    return _sparse_design(n_samples, n_features, density, noise, random_state)
