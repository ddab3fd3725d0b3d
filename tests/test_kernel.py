"""The native kernels called directly: losses, shuffle, column statistics, epochs, merges.

Every test that calls ``hogwild._core`` or ``hogwild._native`` itself lives
here (the CSR check's property test, with its generator, is in
``test_fuzz.py``); the estimators' tests only drive them through ``fit``.
Kernel arguments are built by :func:`kernel_params` and the state classes,
as the strategies build them.
"""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import needs_openmp
from scipy.optimize import approx_fprime

from hogwild import _core, _native
from hogwild._losses import LOSSES, loss_values
from hogwild.linear_model._epochs import epoch_seed

ALL_LOSSES = sorted(_native.LOSSES)


def kernel_params(loss, **fields):
    """An ``SGDParams`` for ``loss`` (a name), the other fields as given or default."""
    return _core.SGDParams(loss=_native.LOSSES[loss], **fields)


def test_params_are_typed_fields_with_defaults():
    p = kernel_params("log_loss", eta=0.5, n_threads=3)
    assert (p.loss, p.eta, p.n_threads, p.l2) == (_native.LOSSES["log_loss"], 0.5, 3, 0.0)
    p.eta = 0.25
    assert p.eta == 0.25
    assert pickle.loads(pickle.dumps(p)).eta == 0.25
    with pytest.raises(TypeError, match="no field 'etaa'"):
        _core.SGDParams(etaa=1.0)
    with pytest.raises(AttributeError):
        p.nonsense = 1
    with pytest.raises(TypeError):
        _core.SGDParams(n_threads="two")


def test_native_loss_names_match_the_python_list():
    assert sorted(_native.LOSSES) == sorted(LOSSES)


