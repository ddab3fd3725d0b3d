"""Reliability: bad input, odd but valid input, interrupts, threads, memory, fork."""
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import big_csr, interrupt_child, make_sparse, needs_openmp

from hogwild import HogwildClassifier, HogwildRegressor, _core
from hogwild.linear_model import _epochs

ESTIMATORS = [HogwildClassifier, HogwildRegressor]
FAST = dict(max_iter=3, tol=None, random_state=0)


def _data(task="binary", **kw):
    return make_sparse(n_samples=400, n_features=60, density=0.1, task=task, **kw)


@pytest.fixture
def no_kernel(monkeypatch):
    """Make any call into the native loops fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("bad input reached the native loop")

    for name in ("sgd_epoch", "sgd_epoch_replicas"):
        monkeypatch.setattr(_core, name, refuse)


# ----------------------------------------------------------------- bad input
def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


def _csr_with(X, **arrays):
    """A CSR matrix over X's arrays with some of them replaced, unchecked."""
    M = X.copy()
    for name, value in arrays.items():
        setattr(M, name, value)
    return M


X0, Y0 = _data()
D0 = X0.toarray()
BAD_FIT_INPUT = {
    "nan in X": (lambda: (_with(D0, (0, 0), np.nan), Y0, None), "NaN"),
    "inf in X": (lambda: (_with(D0, (0, 0), np.inf), Y0, None), "infinity"),
    "nan in sparse X": (lambda: (_csr_with(X0, data=_with(X0.data, 3, np.nan)), Y0, None),
                        "NaN"),
    "nan in sample_weight": (lambda: (X0, Y0, _with(np.ones(400), 5, np.nan)), "NaN"),
    "inf in sample_weight": (lambda: (X0, Y0, _with(np.ones(400), 5, np.inf)), "infinity"),
    "negative sample_weight": (lambda: (X0, Y0, _with(np.ones(400), 5, -1.0)), "Negative values"),
    "sample_weight length": (lambda: (X0, Y0, np.ones(399)), "sample_weight"),
    "X and y lengths": (lambda: (X0, Y0[:-1], None), "inconsistent numbers of samples"),
    "empty X": (lambda: (np.empty((0, 5)), np.empty(0), None), "0 sample"),
    "zero features": (lambda: (np.empty((400, 0)), Y0, None), "0 feature"),
    "3-D X": (lambda: (D0[:, :, None], Y0, None), "dim 3"),
    "complex X": (lambda: (D0 + 1j, Y0, None), "Complex data not supported"),
    "negative column index": (
        lambda: (_csr_with(X0, indices=_with(X0.indices, 0, -1)), Y0, None), "indices must be >= 0"),
    "column index >= n_features": (
        lambda: (_csr_with(X0, indices=_with(X0.indices, 0, 60)), Y0, None), "indices must be <"),
    "indptr not monotone": (
        lambda: (_csr_with(X0, indptr=_with(X0.indptr, 5, X0.indptr[7])), Y0, None),
        "non-decreasing"),
    "indptr ends before nnz": (
        lambda: (_csr_with(X0, indptr=_with(X0.indptr, -1, X0.indptr[-1] - 1)), Y0, None),
        "Malformed CSR"),
    "indptr ends after nnz": (
        lambda: (_csr_with(X0, indptr=_with(X0.indptr, -1, X0.indptr[-1] + 9)), Y0, None),
        "Malformed CSR"),
    "indptr too short": (lambda: (_csr_with(X0, indptr=X0.indptr[:-1]), Y0, None), "indptr"),
}


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("case", BAD_FIT_INPUT, ids=list(BAD_FIT_INPUT))
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_input_raises_before_the_native_loop(Est, case, method, no_kernel):
    make, match = BAD_FIT_INPUT[case]
    X, y, sample_weight = make()
    est = Est(**FAST)
    kwargs = {"sample_weight": sample_weight}
    if method == "partial_fit" and Est is HogwildClassifier:
        kwargs["classes"] = np.array([-1, 1])
    with pytest.raises((ValueError, TypeError), match=match):
        getattr(est, method)(X, y, **kwargs)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("y, match", [
    (np.ones(400), "greater than one"),
    (np.c_[Y0, Y0], "1d array"),
    (np.linspace(0, 1, 400), "Unknown label type"),
    (_with(Y0.astype(float), 0, np.nan), "NaN"),
])
def test_bad_classifier_targets(y, match, no_kernel):
    with pytest.raises(ValueError, match=match):
        HogwildClassifier(**FAST).fit(X0, y)


