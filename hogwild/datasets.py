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


def make_ratings(n_users=1000, n_items=500, n_ratings=20_000, n_components=10, noise=0.5,
                 degree_sigma=1.0, mean=3.6, random_state=None, chunk=1 << 20):
    """Synthetic ratings shaped like Netflix's: power-law activity, low rank, biases, noise.

    User and item activities are lognormal (``sigma=degree_sigma``): a few
    users rate a great deal and a few items are rated by many, so their rows
    are the ones parallel updates collide on. Each pair is drawn with
    probability proportional to its user's and item's activity (repeats
    dropped), and rated ``mean + b_u + c_i + p_u . q_i + noise``, where the
    biases are normal (standard deviations 0.3 and 0.4) and the factors
    normal with a signal of variance 0.5. The best RMSE any model can reach
    is ``noise``.

    Parameters
    ----------
    n_users, n_items : int, default=1000, 500
    n_ratings : int, default=20000
        At most ``n_users * n_items / 2``.
    n_components : int, default=10
        The true rank.
    noise : float, default=0.5
        Standard deviation of the noise: the best RMSE reachable.
    degree_sigma : float, default=1.0
        Spread of the lognormal activities (0: uniform).
    mean : float, default=3.6
    random_state : int, RandomState or None, default=None
    chunk : int, default=2**20
        Ratings computed at a time (bounds the extra memory at the paper's
        100 M ratings).

    Returns
    -------
    X : ndarray of shape (n_ratings, 2), int32
        User and item ids.
    y : ndarray of shape (n_ratings,), float32
        Ratings.
    """
    if n_ratings > n_users * n_items // 2:
        raise ValueError(f"n_ratings={n_ratings} is more than half of the "
                         f"{n_users} x {n_items} pairs.")
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31))
    user_p = rng.lognormal(0.0, degree_sigma, n_users)
    item_p = rng.lognormal(0.0, degree_sigma, n_items)
    user_cdf, item_cdf = np.cumsum(user_p / user_p.sum()), np.cumsum(item_p / item_p.sum())
    keys = np.empty(0, dtype=np.int64)
    while keys.shape[0] < n_ratings:
        draw = int((n_ratings - keys.shape[0]) * 1.2) + 16
        users = np.minimum(np.searchsorted(user_cdf, rng.random(draw)), n_users - 1)
        items = np.minimum(np.searchsorted(item_cdf, rng.random(draw)), n_items - 1)
        keys = np.concatenate([keys, users.astype(np.int64) * n_items + items])
        del users, items
        # sort-based: numpy's hash-based np.unique takes ~1 us a key here
        keys.sort()
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    keys = rng.permutation(keys)[:n_ratings]
    X = np.empty((n_ratings, 2), dtype=np.int32)
    X[:, 0], X[:, 1] = np.divmod(keys, n_items)
    del keys
    scale = np.sqrt(np.sqrt(0.5 / n_components))  # p_u . q_i has variance 0.5
    P = rng.normal(0.0, scale, (n_users, n_components))
    Q = rng.normal(0.0, scale, (n_items, n_components))
    user_bias, item_bias = rng.normal(0.0, 0.3, n_users), rng.normal(0.0, 0.4, n_items)
    y = np.empty(n_ratings, dtype=np.float32)
    for start in range(0, n_ratings, chunk):
        u, i = X[start:start + chunk, 0], X[start:start + chunk, 1]
        y[start:start + chunk] = (mean + user_bias[u] + item_bias[i]
                                  + np.einsum("ij,ij->i", P[u], Q[i])
                                  + rng.normal(0.0, noise, len(u)))
    return X, y