@pytest.mark.parametrize("loss", ALL_LOSSES)
def test_numpy_losses_match_the_kernels(loss):
    # _losses.loss_values judges models in tests, CLI and bench: it must be the
    # kernels' loss (log_loss's tails differ by exp(-18) at most)
    rng = np.random.RandomState(1)
    p = 10 * rng.randn(500)
    y = rng.choice([-1.0, 1.0], 500) if loss in _native.LOSSES and _native.LOSSES[loss] <= 4 \
        else rng.randn(500)
    native, _ = _native.loss_and_derivative(_native.LOSSES[loss], p, y, 0.1)
    np.testing.assert_allclose(loss_values(loss, p, y, 0.1), native, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shared_epoch_one_thread_is_sequential_sgd(dtype):
    # squared error, constant step, no penalty: w += -eta (w.x + b - y) x, row by row
    rng = np.random.RandomState(0)
    X = sp.random(30, 12, density=0.3, format="csr", random_state=rng, dtype=dtype)
    y = rng.randn(30).astype(dtype)
    order = rng.permutation(30).astype(np.int64)
    coef, intercept = np.zeros(12, dtype), np.zeros(1, dtype)
    state = _core.SharedState(coef, intercept, np.ones(12, dtype))
    params = kernel_params("squared_error", eta=0.1)
    total = _core.sgd_epoch(X.data, X.indices, X.indptr, y, np.ones(30, dtype), order, 1.0,
                            params, state)
    w, b, expected = np.zeros(12), 0.0, 0.0
    for i in order:
        x = X[i].toarray().ravel().astype(np.float64)
        p = w @ x + b
        expected += 0.5 * (p - y[i]) ** 2
        w -= 0.1 * (p - y[i]) * x
        b -= 0.1 * (p - y[i])
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(coef, w, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(intercept[0], b, rtol=rtol, atol=rtol)
    assert total == pytest.approx(expected, rel=rtol)


def test_shared_epoch_keeps_the_l1_total_between_calls():
    # the lazy cumulative penalty: after each call, l1 * the sum of the steps
    rng = np.random.RandomState(0)
    X = sp.random(40, 10, density=0.4, format="csr", random_state=rng)
    y = np.sign(rng.randn(40))
    state = _core.SharedState(np.zeros(10), np.zeros(1), np.ones(10), l1=True)
    params = kernel_params("hinge", schedule=_native.SCHEDULES["invscaling"], eta=0.5,
                           power_t=0.5, l1=0.01)
    order = np.arange(40, dtype=np.int64)
    for t in (1.0, 41.0):
        _core.sgd_epoch(X.data, X.indices, X.indptr, y, np.ones(40), order, t, params, state)
    steps = 0.5 / np.arange(1, 81) ** 0.5
    assert state.l1_total == pytest.approx(0.01 * steps.sum(), rel=1e-12)
    assert np.all(np.abs(state.l1_received) <= state.l1_total + 1e-12)


def test_replica_epoch_with_one_thread_folds_the_scale_into_the_model():
    # a team of one trains the model itself (scaled: exact L2) and leaves
    # the true weights in it, whatever the replica's scale was
    rng = np.random.RandomState(2)
    X = sp.random(50, 8, density=0.5, format="csr", random_state=rng)
    y = np.sign(rng.randn(50))
    coef = np.zeros(8)
    state = _core.ReplicaState(coef, np.zeros(1), coef[np.newaxis, :], np.zeros(0))
    params = kernel_params("log_loss", eta=0.2, l2=0.05)
    order = np.arange(50, dtype=np.int64)
    _core.sgd_epoch_replicas(X.data, X.indices, X.indptr, y, np.ones(50), order, 1.0,
                             params, state)
    assert state.team == 1
    # scikit-learn's sequential SGD with exact L2, in NumPy
    w, b = np.zeros(8), 0.0
    for i in order:
        x = X[i].toarray().ravel()
        p = w @ x + b
        g = -y[i] / (np.exp(y[i] * p) + 1.0)
        w *= 1.0 - 0.2 * 0.05
        w -= 0.2 * g * x
        b -= 0.2 * g
    np.testing.assert_allclose(coef, w, rtol=1e-10, atol=1e-12)
    assert state.thread(0)["scale"] == pytest.approx((1.0 - 0.2 * 0.05) ** 50)


@pytest.mark.parametrize("loss", ALL_LOSSES)
def test_loss_derivative_matches_finite_differences(loss):
    code = _native.LOSSES[loss]
    rng = np.random.RandomState(0)
    y = rng.choice([-1.0, 1.0], 200) if code <= 4 else rng.randn(200)
    p = 3 * rng.randn(200)
    # stay clear of the kinks, where the derivative is one-sided
    kinks = {"hinge": [1], "perceptron": [0], "modified_huber": [1, -1], "squared_hinge": [1]}
    keep = np.ones(len(p), bool)
    for k in kinks.get(loss, []):
        keep &= np.abs(p * y - k) > 1e-3
    if loss in ("huber", "epsilon_insensitive", "squared_epsilon_insensitive"):
        keep &= np.abs(np.abs(p - y) - 0.1) > 1e-3
    p, y = p[keep], y[keep]
    _, dloss = _native.loss_and_derivative(code, p, y, 0.1)
    for pi, yi, gi in zip(p, y, dloss):
        num = approx_fprime(
            np.array([pi]),
            lambda q: _native.loss_and_derivative(code, q, np.array([yi]), 0.1)[0][0],
            1e-7,
        )[0]
        assert gi == pytest.approx(num, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_mean_square_for_the_replica_merge(dtype, binary_data):
    # the merge's saturation estimate: mean x_u^2 over all rows, or over
    # every k-th row when there are more than max_rows
    X = binary_data[0].astype(dtype)
    dense = X.toarray()
    full = (dense.astype(np.float64) ** 2).mean(axis=0)
    for args in ((X.data, X.indices, X.indptr), (dense.ravel(), X.indices[:0], X.indptr[:0])):
        np.testing.assert_allclose(
            _core.column_mean_square(*args, X.shape[1], max_rows=X.shape[0]), full, rtol=1e-5)
        sampled = _core.column_mean_square(*args, X.shape[1], max_rows=100)
        step = -(-X.shape[0] // 100)
        np.testing.assert_allclose(sampled, (dense[::step].astype(np.float64) ** 2).mean(0),
                                   rtol=1e-5)
        out = np.full(X.shape[1], np.nan)  # overwritten, not added to
        assert _core.column_mean_square(*args, X.shape[1], max_rows=100, out=out) is out
        np.testing.assert_array_equal(out, sampled)
        with pytest.raises(ValueError, match="out has 3 entries"):
            _core.column_mean_square(*args, X.shape[1], out=np.zeros(3))


def test_native_shuffle_is_a_seeded_uniform_permutation():
    # the epochs' row order: a permutation, the same for the same seed, and
    # every permutation equally likely (chi-square over the 24 orders of 4 rows)
    from scipy.stats import chisquare

    order = np.arange(10_000, dtype=np.int64)
    _native.shuffle(order, 12345)
    assert np.array_equal(np.sort(order), np.arange(10_000))
    assert not np.array_equal(order, np.arange(10_000))
    again = np.arange(10_000, dtype=np.int64)
    _native.shuffle(again, 12345)
    assert np.array_equal(order, again)
    other = np.arange(10_000, dtype=np.int64)
    _native.shuffle(other, 12346)
    assert not np.array_equal(order, other)
    counts = {}
    for seed in range(24_000):
        small = np.arange(4, dtype=np.int64)
        _native.shuffle(small, seed)
        counts[tuple(small)] = counts.get(tuple(small), 0) + 1
    assert len(counts) == 24
    assert chisquare(list(counts.values())).pvalue > 1e-3
    # each position takes each row equally often too (no position bias)
    first = np.zeros(4)
    for perm, c in counts.items():
        first[perm[0]] += c
    assert chisquare(first).pvalue > 1e-3
    for n in (0, 1):  # nothing to shuffle
        tiny = np.arange(n, dtype=np.int64)
        _native.shuffle(tiny, 7)
        assert np.array_equal(tiny, np.arange(n))


def test_epoch_seeds_give_each_epoch_and_problem_its_own_order():
    # a fit's epochs (and one-vs-rest problems) shuffle with epoch_seed(seed,
    # epoch): successive epochs, and problems with nearby seeds, must not share
    # or shift one order, and every order stays equally likely
    from scipy.stats import chisquare


    def order(seed, epoch, n=4):
        o = np.arange(n, dtype=np.int64)
        _native.shuffle(o, epoch_seed(seed, epoch))
        return o

    big = [order(s, e, 1000) for s in (7, 8) for e in range(3)]
    for i in range(len(big)):
        for j in range(i):
            assert not np.array_equal(big[i], big[j])
            assert not np.array_equal(big[i][1:], big[j][:-1])  # not one draw apart
    for orders in ([order(3, e) for e in range(24_000)],
                   [order(s, 0) for s in range(24_000)]):
        counts = {}
        for o in orders:
            counts[tuple(o)] = counts.get(tuple(o), 0) + 1
        assert len(counts) == 24
        assert chisquare(list(counts.values())).pvalue > 1e-3


def _kept_share(s):
    # the kernel's stand-in for exp(-s): 1 / (1 + s + s^2/2 + s^3/6)
    return 1.0 / (1.0 + s + s ** 2 / 2 + s ** 3 / 6)


@needs_openmp
@pytest.mark.parametrize("team", [2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_replica_merge_weighs_each_change_by_what_the_others_leave(team, dtype):
    # one row per replica, one merge: replica r's change c_r to coordinate u
    # enters the model with weight mean(rho_r**k, k < team), rho_r the mean
    # kept share of the OTHER replicas, kept = 1 / (1 + s + s^2/2 + s^3/6),
    # s = curvature x the replica's summed steps x mean x_u^2. Under
    # invscaling each position has its own step, so each replica its own
    # kept share. Teams of two take their own code in the kernel.
    rng = np.random.RandomState(team)
    n = 9
    X = rng.uniform(0.5, 1.5, size=(team, n)) * (rng.uniform(size=(team, n)) < 0.7)
    X[:, 0] = 1.0  # a column every replica touches
    X = sp.csr_matrix(X.astype(dtype))
    y = rng.normal(size=team).astype(dtype)
    sw = np.ones(team, dtype)
    coef = rng.normal(size=n).astype(dtype)
    start = coef.astype(np.float64)
    col_sq = rng.uniform(0.0, 2.0, size=n)
    col_sq[1] = 0.0  # a column the sample missed: changes add up whole
    eta0, power_t, curvature = 0.3, 0.5, 1.0
    eta = eta0 / np.arange(1, team + 1) ** power_t  # position k steps at t = 1 + k
    replicas = np.tile(coef, (team, 1))
    params = kernel_params("squared_error", schedule=_native.SCHEDULES["invscaling"],
                           eta=eta0, power_t=power_t, curvature=curvature,
                           fit_intercept=False, n_threads=team, sync_rows=team)
    state = _core.ReplicaState(coef, np.zeros(1, dtype), replicas, col_sq)
    _core.sgd_epoch_replicas(X.data, X.indices, X.indptr, y, sw,
                             np.arange(team, dtype=np.int64), 1.0, params, state)
    if state.team != team:
        pytest.skip(f"OpenMP gave a team of {state.team}, not {team}")
    Xd = X.toarray().astype(np.float64)
    changes = np.array([-eta[r] * (Xd[r] @ start - y[r]) * Xd[r] for r in range(team)])
    kept = np.array([_kept_share(curvature * eta[r] * col_sq) for r in range(team)])
    expected = start.copy()
    for r in range(team):
        rho = (kept.sum(axis=0) - kept[r]) / (team - 1)
        expected += np.mean([rho ** k for k in range(team)], axis=0) * changes[r]
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(coef, expected, rtol=rtol, atol=rtol)
    # the column the sample missed keeps every change whole
    np.testing.assert_allclose(coef[1], start[1] + changes[:, 1].sum(), rtol=rtol, atol=rtol)
    # neither the sum of the changes nor their mean, where columns are seen
    seen = col_sq > 0.1
    for wrong in (start + changes.sum(axis=0), start + changes.mean(axis=0)):
        assert np.abs(coef - wrong)[seen].max() > 1e-3
    for r in range(team):  # every replica restarts from the model
        np.testing.assert_array_equal(replicas[r], coef)