def test_bad_regression_targets(no_kernel):
    y = make_sparse(n_samples=400, n_features=60, task="regression")[1]
    with pytest.raises(ValueError, match="NaN"):
        HogwildRegressor(**FAST).fit(X0, _with(y, 3, np.nan))
    with pytest.raises(ValueError, match="infinity"):
        HogwildRegressor(**FAST).fit(X0, _with(y, 3, np.inf))


@pytest.mark.parametrize("params, match", [
    ({"loss": "nope"}, "'loss' parameter"),
    ({"penalty": "l3"}, "'penalty' parameter"),
    ({"alpha": -1.0}, "'alpha' parameter"),
    ({"n_jobs": 0}, "'n_jobs' parameter"),
    ({"n_jobs": 1.5}, "'n_jobs' parameter"),
    ({"n_jobs": "2"}, "'n_jobs' parameter"),
    ({"learning_rate": "constant", "eta0": -0.1}, "'eta0' parameter"),
    ({"learning_rate": "constant", "eta0": 0.0}, "'eta0' parameter"),
    ({"max_iter": 0}, "'max_iter' parameter"),
    ({"strategy": "locks"}, "'strategy' parameter"),
])
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_bad_parameters(Est, params, match, no_kernel):
    if Est is HogwildRegressor and params.get("loss"):
        params = {"loss": "hinge"}  # a classification loss is wrong here
        match = "'loss' parameter"
    y = Y0.astype(float)
    with pytest.raises((ValueError, TypeError), match=match):
        Est(**params).fit(X0, y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_bad_prediction_input(Est):
    est = Est(**FAST)
    with pytest.raises(ValueError, match="not fitted"):
        est.predict(X0)
    est.fit(X0, Y0)
    with pytest.raises(ValueError, match="features"):
        est.predict(D0[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        est.predict(_with(D0, (1, 1), np.nan))
    # out-of-range indices would make scipy's product read past coef_
    with pytest.raises(ValueError, match="indices must be <"):
        est.predict(_csr_with(X0, indices=_with(X0.indices, 0, 10**6)))
    with pytest.raises(ValueError, match="Malformed CSR"):
        est.predict(_csr_with(X0, indptr=_with(X0.indptr, -1, X0.indptr[-1] + 1)))
    # no value stored and indptr decreasing: scipy's check_format passes it,
    # and its product read past the empty arrays (a segfault until now)
    empty = sp.csr_matrix((np.ones(0), np.zeros(0, np.int32), np.r_[0, 1, np.zeros(
        X0.shape[0] - 1, np.int32)].astype(np.int32)), shape=X0.shape)
    with pytest.raises(ValueError, match="indptr must be non-decreasing; it decreases after row 1"):
        est.predict(empty)


# ------------------------------------------------------ odd but valid input
def _unsorted_with_duplicates(X):
    """X's rows with indices reversed and every value split into two halves."""
    rows, cols = X.nonzero()
    vals = np.asarray(X[rows, cols]).ravel()
    order = np.lexsort((-cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    rows, cols, vals = np.repeat(rows, 2), np.repeat(cols, 2), np.repeat(vals / 2, 2)
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=X.shape[0]))]
    return sp.csr_matrix((vals, cols, indptr), shape=X.shape)


def _memmapped(tmp_path, array):
    path = tmp_path / f"a{len(list(tmp_path.iterdir()))}.npy"
    np.save(path, array)
    return np.load(path, mmap_mode="r")


def _read_only(array):
    array = array.copy()
    array.flags.writeable = False
    return array


VARIANTS = {
    # name: (X variant from canonical CSR X, its canonical form)
    "unsorted and duplicate indices": (_unsorted_with_duplicates, lambda X: X),
    "int64 indices": (lambda X: sp.csr_matrix(
        (X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)), shape=X.shape),
        lambda X: X),
    "csr_array": (sp.csr_array, lambda X: X),
    "coo": (sp.coo_matrix, lambda X: X),
    "csc": (sp.csc_matrix, lambda X: X),
    "read-only CSR": (lambda X: sp.csr_matrix(
        (_read_only(X.data), _read_only(X.indices), _read_only(X.indptr)), shape=X.shape),
        lambda X: X),
    "read-only dense": (lambda X: _read_only(X.toarray()), lambda X: X.toarray()),
    "fortran dense": (lambda X: np.asfortranarray(X.toarray()), lambda X: X.toarray()),
    "non-contiguous dense": (lambda X: np.repeat(X.toarray(), 2, axis=1)[:, ::2],
                             lambda X: X.toarray()),
    "integer dense": (lambda X: (X.toarray() * 4).round().astype(np.int64),
                      lambda X: (X.toarray() * 4).round()),
    "all-zero rows": (lambda X: sp.vstack([X, sp.csr_matrix((7, X.shape[1]))]).tocsr(),
                      lambda X: np.vstack([X.toarray(), np.zeros((7, X.shape[1]))])),
}


def _snapshot(X):
    if sp.issparse(X):
        return {name: getattr(X, name).copy() for name in ("data", "indices", "indptr", "row",
                                                           "col") if hasattr(X, name)}
    return {"X": np.array(X, copy=True)}


def _assert_untouched(X, snapshot):
    now = _snapshot(X)
    assert now.keys() == snapshot.keys()
    for name in snapshot:
        assert now[name].dtype == snapshot[name].dtype
        np.testing.assert_array_equal(now[name], snapshot[name])


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("variant", VARIANTS, ids=list(VARIANTS))
def test_valid_variants_match_their_canonical_form(Est, variant):
    make, canonical = VARIANTS[variant]
    X, y = _data("regression" if Est is HogwildRegressor else "binary")
    Xv, Xc = make(X), canonical(X)
    if variant == "all-zero rows":
        y = np.r_[y, y[:7]]
    yc = y.copy()
    before = _snapshot(Xv)
    # no intercept: scikit-learn damps its step on sparse input only
    params = dict(FAST, n_jobs=1, fit_intercept=False)
    a = Est(**params).fit(Xv, y)
    b = Est(**params).fit(Xc, yc)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12, atol=1e-14)
    # predictions to rounding: BLAS sums a Fortran-ordered X in another order
    score = "predict" if Est is HogwildRegressor else "decision_function"
    np.testing.assert_allclose(getattr(a, score)(Xv), getattr(b, score)(Xc),
                               rtol=1e-10, atol=1e-12)
    _assert_untouched(Xv, before)
    np.testing.assert_array_equal(y, yc)


