"""hogwild.dask: distributed fits on LocalClusters on 127.0.0.1, each test bounded in time.

Most tests share one in-process cluster (two workers, module scope); the
kill tests start a cluster of worker processes and SIGKILL one mid-fit.
"""
import os
import signal
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import child_env, make_sparse, objective

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from hogwild import HogwildClassifier, HogwildRegressor  # noqa: E402
from hogwild._threads import resolve_n_jobs  # noqa: E402
from hogwild.dask import (DaskHogwildClassifier, DaskHogwildRegressor,  # noqa: E402
                          read_svmlight_files)

pytestmark = pytest.mark.timeout(180)


def _cluster(processes, n_workers=2):
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                    processes=processes, host="127.0.0.1", protocol="tcp",
                                    dashboard_address=None, worker_dashboard_address=None,
                                    silence_logs=40)


@pytest.fixture(scope="module")
def client():
    with _cluster(processes=False) as cluster, distributed.Client(cluster) as c:
        yield c


def _dask(X, y, rows=500):
    Xd = da.from_array(X, chunks=(rows, X.shape[1]), asarray=False)
    return Xd, da.from_array(np.asarray(y), chunks=rows)


COMMON = dict(loss="log_loss", max_iter=10, tol=None, random_state=0, n_jobs=1)


@pytest.mark.parametrize("sync, staleness", [("average", None), ("ssp", 0), ("ssp", 1),
                                             ("ssp", 3), ("ssp", None)])
def test_objective_near_one_machine(client, sync, staleness):
    X, y = make_sparse(n_samples=4000, seed=1)
    local = HogwildClassifier(**COMMON).fit(X, y)
    est = DaskHogwildClassifier(**COMMON, client=client, sync=sync, staleness=staleness)
    est.fit(*_dask(X, y))
    assert est.n_iter_ == 10
    # within 2% of one machine's objective after the same passes (small data,
    # four partitions: the benchmarks measure the 1% target on real sizes)
    assert objective(est, X, y) < 1.02 * objective(local, X, y)
    assert est.score(X, y) > local.score(X, y) - 0.02


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_average_is_reproducible(client, dense, dtype):
    X, y = make_sparse(n_samples=1500, task="multiclass", seed=2)
    X = X.astype(dtype)
    if dense:
        X = X.toarray()
    fits = [DaskHogwildClassifier(**{**COMMON, "max_iter": 3}, client=client).fit(
        *_dask(X, y)) for _ in range(2)]
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    np.testing.assert_array_equal(fits[0].intercept_, fits[1].intercept_)
    assert fits[0].coef_.dtype == dtype and fits[0].coef_.shape == (4, X.shape[1])
    other = DaskHogwildClassifier(**{**COMMON, "max_iter": 3, "random_state": 1},
                                  client=client).fit(*_dask(X, y))
    assert not np.array_equal(fits[0].coef_, other.coef_)


def test_regressor_and_lazy_predictions(client):
    X, y = make_sparse(n_samples=3000, task="regression", noise=0.3, seed=3)
    Xd, yd = _dask(X, y)
    params = dict(max_iter=15, tol=None, random_state=0, n_jobs=1)
    local = HogwildRegressor(**params).fit(X, y)
    est = DaskHogwildRegressor(**params, client=client).fit(Xd, yd)
    assert objective(est, X, y) < 1.02 * objective(local, X, y)
    lazy = est.predict(Xd)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), est.to_local().predict(X))
    assert isinstance(est.to_local(), HogwildRegressor)
    assert not isinstance(est.to_local(), DaskHogwildRegressor)


def test_classifier_predictions_and_to_local(client):
    X, y = make_sparse(n_samples=2000, task="multiclass", seed=4)
    Xd, yd = _dask(X, y)
    est = DaskHogwildClassifier(**COMMON, client=client).fit(Xd, yd)
    local = est.to_local()
    assert type(local) is HogwildClassifier
    np.testing.assert_array_equal(local.coef_, est.coef_)
    for method, shape in (("decision_function", (2000, 4)), ("predict_proba", (2000, 4)),
                          ("predict", (2000,))):
        lazy = getattr(est, method)(Xd)
        assert isinstance(lazy, da.Array)
        got = lazy.compute()
        assert got.shape == shape
        np.testing.assert_allclose(got, getattr(local, method)(X))
    # local input is predicted eagerly, as by the local estimator
    np.testing.assert_array_equal(est.predict(X), local.predict(X))


