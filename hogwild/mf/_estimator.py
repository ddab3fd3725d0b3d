"""``MatrixFactorization``: a scikit-learn regressor on (user, item) pairs, by Hogwild! SGD.

The estimator validates the caller's arrays in place, lays the ratings out
as one compact copy (int32 ids and the ratings in the model's dtype) grouped
into cache-sized blocks of (user range, item range), and runs the epoch
loop in Python: the shuffle of the blocks, the step of each epoch, the
stopping rule, the divergence check and Ctrl-C between kernel calls. The
kernel (``hogwild/_mf.pyx``) trains about a million ratings' worth of
blocks per call, its threads writing the factor rows without locks.
"""
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .. import _mf, _native
from .._threads import note_team_started, resolve_n_jobs
from ..linear_model._epochs import Plateau, epoch_seed

# Ratings a kernel call trains: Python regains control (Ctrl-C) between calls.
CHUNK_RATINGS = 1 << 20
# A block's factor rows (users and items) should fit in this many bytes of
# cache (a core's L2 here): a thread trains a block's ratings in turn, and an
# epoch shuffles the blocks (docs/design.md, "Matrix factorization").
BLOCK_BYTES = 1 << 20
# strategy='rows' cuts the users into at least this many ranges a thread, so
# that splitting whole ranges between threads can balance their ratings.
ROWS_RANGES_PER_THREAD = 8
# With several threads an epoch has at least this many blocks a thread (when the
# ids allow), so that a free block is at hand until the epoch's end.
BLOCKS_PER_THREAD = 16