def test_memory_mapped_input(tmp_path):
    X, y = _data()
    Xm = sp.csr_matrix((_memmapped(tmp_path, X.data), _memmapped(tmp_path, X.indices),
                        _memmapped(tmp_path, X.indptr)), shape=X.shape)
    Dm = _memmapped(tmp_path, X.toarray())
    ym = _memmapped(tmp_path, y)
    params = dict(FAST, n_jobs=1, fit_intercept=False)
    reference = HogwildClassifier(**params).fit(X, y).coef_
    for Xv in (Xm, Dm):
        np.testing.assert_allclose(HogwildClassifier(**params).fit(Xv, ym).coef_, reference,
                                   rtol=1e-12, atol=1e-14)


def test_string_labels_match_integer_labels():
    X, y = _data()
    names = np.where(y == 1, "spam", "ham").astype(object)
    a = HogwildClassifier(**FAST, n_jobs=1).fit(X, names)
    b = HogwildClassifier(**FAST, n_jobs=1).fit(X, np.where(y == 1, 1, 0))
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert set(a.predict(X)) <= {"spam", "ham"}
    np.testing.assert_array_equal(a.predict(X) == "spam", b.predict(X) == 1)


# ---------------------------------------------------------------- divergence
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_divergence_keeps_the_previous_model(method):
    X, y = make_sparse(n_samples=400, n_features=60, task="regression")
    reg = HogwildRegressor(**FAST).fit(X, y)
    before = pickle.dumps(reg)
    reg.set_params(learning_rate="constant", eta0=1e6)
    with pytest.raises(ValueError, match="smaller eta0"):
        getattr(reg, method)(X * 1e150, y)
    reg.set_params(**FAST, learning_rate="invscaling", eta0=0.01)
    assert pickle.dumps(reg) == before
    assert np.isfinite(reg.predict(X)).all()