def test_dataframe_input(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = make_sparse(n_samples=1200, seed=5)
    frame = pd.DataFrame(X.toarray(), columns=[f"f{i}" for i in range(X.shape[1])])
    frame["label"] = y
    ddf = dd.from_pandas(frame, npartitions=4)
    est = DaskHogwildClassifier(**COMMON, client=client)
    est.fit(ddf.drop(columns="label"), ddf["label"])
    local = HogwildClassifier(**COMMON).fit(X.toarray(), y)
    # dense rows step the intercept in full: a little noisier on 1,200 rows
    assert objective(est, X, y) < 1.03 * objective(local, X, y)
    assert est.predict(ddf.drop(columns="label")).compute().shape == (1200,)


def test_partial_fit_and_stopping(client):
    X, y = make_sparse(n_samples=1500, seed=6)
    Xd, yd = _dask(X, y)
    est = DaskHogwildClassifier(loss="hinge", random_state=0, n_jobs=1, client=client)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(Xd, yd)
    est.partial_fit(Xd, yd, classes=np.array([-1, 1]))
    first = est.coef_.copy()
    est.partial_fit(Xd, yd)
    assert est.n_iter_ == 1 and not np.array_equal(first, est.coef_)
    # tol stops before max_iter, as a local fit does
    est = DaskHogwildClassifier(loss="log_loss", max_iter=200, tol=1e-3, random_state=0,
                                n_jobs=1, client=client).fit(Xd, yd)
    assert est.n_iter_ < 200
    assert len(est.loss_curve_) == est.n_iter_


def test_threads_per_worker_are_passed_to_openmp(client):
    # Dask workers run with OMP_NUM_THREADS=1; n_jobs reaches the kernel anyway
    X, y = make_sparse(n_samples=2000, seed=13)
    est = DaskHogwildClassifier(**{**COMMON, "n_jobs": 2, "max_iter": 2},
                                client=client).fit(*_dask(X, y))
    two = resolve_n_jobs(2)  # 1 in a build without OpenMP
    assert [h["threads"] for h in est.history_] == [[two, two], [two, two]]
    est.set_params(n_jobs=None).fit(*_dask(X, y))
    assert est.history_[0]["threads"] == [1, 1]  # the workers' own thread count


def test_sync_every_fraction_trains_every_row(client):
    X, y = make_sparse(n_samples=1000, seed=7)
    est = DaskHogwildClassifier(**{**COMMON, "max_iter": 3}, sync_every=0.25,
                                client=client).fit(*_dask(X, y, rows=250))
    assert len(est.history_) == 12
    assert sum(h["rows"] for h in est.history_) == 3 * 1000
    assert est.n_iter_ == 3


@pytest.mark.parametrize("staleness", [0, 1, 3])
def test_ssp_bound_from_recorded_clocks(client, staleness):
    X, y = make_sparse(n_samples=2000, seed=8)
    est = DaskHogwildClassifier(**{**COMMON, "max_iter": 12}, sync="ssp",
                                staleness=staleness, sync_every=0.5, client=client)
    est._straggle = {1: 0.02}  # slot 1 sleeps after each clock
    est.fit(*_dask(X, y))
    started = est.history_["started"]
    assert len(started) == 2 * 24  # every slot started every clock once
    ahead = [clock - slowest for _, clock, slowest in started]
    # a slot starts clock c only once the slowest has pushed c - s - 1
    assert max(ahead) <= staleness
    if staleness > 0:
        assert max(ahead) >= 1  # the fast slot did run ahead of the straggler
    assert est.history_["clocks"] == [24, 24]


def test_fully_asynchronous_never_waits(client):
    X, y = make_sparse(n_samples=2000, seed=9)
    est = DaskHogwildClassifier(**{**COMMON, "max_iter": 6}, sync="ssp", staleness=None,
                                client=client)
    est._straggle = {1: 0.05}
    est.fit(*_dask(X, y))
    ahead = [clock - slowest for _, clock, slowest in est.history_["started"]]
    assert max(ahead) >= 2
    assert est.history_["pulls"] == 12  # a pull before every clock


def test_read_svmlight_files(client, tmp_path):
    from sklearn.datasets import dump_svmlight_file

    X, y = make_sparse(n_samples=900, seed=10)
    paths = []
    for i, rows in enumerate(np.array_split(np.arange(900), 3)):
        paths.append(str(tmp_path / f"part{i}.svm"))
        dump_svmlight_file(X[rows], y[rows], paths[-1], zero_based=True)
    Xd, yd = read_svmlight_files(paths, n_features=X.shape[1], zero_based=True)
    assert Xd.numblocks == (3, 1)
    est = DaskHogwildClassifier(**COMMON, client=client).fit(Xd, yd)
    ref = DaskHogwildClassifier(**COMMON, client=client).fit(*_dask(X, y, rows=300))
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    Xw, _ = read_svmlight_files(paths, zero_based=True)  # width found by reading
    assert Xw.shape[1] <= X.shape[1]


def test_bad_input_is_refused_before_training(client):
    import dask

    X, y = make_sparse(n_samples=600, seed=11)
    est = DaskHogwildClassifier(**COMMON, client=client)
    with pytest.raises(TypeError, match="dask array"):
        est.fit(X, y)
    Xd, yd = _dask(X, y, rows=200)
    with pytest.raises(ValueError, match="y has 599 rows and X has 600"):
        est.fit(Xd, yd[:599])
    # mixed chunk types: a CSR block and a dense block
    blocks = [da.from_delayed(dask.delayed(X[:300]), shape=(300, X.shape[1]), dtype=X.dtype,
                              meta=sp.csr_matrix((0, X.shape[1]))),
              da.from_delayed(dask.delayed(X[300:].toarray()), shape=(300, X.shape[1]),
                              dtype=X.dtype, meta=sp.csr_matrix((0, X.shape[1])))]
    with pytest.raises(TypeError, match="mix sparse and dense"):
        est.fit(da.concatenate(blocks), da.from_array(y, chunks=300))

    def broken():
        raise OSError("disk gone")

    unknown = da.from_delayed(dask.delayed(broken)(), shape=(np.nan, X.shape[1]),
                              dtype=X.dtype, meta=sp.csr_matrix((0, X.shape[1])))
    with pytest.raises(ValueError, match="could not|failed"):
        est.fit(unknown, da.from_delayed(dask.delayed(y), shape=(np.nan,), dtype=float))
    bad = X.copy()
    bad.data[-1] = np.nan
    with pytest.raises(ValueError, match="partition 2.*NaN"):
        est.fit(*_dask(bad, y, rows=200))
    one_block = da.from_delayed(dask.delayed(X), shape=(np.nan, X.shape[1]), dtype=X.dtype,
                                meta=sp.csr_matrix((0, X.shape[1])))
    two_blocks = da.concatenate([
        da.from_delayed(dask.delayed(part), shape=(np.nan,), dtype=float)
        for part in (y[:300], y[300:])])
    with pytest.raises(ValueError, match="not aligned"):
        est.fit(one_block, two_blocks)
    assert not hasattr(est, "coef_")  # nothing was fitted
    with pytest.raises(ValueError, match="early_stopping needs sync='average'"):
        DaskHogwildClassifier(early_stopping=True, sync="ssp", client=client).fit(Xd, yd)
    with pytest.raises(ValueError, match="average is not supported"):
        DaskHogwildClassifier(average=True, client=client).fit(Xd, yd)


@pytest.mark.parametrize("classifier", [True, False])
def test_early_stopping_holds_out_rows_and_stops(client, classifier):
    task = "binary" if classifier else "regression"
    X, y = make_sparse(n_samples=2000, task=task, seed=14)
    cls = DaskHogwildClassifier if classifier else DaskHogwildRegressor
    est = cls(early_stopping=True, validation_fraction=0.2, max_iter=300, tol=1e-3,
              n_iter_no_change=3, random_state=0, n_jobs=1, client=client)
    est.fit(*_dask(X, y))
    assert est.n_iter_ < 300
    assert {h["rows"] for h in est.history_} == {1600}  # 20% of each partition held out
    scores = [h["validation_score"] for h in est.history_]
    assert all(0 < score <= 1 for score in scores)
    # each of the last n_iter_no_change scores beat the best before it by less than tol
    assert all(scores[k] < max(scores[:k]) + 1e-3 for k in range(len(scores) - 3,
                                                                len(scores)))
    assert scores[-4] >= max(scores[:-4]) + 1e-3  # and the one before them did


@pytest.mark.parametrize("classifier", [True, False])
def test_validation_score_is_the_estimators_score(classifier):
    from types import SimpleNamespace

    from sklearn.metrics import accuracy_score, r2_score

    from hogwild.dask._worker import prepare, score_from_sums, validation_sums

    task = "multiclass" if classifier else "regression"
    X, y = make_sparse(n_samples=900, task=task, seed=15)
    local_cls = HogwildClassifier if classifier else HogwildRegressor
    est = local_cls(early_stopping=True, validation_fraction=0.3, max_iter=5, tol=None,
                    random_state=0).fit(X, y)
    model = {"coef": est.coef_.reshape(-1, X.shape[1]),
             "intercept": np.asarray(est.intercept_).reshape(-1)}
    parts = [prepare(est, i, X[rows], y[rows], None, np.float64, seed=3)
             for i, rows in enumerate(np.array_split(np.arange(900), 3))]
    plan = SimpleNamespace(estimator=est)
    sums = [validation_sums(plan, [part], model) for part in parts]
    held_X = sp.vstack([part.X[part.val_idx] for part in parts])
    held_y = np.concatenate([part.y[part.val_idx] for part in parts])
    metric = accuracy_score if classifier else r2_score
    assert score_from_sums(sums) == pytest.approx(metric(held_y, est.predict(held_X)))
    assert sum(len(p.val_idx) for p in parts) == 270


def test_embedded_cluster_when_no_client(tmp_path):
    # A fresh interpreter, so that no default client exists: the fit starts a
    # LocalCluster on 127.0.0.1 and closes it.
    import subprocess
    import sys

    script = tmp_path / "embedded.py"
    script.write_text(
        "import numpy as np, dask.array as da, distributed\n"
        "from hogwild.dask import DaskHogwildClassifier\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(400, 5)); y = (X[:, 0] > 0).astype(int)\n"
        "if __name__ == '__main__':\n"
        "    est = DaskHogwildClassifier(max_iter=3, tol=None, n_jobs=1, random_state=0)\n"
        "    est.fit(da.from_array(X, chunks=200), da.from_array(y, chunks=200))\n"
        "    try:\n"
        "        distributed.default_client()\n"
        "        print('left open')\n"
        "    except ValueError:\n"
        "        print('closed', est.score(X, y) > 0.9)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=child_env(), timeout=150)
    assert out.stdout.strip().splitlines()[-1] == "closed True", out.stderr[-2000:]


# ------------------------------------------------------------------ faults
def _kill_later(pid, delay=0.05):
    threading.Timer(delay, os.kill, (pid, signal.SIGKILL)).start()


@pytest.fixture(scope="module")
def process_client():
    with _cluster(processes=True) as cluster, distributed.Client(cluster) as c:
        yield c


def _fault_data():
    X, y = make_sparse(n_samples=6000, seed=12)
    return X, y, _dask(X, y, rows=1000)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sync, victim", [("average", "worker"), ("ssp", "worker"),
                                          ("ssp", "server")])