def _ranges(n_users, n_items, k, itemsize, n_threads, min_user_ranges):
    """Rows a user range and an item range hold, and the number of each.

    Users and items are cut into ranges of at most ``BLOCK_BYTES / 2`` of
    factor rows each, and into at least ``2 n_threads + 1`` ranges, so that
    the conflict-free schedule always finds a free block for every thread
    (LIBMF's rule), users into at least ``min_user_ranges``; a block holds
    the ratings of one user range and one item range.
    """
    row_bytes = k * itemsize + 24  # the factors, bias, AdaGrad sum, alpha
    rows = max(1, (BLOCK_BYTES // 2) // row_bytes)
    least = 2 * n_threads + 1
    user_rows = max(1, min(rows, n_users // max(least, min_user_ranges)))
    item_rows = max(1, min(rows, n_items // least))
    if n_threads > 1 and -(-n_users // user_rows) * -(-n_items // item_rows) < \
            BLOCKS_PER_THREAD * n_threads:
        # too few blocks for the conflict-free schedule to keep every thread busy:
        # cut both dimensions into at least sqrt(BLOCKS_PER_THREAD * threads) ranges
        least = max(least, int(np.ceil(np.sqrt(BLOCKS_PER_THREAD * n_threads))))
        user_rows = max(1, min(user_rows, n_users // least))
        item_rows = max(1, min(item_rows, n_items // least))
    return user_rows, item_rows, -(-n_users // user_rows), -(-n_items // item_rows)


def _owners(load, n_threads):
    """A thread for each user range, balancing their ratings: the largest range first,
    each to the thread with the fewest so far (the 'rows' schedule's split)."""
    owner, totals = np.zeros(load.shape[0], dtype=np.int64), np.zeros(n_threads)
    for r in np.argsort(-load, kind="stable"):
        owner[r] = np.argmin(totals)
        totals[owner[r]] += load[r]
    return owner


def _layout(users, items, ratings, keep, n_users, n_items, dtype, k, seed, n_threads=1,
            min_user_ranges=1):
    """One compact copy of the kept ratings, grouped into cache-sized blocks.

    Read in place from the caller's columns by a counting sort (the
    kernel's ``mf_count`` and ``mf_scatter``): int32 ids and the ratings in
    ``dtype``, block after block, each block in a shuffled order. Returns
    the ids and ratings, each non-empty block's start (``starts[-1]`` is the
    number of ratings), its (user range, item range, owning thread for
    'rows'), and the users' and items' degrees (their numbers of kept
    ratings).
    """
    user_rows, item_rows, n_user_ranges, n_item_ranges = _ranges(
        n_users, n_items, k, dtype.itemsize, n_threads, min_user_ranges)
    counts = np.zeros(n_user_ranges * n_item_ranges, dtype=np.int64)
    user_degree = np.zeros(n_users, dtype=np.int64)
    item_degree = np.zeros(n_items, dtype=np.int64)
    # in slices of CHUNK_RATINGS, so that Ctrl-C is seen between them
    slices = [slice(lo, lo + CHUNK_RATINGS) for lo in range(0, ratings.shape[0], CHUNK_RATINGS)]
    for part in slices:
        _mf.mf_count(users[part], items[part], keep[part], user_rows, item_rows, n_item_ranges,
                     counts, user_degree, item_degree)
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n = int(bounds[-1])
    out = (np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, dtype))
    fill = bounds[:-1].copy()
    for part in slices:
        _mf.mf_scatter(users[part], items[part], ratings[part], keep[part], user_rows, item_rows,
                       n_item_ranges, fill, *out)
    first, seed = 0, epoch_seed(seed, (1 << 31) - 1)
    while first < counts.shape[0]:  # blocks of about CHUNK_RATINGS ratings at a time
        last = max(first + 1, int(np.searchsorted(bounds, bounds[first] + CHUNK_RATINGS,
                                                  side="right")) - 1)
        _mf.mf_shuffle_blocks(bounds, first, last, seed, *out, n_threads=n_threads)
        first = last
    cells = np.flatnonzero(counts)
    starts = np.append(bounds[cells], n).astype(np.int64)
    user_range, item_range = np.divmod(cells, n_item_ranges)
    owner = _owners(counts.reshape(n_user_ranges, n_item_ranges).sum(axis=1), n_threads)
    grid = np.ascontiguousarray(np.column_stack([user_range, item_range, owner[user_range]]),
                                dtype=np.int64)
    return (*out, starts, grid, user_degree, item_degree)


SCHEDULES = {"blocks": _mf.SCHEDULE_BLOCKS, "hogwild": _mf.SCHEDULE_HOGWILD,
             "rows": _mf.SCHEDULE_ROWS}


def _sized(counts, n):
    """``counts`` cut or padded with zeros to length ``n``."""
    return counts[:n] if counts.shape[0] >= n else np.append(counts, np.zeros(n - counts.shape[0],
                                                                             counts.dtype))


LOSSES = {"squared_error": "squared_error", "log_loss": "log_loss",
          "absolute_error": "epsilon_insensitive"}


def _ids(X, name="X"):
    """``(users, items)`` from an (n, 2) array or two-column DataFrame, checked.

    int32 and int64 ids come back as views of the caller's columns (no
    copy: at the paper's 100 M ratings a copy of the ids is 800 MB); other
    integer or integral float ids are converted to int64.
    """
    if hasattr(X, "iloc"):
        if X.shape[1] != 2:
            raise ValueError(f"{name} must have two columns (user, item); got {X.shape[1]}.")
        columns = [np.asarray(X.iloc[:, c].to_numpy()) for c in (0, 1)]
    else:
        X = np.asarray(X)
        if X.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} must hold integer ids.")
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"{name} must be an (n, 2) array of user and item ids; got "
                             f"shape {X.shape}.")
        columns = [X[:, 0], X[:, 1]]
    if columns[0].shape[0] == 0:
        raise ValueError(f"{name} is empty: no (user, item) pairs.")
    out = []
    for ids in columns:
        if ids.dtype.kind not in "iuf" or ids.dtype == bool:
            raise ValueError(f"{name} must hold integer ids; got dtype {ids.dtype}.")
        if ids.dtype.kind == "f":
            if not np.isfinite(ids).all():
                raise ValueError(f"{name} holds NaN or infinite ids.")
            if not np.array_equal(ids, np.round(ids)):
                raise ValueError(f"{name} holds non-integer ids (e.g. "
                                 f"{ids[ids != np.round(ids)][0]}).")
        low, high = ids.min(), ids.max()
        if low < 0:
            raise ValueError(f"{name} holds negative ids (e.g. {low}); ids are 0, 1, 2, ...")
        if high >= np.iinfo(np.int32).max:
            raise ValueError(f"{name} holds ids of 2**31 or more; renumber them from 0.")
        if ids.dtype not in (np.int32, np.int64) or not ids.dtype.isnative:
            ids = ids.astype(np.int64)
        out.append(ids)
    if out[0].dtype != out[1].dtype:  # the kernel reads both in one integer type
        out = [ids.astype(np.int64, copy=False) for ids in out]
    return tuple(out)


class MatrixFactorization(RegressorMixin, BaseEstimator):
    """Low-rank matrix factorization of ratings, trained by lock-free parallel SGD.

    Predicts the rating of item ``i`` by user ``u`` as ``intercept_ +
    user_bias_[u] + item_bias_[i] + user_factors_[u] @ item_factors_[i]``,
    fitted to (user, item) pairs and their ratings: the HOGWILD! paper's
    Netflix experiment as a scikit-learn regressor, so ``train_test_split``,
    ``cross_val_score`` and ``GridSearchCV`` (``scoring=
    "neg_root_mean_squared_error"``) work unchanged.

    Parameters
    ----------
    n_components : int, default=10
        Rank ``k`` of the factors.
    alpha : float, default=0.1
        L2 strength on factors and biases (chosen on MovieLens:
        docs/matrix-factorization.md).
    alpha_scaling : {'none', 'degree'}, default='none'
        'degree': each row's strength is ``alpha`` times the mean number of
        ratings per row over the row's own, so rows with few ratings are
        held closer to zero (the paper's weighting, per step).
    fit_intercept : bool, default=True
        Fit the global mean and user and item biases.
    loss : {'squared_error', 'log_loss', 'absolute_error'}, default='squared_error'
        'log_loss' takes ratings of -1 and +1 (binary feedback).
    learning_rate : {'adagrad', 'constant', 'backoff'}, default='adagrad'
        'adagrad': per-row AdaGrad steps, as LIBMF; 'backoff': ``eta0``
        times ``backoff`` per epoch, as the Hogwild! paper.
    eta0 : float, default=0.1
    backoff : float, default=0.9
    max_iter : int, default=20
        Epochs.
    tol : float or None, default=None
        Stop when the epoch's training loss (with ``early_stopping``, the
        held-out error) has not improved by ``tol`` (a mean per rating) for
        ``n_iter_no_change`` epochs.
    n_iter_no_change : int, default=3
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the ratings (not trained on) and
        watch their error after each epoch: RMSE for squared error, the mean
        absolute error, or the mean log loss (``validation_loss_``).
    validation_fraction : float, default=0.1
    n_jobs : int, default=None
        OpenMP threads, as the linear estimators count them.
    random_state : int, RandomState or None, default=None
        Seeds the initial factors and the shuffles.
    dtype : {np.float32, np.float64}, default=np.float32
    init_std : float, default=0.01
        Standard deviation of the initial factors: a small start generalises
        better at larger k (measured in docs/matrix-factorization.md).
    cold_start : {'mean', 'nan', 'raise'}, default='mean'
        A user or item beyond the fitted ids at predict: the prediction
        without its bias and factors, NaN, or an error.
    strategy : {'blocks', 'hogwild', 'rows'}, default='blocks'
        How threads share the ratings, grouped in cache-sized blocks of
        (user range, item range): 'blocks' never trains two blocks that
        share a range at once (FPSGD's schedule: no two threads write one
        row); 'hogwild' lets threads take any block, writing shared rows
        without locks (the HOGWILD! paper's updates); 'rows' gives each
        thread its own user ranges (one writer a user row; item rows shared
        without locks).
    verbose : int, default=0

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, n_components)
    item_factors_ : ndarray of shape (n_items, n_components)
    user_bias_, item_bias_ : ndarray of shape (n_users,), (n_items,)
    intercept_ : float
    n_iter_ : int
    loss_curve_ : list of float
        Mean training loss of each epoch (measured before each step).
    validation_loss_ : list of float
        With ``early_stopping``: the held-out error after each epoch.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "alpha_scaling": [StrOptions({"none", "degree"})],
        "fit_intercept": ["boolean"],
        "loss": [StrOptions(set(LOSSES))],
        "learning_rate": [StrOptions({"adagrad", "constant", "backoff"})],
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "backoff": [Interval(Real, 0, 1, closed="right")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_jobs": [Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "dtype": "no_validation",
        "init_std": [Interval(Real, 0, None, closed="left")],
        "cold_start": [StrOptions({"mean", "nan", "raise"})],
        "strategy": [StrOptions(set(SCHEDULES))],
        "verbose": ["verbose"],
    }

    # Called as ``hook(estimator)`` after each epoch of a fit, the epoch's model
    # published: how ``hogwild bench mf`` scores test RMSE against time without
    # refitting (its time is the caller's to subtract).
    _epoch_hook = None

    def __init__(self, n_components=10, *, alpha=0.1, alpha_scaling="none",
                 fit_intercept=True, loss="squared_error", learning_rate="adagrad", eta0=0.1,
                 backoff=0.9, max_iter=20, tol=None, n_iter_no_change=3, early_stopping=False,
                 validation_fraction=0.1, n_jobs=None,
                 random_state=None, dtype=np.float32, init_std=0.01, cold_start="mean",
                 strategy="blocks", verbose=0):
        self.n_components = n_components
        self.alpha = alpha
        self.alpha_scaling = alpha_scaling
        self.fit_intercept = fit_intercept
        self.loss = loss
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.backoff = backoff
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.dtype = dtype
        self.init_std = init_std
        self.cold_start = cold_start
        self.strategy = strategy
        self.verbose = verbose

    # ------------------------------------------------------------ input
    def _dtype(self):
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be np.float32 or np.float64; got {self.dtype!r}.")
        return dtype

    def _ratings(self, X, y):
        """``(users, items, ratings)`` from pairs and ratings, or a sparse users x items matrix.

        Float ratings and int32/int64 ids are the caller's own arrays (views,
        no copy): the layout reads them in place.
        """
        if sp.issparse(X):
            if y is not None:
                raise ValueError("With a sparse ratings matrix, y must be None: the "
                                 "matrix's stored values are the ratings.")
            coo = X.tocoo()
            if coo.nnz == 0:
                raise ValueError("The ratings matrix stores no ratings.")
            users, items, ratings = coo.row, coo.col, coo.data
            if users.dtype != items.dtype:
                users, items = users.astype(np.int64), items.astype(np.int64)
        else:
            if y is None:
                raise ValueError("y (the ratings) is required with (user, item) pairs.")
            users, items = _ids(X)
            ratings = np.asarray(y)
            if ratings.ndim == 2 and ratings.shape[1] == 1:
                warnings.warn("A column-vector y was passed when a 1d array was expected. "
                              "Please change the shape of y to (n_samples,), for example "
                              "using ravel().", DataConversionWarning, stacklevel=3)
                ratings = ratings[:, 0]
            if ratings.ndim != 1:
                raise ValueError(f"y must be one rating a pair (1-d); got shape "
                                 f"{ratings.shape}.")
            if ratings.shape[0] != users.shape[0]:
                raise ValueError(f"X has {users.shape[0]} pairs but y has {ratings.shape[0]} "
                                 "ratings.")
        if ratings.dtype.kind == "c":
            raise ValueError("Complex data not supported: y must hold real ratings.")
        if ratings.dtype.kind not in "iuf" or ratings.dtype == bool:
            raise ValueError(f"y must hold numbers; got dtype {ratings.dtype}.")
        if ratings.dtype not in (np.float32, np.float64) or not ratings.dtype.isnative:
            ratings = ratings.astype(self._dtype())
        if not np.isfinite(ratings).all():
            bad = np.flatnonzero(~np.isfinite(ratings))[0]
            raise ValueError(f"y holds NaN or infinite ratings (e.g. at position {bad}).")
        if self.loss == "log_loss" and not np.isin(ratings, (-1.0, 1.0)).all():
            raise ValueError("loss='log_loss' takes ratings of -1 and +1 (binary feedback).")
        return users, items, ratings

    # ------------------------------------------------------------- model
    def _alpha_rows(self, user_degree, item_degree):
        if self.alpha_scaling == "none":  # one strength for every row
            return np.full(1, float(self.alpha)), np.full(1, float(self.alpha))
        out = []
        for degree in (user_degree, item_degree):
            degree = degree.astype(np.float64)
            mean_degree = degree[degree > 0].mean()
            out.append(self.alpha * mean_degree / np.maximum(degree, 1.0))
        return tuple(out)

    def _grow(self, n_users, n_items, rng):
        """Model rows for ids up to ``n_users``/``n_items``: new rows random, old kept."""
        dtype, k = self._dtype(), self.n_components
        for name, n in (("user", n_users), ("item", n_items)):
            factors = getattr(self, f"_{name}_factors", None)
            old = 0 if factors is None else factors.shape[0]
            if n <= old:
                continue
            grown = np.empty((n, k), dtype=dtype)
            grown[:old] = factors if factors is not None else 0
            # drawn in place in the model's dtype (NumPy's ziggurat: a fraction of the
            # legacy generator's time, which was most of a small fit's set-up)
            rng.standard_normal(out=grown[old:], dtype=dtype)
            grown[old:] *= dtype.type(self.init_std)
            setattr(self, f"_{name}_factors", grown)
            for part, fill, part_dtype in (("bias", 0, dtype), ("g", 1, np.float64),
                                           ("count", 0, np.int64)):
                before = getattr(self, f"_{name}_{part}", np.zeros(0, dtype=part_dtype))
                setattr(self, f"_{name}_{part}",
                        np.concatenate([before, np.full(n - old, fill, part_dtype)]))

    def _trained(self, users, items):
        """Which pairs have both ids fitted and trained on (rows never rated are cold)."""
        known = (users < self.n_users_) & (items < self.n_items_)
        u, i = np.where(known, users, 0), np.where(known, items, 0)
        return known & (self._user_count[u] > 0) & (self._item_count[i] > 0)

    def _publish(self):
        self.user_factors_, self.item_factors_ = self._user_factors, self._item_factors
        self.user_bias_, self.item_bias_ = self._user_bias, self._item_bias
        self.n_users_, self.n_items_ = self._user_factors.shape[0], self._item_factors.shape[0]

    # ---------------------------------------------------------- training
    def _holdout(self, users, items, ratings, for_partial_fit):
        """``(keep, validation)``: early stopping's split as a mask of the ratings to
        train on and a copy of the held-out triples; else an empty mask (all) and None."""
        everything = np.zeros(0, dtype=np.uint8)
        if not self.early_stopping or for_partial_fit:
            return everything, None
        from sklearn.model_selection import train_test_split

        n = ratings.shape[0]
        if n < 2:
            raise ValueError("early_stopping needs at least two ratings.")
        _, held = train_test_split(np.arange(n), test_size=self.validation_fraction,
                                   random_state=self.random_state)
        keep = np.ones(n, dtype=np.uint8)
        keep[held] = 0
        return keep, (users[held], items[held], ratings[held])

    def _validation_loss(self, validation):
        users, items, ratings = validation
        known = self._trained(users, items)
        users, items, ratings = users[known], items[known], ratings[known]
        if not len(ratings):
            return np.inf
        pred = np.empty(len(ratings))
        _mf.mf_predict(users, items, self.intercept_, self._user_factors, self._item_factors,
                       self._user_bias, self._item_bias, pred, resolve_n_jobs(self.n_jobs))
        error = pred - ratings
        if self.loss == "squared_error":
            return float(np.sqrt(np.mean(error ** 2)))
        if self.loss == "absolute_error":
            return float(np.mean(np.abs(error)))
        return float(np.mean(np.logaddexp(0.0, -ratings * pred)))

    def _train(self, users, items, ratings, max_iter, first, for_partial_fit=False):
        rng = check_random_state(self.random_state)
        given = users, items
        keep, validation = self._holdout(users, items, ratings, for_partial_fit)
        if first:
            for name in ("_user_factors", "_item_factors", "_user_bias", "_item_bias",
                         "_user_g", "_item_g", "_user_count", "_item_count",
                         "_seen_indptr", "_seen_items"):
                self.__dict__.pop(name, None)
            self.intercept_ = 0.0
            if self.fit_intercept and self.loss != "log_loss":
                total = float(ratings.sum(dtype=np.float64))
                if validation is not None:
                    total -= float(validation[2].sum(dtype=np.float64))
                self.intercept_ = total / (ratings.shape[0] - (
                    0 if validation is None else validation[2].shape[0]))
            self._epochs_done = 0
            self.loss_curve_ = []
            self.validation_loss_ = []
        n_threads = resolve_n_jobs(self.n_jobs)
        if n_threads > 1:
            note_team_started()
        seed = int(rng.randint(np.iinfo(np.int32).max))
        dtype = self._dtype()
        users, items, ratings, starts, grid, user_degree, item_degree = _layout(
            users, items, ratings, keep, int(users.max()) + 1, int(items.max()) + 1, dtype,
            self.n_components, seed, n_threads,
            # 'rows' splits whole user ranges between threads: enough of them to balance
            min_user_ranges=ROWS_RANGES_PER_THREAD * n_threads if self.strategy == "rows" else 1)
        # the model's rows: the ids trained on (held-out ones stay cold) and the old ones
        n_users = max(int(np.flatnonzero(user_degree)[-1]) + 1, getattr(self, "n_users_", 0))
        n_items = max(int(np.flatnonzero(item_degree)[-1]) + 1, getattr(self, "n_items_", 0))
        self._grow(n_users, n_items, np.random.default_rng(seed))
        user_degree, item_degree = _sized(user_degree, n_users), _sized(item_degree, n_items)
        self._user_count += user_degree
        self._item_count += item_degree
        user_alpha, item_alpha = self._alpha_rows(user_degree, item_degree)
        params = _mf.MFParams(loss=_native.LOSSES[LOSSES[self.loss]], epsilon=0.0,
                              eta=self.eta0, mean=self.intercept_,
                              fit_intercept=bool(self.fit_intercept),
                              adagrad=self.learning_rate == "adagrad", n_threads=n_threads,
                              schedule=SCHEDULES[self.strategy])
        blocks = np.arange(starts.shape[0] - 1, dtype=np.int64)
        taken = np.zeros(blocks.shape[0], dtype=np.uint8)
        if validation is not None:
            plateau = Plateau(self.tol, self.n_iter_no_change)
        else:
            plateau = Plateau(None if self.tol is None else self.tol * ratings.shape[0],
                              self.n_iter_no_change)
        start = time.time()
        n_iter = 0
        for epoch in range(max_iter):
            _native.shuffle(blocks, epoch_seed(seed, epoch))
            if self.learning_rate == "backoff":
                params.eta = self.eta0 * self.backoff ** (self._epochs_done + epoch)
            sumloss, trained = 0.0, 0
            taken[:] = 0
            while trained < ratings.shape[0]:  # about CHUNK_RATINGS a call: Ctrl-C between
                loss, n = _mf.mf_epoch(
                    users, items, ratings, starts, blocks, taken, CHUNK_RATINGS, grid, params,
                    self._user_factors, self._item_factors, self._user_bias, self._item_bias,
                    user_alpha, item_alpha, self._user_g, self._item_g)
                sumloss, trained = sumloss + loss, trained + n
                if n == 0:  # no block left (only empty ones were)
                    break
            n_iter = epoch + 1
            if not (np.isfinite(sumloss) and np.isfinite(self._user_factors).all()
                    and np.isfinite(self._item_factors).all()):
                raise ValueError(
                    f"The factors diverged (overflow) at epoch {epoch + 1}: use a smaller "
                    "eta0, a larger alpha, or learning_rate='adagrad'.")
            self.loss_curve_.append(sumloss / ratings.shape[0])
            watched = sumloss
            if validation is not None:
                self.n_users_, self.n_items_ = n_users, n_items
                watched = self._validation_loss(validation)
                self.validation_loss_.append(watched)
            if self._epoch_hook is not None:  # the benchmark's probe (bench/, not public)
                self._publish()
                self._epoch_hook(self)
            if self.verbose:
                print(f"-- Epoch {epoch + 1}: mean loss {self.loss_curve_[-1]:.6f}"
                      + (f", held-out {watched:.6f}" if validation is not None else "")
                      + f", {time.time() - start:.2f} s")
            if plateau.update(watched):
                break
        self.n_iter_ = n_iter
        self._epochs_done += n_iter
        del users, items, ratings  # the layout, before the pattern of seen pairs is built
        self._remember_seen(*given)
        self._publish()
        return n_iter

    def _remember_seen(self, users, items):
        """Add the pairs to the items each user rated (CSR ``indptr`` and items).

        What ``recommend(exclude_seen=True)`` leaves out: 4 bytes a rating,
        grouped by user in the kernel (``mf_group``), the old pattern first.
        """
        old_indptr = getattr(self, "_seen_indptr", np.zeros(1, dtype=np.int64))
        old_items = getattr(self, "_seen_items", np.zeros(0, dtype=np.int32))
        n = max(int(users.max()) + 1, old_indptr.shape[0] - 1)
        counts = _sized(np.diff(old_indptr), n)
        for lo in range(0, users.shape[0], CHUNK_RATINGS):  # no id-sized temporary
            counts += np.bincount(users[lo:lo + CHUNK_RATINGS], minlength=n)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        seen, fill, none = np.empty(indptr[-1], dtype=np.int32), indptr[:-1].copy(), \
            np.zeros(0, dtype=np.uint8)
        old_users = np.repeat(np.arange(old_indptr.shape[0] - 1, dtype=np.int32),
                              np.diff(old_indptr))
        _mf.mf_group(old_users, old_items, none, fill, seen)
        for lo in range(0, users.shape[0], CHUNK_RATINGS):
            _mf.mf_group(users[lo:lo + CHUNK_RATINGS], items[lo:lo + CHUNK_RATINGS], none,
                         fill, seen)
        self._seen_indptr, self._seen_items = indptr, seen

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the factors to the ratings.

        Parameters
        ----------
        X : array-like of shape (n_ratings, 2), DataFrame, or sparse matrix
            User and item ids (non-negative integers), one pair a rating; or
            a sparse (n_users, n_items) matrix whose stored values are the
            ratings (then ``y=None``). A repeated pair counts as two
            ratings: the model fits their mean.
        y : array-like of shape (n_ratings,), default=None
            The ratings.

        Returns
        -------
        self : object
        """
        saved = self.__dict__.copy()
        try:
            users, items, ratings = self._ratings(X, y)
            self.n_features_in_ = 2
            for name in ("n_users_", "n_items_"):
                self.__dict__.pop(name, None)
            self._train(users, items, ratings, self.max_iter, first=True)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        if self.tol is not None and self.n_iter_ == self.max_iter and self.max_iter > 1:
            warnings.warn("Maximum number of iteration reached before convergence. "
                          "Consider increasing max_iter to improve the fit.",
                          ConvergenceWarning)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One epoch over new ratings, from the current model (new ids get new rows)."""
        saved = self.__dict__.copy()
        try:
            users, items, ratings = self._ratings(X, y)
            first = not hasattr(self, "user_factors_")
            if first:
                self.n_features_in_ = 2
            self._train(users, items, ratings, 1, first=first, for_partial_fit=True)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        return self

    # -------------------------------------------------------- prediction
    def predict(self, X):
        """Predicted ratings of (user, item) pairs.

        Parameters
        ----------
        X : array-like of shape (n_pairs, 2) or DataFrame

        Returns
        -------
        y : ndarray of shape (n_pairs,)
            Ratings; a pair with an id beyond the fitted ones, or one that had
            no ratings in training, follows ``cold_start``.
        """
        check_is_fitted(self)
        users, items = _ids(X)
        known = self._trained(users, items)
        if not known.all() and self.cold_start == "raise":
            bad = np.flatnonzero(~known)[0]
            raise ValueError(
                f"Pair {bad} ({users[bad]}, {items[bad]}) has a user or item not trained on "
                f"(beyond the fitted {self.n_users_} user and {self.n_items_} item ids, or "
                "without ratings; cold_start='raise').")
        out = np.empty(users.shape[0], dtype=np.float64)
        u, i = np.where(known, users, 0), np.where(known, items, 0)
        _mf.mf_predict(u.astype(np.int32), i.astype(np.int32), self.intercept_,
                       self.user_factors_, self.item_factors_, self.user_bias_,
                       self.item_bias_, out, resolve_n_jobs(self.n_jobs))
        if not known.all():
            if self.cold_start == "nan":
                out[~known] = np.nan
            else:  # the mean, and whichever bias is known
                ub = np.where(users < self.n_users_,
                              self.user_bias_[np.minimum(users, self.n_users_ - 1)], 0.0)
                ib = np.where(items < self.n_items_,
                              self.item_bias_[np.minimum(items, self.n_items_ - 1)], 0.0)
                out[~known] = (self.intercept_ + ub + ib)[~known]
        return out  # with log_loss, a score whose sign is the predicted feedback

    def recommend(self, users, n=10, exclude_seen=True, exclude=None):
        """The ``n`` items of highest predicted rating for each user.

        Parameters
        ----------
        users : array-like of int
            Fitted user ids.
        n : int, default=10
        exclude_seen : bool, default=True
            Leave out the items each user rated in ``fit`` and ``partial_fit``.
        exclude : sparse matrix of shape (n_users, n_items) or array of pairs, default=None
            Further (user, item) pairs not to recommend.

        Returns
        -------
        items : ndarray of shape (len(users), n), int
        scores : ndarray of shape (len(users), n)
            Highest first; a user with fewer than ``n`` items left gets the
            left-out ones last, scored ``-inf``.
        """
        check_is_fitted(self)
        users = np.asarray(users)
        if users.dtype.kind not in "iu":
            raise ValueError(f"users must be integer ids; got dtype {users.dtype}.")
        users = users.astype(np.int64).reshape(-1)
        if users.size and (users.min() < 0 or users.max() >= self.n_users_):
            raise ValueError(f"users must be fitted ids, 0 to {self.n_users_ - 1}.")
        n = min(int(n), self.n_items_)
        if n < 1:
            raise ValueError(f"n must be at least 1; got {n}.")
        # rows never trained keep their random start: such a user is scored by the
        # biases alone, and such an item is never recommended
        user_rows = self.user_factors_[users].astype(np.float64)
        user_rows[self._user_count[users] == 0] = 0.0
        scores = (user_rows @ self.item_factors_.T
                  + self.item_bias_ + self.user_bias_[users][:, None] + self.intercept_)
        scores[:, self._item_count == 0] = -np.inf
        if exclude_seen:
            lo, counts = self._seen_indptr[users], np.diff(self._seen_indptr)[users]
            which = np.repeat(np.arange(users.shape[0]), counts)  # each seen pair's row
            cols = self._seen_items[np.arange(which.shape[0])
                                    + np.repeat(lo - (np.cumsum(counts) - counts), counts)]
            known = cols < self.n_items_  # an item only held out for early stopping
            scores[which[known], cols[known]] = -np.inf
        if exclude is not None:
            if not sp.issparse(exclude):
                eu, ei = _ids(exclude, "exclude")
                exclude = sp.csr_matrix((np.ones(eu.shape[0]), (eu, ei)),
                                        shape=(max(self.n_users_, eu.max() + 1),
                                               max(self.n_items_, ei.max() + 1)))
            rows = exclude.tocsr()[users][:, :self.n_items_]
            scores[rows.nonzero()] = -np.inf
        top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
        part = np.take_along_axis(scores, top, axis=1)
        rank = np.argsort(-part, axis=1, kind="stable")
        return np.take_along_axis(top, rank, axis=1), np.take_along_axis(part, rank, axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True  # ids are 0, 1, 2, ...
        tags.target_tags.required = False  # a sparse ratings matrix carries its own y
        tags.non_deterministic = self.n_jobs != 1
        return tags