# ------------------------------------------------------------------ Ctrl-C
SIGINT_CHILD = textwrap.dedent("""
    import pickle, sys
    import numpy as np
    from hogwild import HogwildClassifier
    from hogwild.datasets import make_sparse_classification
    n_classes, n_jobs, method = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    X, y = make_sparse_classification(20000, 2000, 0.01, n_classes, 1.0, 0)
    est = HogwildClassifier(n_jobs=n_jobs, max_iter=2, tol=None, random_state=0).fit(X, y)
    last = pickle.dumps(est)
    est.set_params(max_iter=10**6)
    print("fitting", flush=True)
    try:
        if method == "fit":
            est.fit(X, y)
        else:
            while True:
                est.partial_fit(X, y)
                last = pickle.dumps(est)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        if method == "fit":
            est.set_params(max_iter=2)
        now = pickle.dumps(est)
        if now == last:
            print("as before the call", flush=True)
        else:
            # the signal may land after a partial_fit returned and before
            # `last` was taken: then the state is that call's (deterministic)
            redo = pickle.loads(last).partial_fit(X, y)
            same = method == "partial_fit" and pickle.dumps(redo) == now
            print("one more call completed" if same else "changed", est.t_, flush=True)
""")


@pytest.mark.parametrize("n_classes, n_jobs, method", [
    (2, 2, "fit"), (4, 2, "fit"), (4, 1, "fit"), (2, 2, "partial_fit"), (4, 2, "partial_fit"),
])
def test_ctrl_c_returns_within_a_second_and_keeps_the_model(n_classes, n_jobs, method,
                                                             tmp_path):
    script = tmp_path / "child.py"
    script.write_text(SIGINT_CHILD)
    first, latency, rest = interrupt_child(script, (n_classes, n_jobs, method))
    assert first == "interrupted"
    assert latency < 1.0
    assert rest.startswith(("as before the call", "one more call completed")), rest