def test_killed_worker_loses_nothing(process_client, sync, victim, monkeypatch):
    from hogwild.dask import _train

    monkeypatch.setattr(_train, "SNAPSHOT_EVERY", 2)
    client = process_client
    client.wait_for_workers(2, timeout=60)
    X, y, (Xd, yd) = _fault_data()
    params = dict(COMMON, max_iter=12, client=client, sync=sync,
                  staleness=1 if sync == "ssp" else None)
    clean = DaskHogwildClassifier(**params).fit(Xd, yd)
    est = DaskHogwildClassifier(**params)
    if sync == "ssp":
        est._straggle = {0: 0.02, 1: 0.02}  # clocks long enough to kill in the middle
    killed = []

    def kill(clock):
        if killed or clock < 3:
            return
        pids = client.run(os.getpid)
        if victim == "server":
            actors = client.run(lambda dask_worker: len(dask_worker.state.actors))
            address = next(a for a, n in actors.items() if n)
        else:
            actors = client.run(lambda dask_worker: len(dask_worker.state.actors))
            address = next((a for a, n in actors.items() if not n), sorted(pids)[0])
        killed.append(address)
        _kill_later(pids[address])

    est._on_clock = kill
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(Xd, yd)
    assert killed
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any("lost workers" in m for m in messages), messages
    assert est.n_iter_ == 12
    if sync == "average":
        assert sum(h["rows"] for h in est.history_) == 12 * 6000
    else:
        assert est.history_["clocks"] == [12, 12]
    assert objective(est, X, y) < 1.01 * objective(clean, X, y)
    client.wait_for_workers(2, timeout=60)  # the nanny brings the worker back
