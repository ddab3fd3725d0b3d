"""The epoch driver's seam: run rows or epochs from a state, report, and the per-chunk hook."""
import numpy as np
import pytest

from hogwild import HogwildClassifier, _native
from hogwild.datasets import make_sparse_classification
from hogwild.linear_model import _epochs
from hogwild.linear_model._epochs import EpochDriver, Schedule, Stopping
from hogwild.linear_model._strategies import KernelRows, Problem, ReplicaEpochs, SharedEpochs


def _setup(strategy="replicas", dtype=np.float64, n_threads=1):
    X, y = make_sparse_classification(600, 80, 0.1, 2, 1.0, 3)
    X = X.astype(dtype)
    est = HogwildClassifier(loss="log_loss", n_jobs=n_threads, random_state=0)
    rows = KernelRows(X)
    schedule = Schedule.make("optimal", 0.01, 0.5, est.alpha, 0.9,
                             _native.LOSSES["log_loss"], 0.1)
    target = np.where(y == 1, 1.0, -1.0).astype(dtype)
    coef, intercept = np.zeros(80, dtype=dtype), np.zeros(1, dtype=dtype)
    prob = Problem(target, np.ones(600, dtype=dtype), coef, intercept)
    params = est._kernel_params(rows, schedule, n_threads, for_partial_fit=False)
    if strategy == "shared":
        strat = SharedEpochs(prob, rows, params, rows.inv_freq(np.arange(600)), 0)
    else:
        strat = ReplicaEpochs(prob, rows, params)
    return X, y, prob, strat, schedule


def test_run_reports_epochs_steps_and_losses():
    X, y, prob, strat, schedule = _setup()
    driver = EpochDriver(strat, np.arange(600), seed=1, shuffle=True, schedule=schedule,
                         stopping=Stopping(tol=None))
    report = driver.run(4, t=1.0)
    assert report.n_epochs == 4 and report.t == 1.0 + 4 * 600
    assert len(report.epoch_losses) == 4 and not report.converged
    # SGD on separable-ish data: the loss goes down from the first epoch
    assert report.epoch_losses[-1] < report.epoch_losses[0]
    assert np.abs(prob.coef).sum() > 0
    driver.close()


@pytest.mark.parametrize("strategy", ["replicas", "shared"])
def test_driver_run_is_the_estimators_fit(strategy):
    """One thread: the driver run by hand trains exactly the model fit trains."""
    X, y, prob, strat, schedule = _setup(strategy)
    est = HogwildClassifier(loss="log_loss", n_jobs=1, max_iter=5, tol=None,
                            strategy=strategy, random_state=0).fit(X, y)
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    driver = EpochDriver(strat, np.arange(600), seed=seed, shuffle=True,
                         schedule=schedule, stopping=Stopping(tol=None))
    driver.run(5, t=1.0)
    np.testing.assert_array_equal(prob.coef, est.coef_.ravel())
    np.testing.assert_array_equal(prob.intercept, est.intercept_)


def test_run_rows_then_more_rows_continues_the_same_sgd():
    """Rows run in two calls from the right steps equal one call over all of them."""
    _, _, prob_a, strat_a, schedule = _setup("shared")
    _, _, prob_b, strat_b, _ = _setup("shared")
    order = np.random.RandomState(5).permutation(600).astype(np.int64)
    kw = dict(seed=0, shuffle=False, schedule=schedule, stopping=Stopping(tol=None))
    EpochDriver(strat_a, order, **kw).run_rows(order, 1.0)
    b = EpochDriver(strat_b, order, **kw)
    loss_1 = b.run_rows(order[:250], 1.0)
    loss_2 = b.run_rows(order[250:], 251.0)
    np.testing.assert_array_equal(prob_a.coef, prob_b.coef)
    assert np.isfinite(loss_1 + loss_2)


def test_hook_sees_every_chunk_and_can_stop(monkeypatch):
    X, y, prob, strat, schedule = _setup()
    monkeypatch.setattr(_epochs, "CHUNK_NNZ", X.nnz // 5)
    seen = []

    class Enough(Exception):
        pass

    def hook(progress):
        seen.append((progress.epoch, progress.rows_done, progress.t))
        if progress.epoch == 1 and progress.rows_done >= 300:
            raise Enough

    driver = EpochDriver(strat, np.arange(600), seed=1, shuffle=True, schedule=schedule,
                         stopping=Stopping(tol=None), on_chunk=hook)
    with pytest.raises(Enough):
        driver.run(10, t=1.0)
    first_epoch = [s for s in seen if s[0] == 0]
    assert len(first_epoch) >= 5  # one call per chunk
    assert first_epoch[-1][1] == 600 and first_epoch[-1][2] == 601.0
    rows_done = [s[1] for s in first_epoch]
    assert rows_done == sorted(rows_done)
    assert seen[-1][0] == 1  # stopped in the second epoch, not later


def test_stopping_rule_converges_and_reports_it():
    X, y, prob, strat, schedule = _setup()
    driver = EpochDriver(strat, np.arange(600), seed=1, shuffle=True, schedule=schedule,
                         stopping=Stopping(tol=10.0, n_iter_no_change=2))
    report = driver.run(50, t=1.0)
    # a tolerance of 10 (in mean loss) stops after n_iter_no_change epochs
    assert report.converged and report.n_epochs == 3


def test_schedule_backoff_and_optimal_t0():
    s = Schedule.make("backoff", 0.5, 0.5, 1e-4, 0.9, _native.LOSSES["hinge"], 0.1)
    assert s.first_eta(0) == 0.5 and s.first_eta(2) == pytest.approx(0.5 * 0.81)
    o = Schedule.make("optimal", 0.01, 0.5, 1e-4, 0.9, _native.LOSSES["hinge"], 0.1)
    # scikit-learn's heuristic: typw = sqrt(1 / sqrt(alpha)), hinge's |dloss| = 1
    typw = np.sqrt(1.0 / np.sqrt(1e-4))
    assert o.optimal_init == pytest.approx(1.0 / (typw * 1e-4))
    assert o.code == _native.SCHEDULES["optimal"]