def test_chunked_epochs_equal_whole_epochs(monkeypatch):
    # Ctrl-C works because an epoch is cut into kernel calls; with one thread
    # on the shared buffer the cuts change nothing at all.
    X, y = _data()
    params = dict(FAST, n_jobs=1, strategy="shared", penalty="elasticnet", average=2)
    whole = HogwildClassifier(**params).fit(X, y)
    calls = []
    real = _core.sgd_epoch

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(_core, "sgd_epoch", counting)
    monkeypatch.setattr(_epochs, "CHUNK_NNZ", X.nnz // 5)
    cut = HogwildClassifier(**params).fit(X, y)
    assert len(calls) >= 5 * params["max_iter"]
    np.testing.assert_allclose(cut.coef_, whole.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cut.intercept_, whole.intercept_, rtol=1e-10)
    # replicas: each cut is one more merge; the model learns as well (means
    # over seeds: one seed's accuracy moves by a point or two either way)
    X, y = make_sparse()

    def accuracy(chunk):
        monkeypatch.setattr(_epochs, "CHUNK_NNZ", chunk)
        return np.mean([HogwildClassifier(n_jobs=2, max_iter=10, tol=None, random_state=seed)
                        .fit(X, y).score(X, y) for seed in range(5)])

    assert abs(accuracy(X.nnz // 20) - accuracy(10**9)) < 0.015


# ------------------------------------------------------------- concurrency
@pytest.mark.parametrize("n_jobs", [1, pytest.param(2, marks=needs_openmp)])
def test_python_threads_fitting_separate_estimators(n_jobs):
    jobs = [(HogwildClassifier, _data(seed=s)) for s in range(3)]
    jobs += [(HogwildRegressor, _data("regression", seed=s)) for s in range(3)]
    params = dict(max_iter=20, tol=None, random_state=0, n_jobs=n_jobs)  # replicas: reproducible
    alone = [Est(**params).fit(X, y).coef_ for Est, (X, y) in jobs]
    together = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def work(k):
        Est, (X, y) = jobs[k]
        barrier.wait()
        together[k] = Est(**params).fit(X, y).coef_

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


def test_predict_from_many_threads_on_one_estimator():
    X, y = make_sparse(n_samples=2000, n_features=300, task="multiclass")
    est = HogwildClassifier(loss="log_loss", **FAST).fit(X, y)
    expected = (est.predict(X), est.predict_proba(X))
    results = []
    barrier = threading.Barrier(8)

    def work():
        barrier.wait()
        for _ in range(20):
            results.append((est.predict(X), est.predict_proba(X)))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 160
    for labels, proba in results:
        np.testing.assert_array_equal(labels, expected[0])
        np.testing.assert_array_equal(proba, expected[1])


# ------------------------------------------------------------------ memory
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strategy", ["replicas", "shared"])
def test_fit_does_not_copy_X(dtype, strategy):
    X, y = big_csr(dtype)
    size = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    est = HogwildClassifier(max_iter=2, tol=None, n_jobs=2, strategy=strategy)
    tracemalloc.start()
    try:
        est.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # what remains is O(rows + features): targets, weights, a row order
    assert peak < 0.25 * size, (peak, size)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_fit_peak_rss_is_well_under_X(tmp_path):
    code = textwrap.dedent("""
        import sys, numpy as np
        sys.path.insert(0, sys.argv[1])
        from _helpers import big_csr
        from hogwild import HogwildClassifier
        def status(key):
            for line in open("/proc/self/status"):
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        X, y = big_csr(np.float64)
        size = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
        HogwildClassifier(max_iter=1, tol=None, n_jobs=2).fit(X[:100], y[:100])  # warm up
        rss = status("VmRSS:")
        open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM)
        HogwildClassifier(max_iter=2, tol=None, n_jobs=2).fit(X, y)
        fit_extra = status("VmHWM:") - rss
        rss = status("VmRSS:")
        open("/proc/self/clear_refs", "w").write("5")
        Z = X.copy()  # the control: what a copy of X costs, measured the same way
        print(fit_extra, status("VmHWM:") - rss, size)
    """)
    # Large blocks straight from mmap and back: otherwise glibc recycles the
    # memory freed while X was made, and even a copy of X would not show.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)],
                         capture_output=True, text=True, check=True, cwd=tmp_path, env=env)
    fit_extra, copy_extra, size = map(int, out.stdout.split())
    assert copy_extra > 0.9 * size, (copy_extra, size)
    assert fit_extra < 0.25 * size, (fit_extra, size)


def test_multiclass_predict_does_not_copy_coef():
    rng = np.random.default_rng(0)
    n_features = 200_000
    X = sp.random(300, n_features, density=0.001, format="csr", random_state=0)
    y = rng.integers(0, 10, size=300)
    est = HogwildClassifier(**FAST).fit(X, y)
    assert est.coef_.nbytes == 10 * n_features * 8
    for predict in (est.predict, est.decision_function):
        tracemalloc.start()
        try:
            predict(X)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 0.1 * est.coef_.nbytes, (peak, est.coef_.nbytes)


# -------------------------------------------------------------------- fork
FORK_CHILD = textwrap.dedent("""
    import multiprocessing as mp, warnings
    import numpy as np
    from hogwild import HogwildClassifier
    from hogwild.datasets import make_sparse_classification
    X, y = make_sparse_classification(4000, 500, 0.05, 2, 1.0, 0)
    params = dict(max_iter=5, tol=None, random_state=0)
    HogwildClassifier(n_jobs=2, **params).fit(X, y)  # the parent has run a team
    def child(q):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            coef = HogwildClassifier(n_jobs=2, **params).fit(X, y).coef_
        q.put((coef, [str(w.message) for w in seen]))
    q = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=child, args=(q,))
    p.start()
    coef, messages = q.get(timeout=60)
    p.join(timeout=60)
    one_thread = HogwildClassifier(n_jobs=1, **params).fit(X, y).coef_
    print(p.exitcode, np.array_equal(coef, one_thread),
          any("forked" in m for m in messages))
""")


@needs_openmp  # a serial build has no thread pool
@pytest.mark.skipif(sys.platform != "linux", reason="fork start method on Linux")
def test_fit_in_a_forked_child_after_threads_completes(tmp_path):
    # GNU libgomp hangs in a forked child whose parent ran a team of threads:
    # the child trains on one thread instead, with a warning.
    out = subprocess.run([sys.executable, "-c", FORK_CHILD], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "True", "True"]


def test_no_warning_when_nothing_forked():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        HogwildClassifier(n_jobs=2, **FAST).fit(X, y)
