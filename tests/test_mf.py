"""MatrixFactorization: what it learns, its input checks, and scikit-learn's tools on it."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split

from _helpers import child_env, interrupt_child

from hogwild import MatrixFactorization
from hogwild.datasets import make_ratings


@pytest.fixture(scope="module")
def ratings():
    return make_ratings(n_users=600, n_items=300, n_ratings=40_000, n_components=5,
                        noise=0.3, random_state=0)


def rmse(model, X, y):
    return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


def test_make_ratings_is_seeded_and_shaped():
    X, y = make_ratings(n_users=200, n_items=100, n_ratings=3000, random_state=1)
    X2, y2 = make_ratings(n_users=200, n_items=100, n_ratings=3000, random_state=1)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert X.dtype == np.int32 and y.dtype == np.float32 and X.shape == (3000, 2)
    keys = X[:, 0].astype(np.int64) * 100 + X[:, 1]
    assert np.unique(keys).size == 3000  # no repeated pair
    # power-law activity: the busiest user rates far more than the median one
    counts = np.bincount(X[:, 0])
    assert counts.max() > 4 * np.median(counts)
    with pytest.raises(ValueError, match="more than half"):
        make_ratings(n_users=10, n_items=10, n_ratings=60)


@pytest.mark.parametrize("learning_rate, eta0", [("adagrad", 0.1), ("constant", 0.01),
                                                 ("backoff", 0.02)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_learns_the_low_rank_signal(ratings, learning_rate, eta0, dtype):
    X, y = ratings
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    model = MatrixFactorization(n_components=5, alpha=0.02, learning_rate=learning_rate,
                                eta0=eta0, max_iter=30, n_jobs=1, random_state=0,
                                dtype=dtype).fit(X_train, y_train)
    baseline = float(np.std(y_test))  # predicting the mean
    assert rmse(model, X_test, y_test) < 0.75 * baseline
    assert model.user_factors_.dtype == dtype and model.user_factors_.shape[1] == 5
    assert len(model.loss_curve_) == model.n_iter_ == 30
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_one_thread_is_reproducible(ratings):
    X, y = ratings
    fits = [MatrixFactorization(5, max_iter=5, n_jobs=1, random_state=3).fit(X, y)
            for _ in range(2)]
    np.testing.assert_array_equal(fits[0].user_factors_, fits[1].user_factors_)
    np.testing.assert_array_equal(fits[0].item_bias_, fits[1].item_bias_)


@pytest.mark.parametrize("strategy", ["blocks", "hogwild", "rows"])
def test_threads_learn_as_well(ratings, strategy):
    # k above the data's rank (5): with k equal to it some fits, on any number of
    # threads, sit on a saddle (a direction not yet grown) for tens of epochs
    X, y = ratings
    one = MatrixFactorization(8, max_iter=25, n_jobs=1, random_state=3).fit(X, y)
    two = MatrixFactorization(8, max_iter=25, n_jobs=2, random_state=3,
                              strategy=strategy).fit(X, y)
    assert rmse(two, X, y) < 1.02 * rmse(one, X, y)


def test_sparse_matrix_input_equals_pairs(ratings):
    X, y = ratings
    R = sp.csr_matrix((y, (X[:, 0], X[:, 1])))
    # the matrix's ratings are its stored values, row by row: the same model
    # as the pairs given in that order
    by_row = np.lexsort((X[:, 1], X[:, 0]))
    from_matrix = MatrixFactorization(5, max_iter=4, n_jobs=1, random_state=0).fit(R)
    from_pairs = MatrixFactorization(5, max_iter=4, n_jobs=1, random_state=0).fit(
        X[by_row], y[by_row])
    np.testing.assert_array_equal(from_matrix.user_factors_, from_pairs.user_factors_)
    np.testing.assert_array_equal(from_matrix.item_bias_, from_pairs.item_bias_)
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"user": X[:, 0], "item": X[:, 1]})
    from_frame = MatrixFactorization(5, max_iter=4, n_jobs=1, random_state=0).fit(frame, y)
    from_array = MatrixFactorization(5, max_iter=4, n_jobs=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(from_frame.user_factors_, from_array.user_factors_)


def test_scikit_learn_tools(ratings):
    X, y = ratings
    X, y = X[:10_000], y[:10_000]
    scores = cross_val_score(MatrixFactorization(5, max_iter=5, n_jobs=1, random_state=0), X, y,
                             cv=3, scoring="neg_root_mean_squared_error")
    assert scores.shape == (3,) and np.all(scores < 0)
    search = GridSearchCV(MatrixFactorization(max_iter=5, n_jobs=1, random_state=0),
                          {"n_components": [2, 5], "alpha": [0.01, 0.1]}, cv=2,
                          scoring="neg_root_mean_squared_error").fit(X, y)
    assert search.best_params_["n_components"] in (2, 5)


def test_cold_start_modes(ratings):
    X, y = ratings
    model = MatrixFactorization(5, max_iter=3, n_jobs=1, random_state=0).fit(X, y)
    unseen = np.array([[model.n_users_ + 5, 0], [0, 1]])
    mean = model.predict(unseen)
    assert mean[0] == pytest.approx(model.intercept_ + model.item_bias_[0])
    assert np.isfinite(mean).all()
    assert np.isnan(model.set_params(cold_start="nan").predict(unseen)[0])
    with pytest.raises(ValueError, match="not trained on"):
        model.set_params(cold_start="raise").predict(unseen)


def test_partial_fit_grows_for_new_ids(ratings):
    X, y = ratings
    model = MatrixFactorization(5, n_jobs=1, random_state=0).partial_fit(X, y)
    n_users = model.n_users_
    new = np.array([[n_users + 3, 1], [n_users + 3, 2]])
    before = model.user_factors_.copy()
    model.partial_fit(new, np.array([4.0, 5.0]))
    assert model.n_users_ == n_users + 4
    np.testing.assert_array_equal(model.user_factors_[:n_users, 0] != 0,
                                  before[:, 0] != 0)
    assert model.n_iter_ == 1


def test_recommend(ratings):
    X, y = ratings
    model = MatrixFactorization(5, max_iter=5, n_jobs=1, random_state=0).fit(X, y)
    items, scores = model.recommend([0, 1], n=7)
    assert items.shape == scores.shape == (2, 7)
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    rated = set(X[X[:, 0] == 0, 1].tolist())
    assert not rated & set(items[0].tolist())  # the rated items are left out by default
    full = model.predict(np.column_stack([np.zeros(model.n_items_, int),
                                          np.arange(model.n_items_)]))
    np.testing.assert_allclose(scores[0], np.sort(np.delete(full, list(rated)))[::-1][:7],
                               rtol=1e-6)
    # the same as naming the training pairs; and everything when asked
    np.testing.assert_array_equal(model.recommend([0, 1], n=7, exclude_seen=False,
                                                  exclude=X)[0], items)
    every, _ = model.recommend([0], n=7, exclude_seen=False)
    assert every[0, 0] == int(np.argmax(full))
    with pytest.raises(ValueError, match="fitted ids"):
        model.recommend([model.n_users_])


def test_recommend_remembers_partial_fit_and_held_out_pairs(ratings):
    X, y = ratings
    first, second = X[:20_000], X[20_000:]
    model = MatrixFactorization(5, n_jobs=1, random_state=0).partial_fit(first, y[:20_000])
    model.partial_fit(second, y[20_000:])
    for user in (0, 7, 123):
        rated = set(X[X[:, 0] == user, 1].tolist())
        n_left = model.n_items_ - len(rated)
        items, scores = model.recommend([user], n=model.n_items_)
        assert set(items[0, :n_left].tolist()) == set(range(model.n_items_)) - rated
        assert np.all(np.isneginf(scores[0, n_left:]))
    # early stopping's held-out pairs were rated too: left out as well
    held = MatrixFactorization(5, max_iter=3, early_stopping=True, n_jobs=1,
                               random_state=0).fit(X, y)
    rated = set(X[X[:, 0] == 0, 1].tolist())
    assert not rated & set(held.recommend([0], n=20)[0][0].tolist())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_keeps_one_compact_copy(dtype):
    """Beyond the caller's arrays a fit holds one compact copy of the ratings (int32 ids and
    the ratings in dtype), the model and small per-row arrays, and leaves the caller's arrays
    as they were."""
    import tracemalloc

    X, y = make_ratings(n_users=2000, n_items=1000, n_ratings=300_000, random_state=0)
    X, y = X.astype(np.int64), y.astype(np.float64)  # the caller's types, not the model's
    X_before, y_before = X.copy(), y.copy()
    model = MatrixFactorization(8, max_iter=1, n_jobs=1, random_state=0, dtype=dtype)
    tracemalloc.start()
    try:
        model.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    compact = X.shape[0] * (8 + np.dtype(dtype).itemsize)
    rows = (model.n_users_ + model.n_items_) * (8 * np.dtype(dtype).itemsize + 64)
    # the finiteness check's mask (a byte a rating) is the one other temporary
    assert peak < compact + X.shape[0] + rows + (1 << 20), (peak, compact)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize("X, y, message", [
    (np.array([[0, -1], [1, 2]]), [1.0, 2.0], "negative ids"),
    (np.array([[0.5, 1.0], [1.0, 2.0]]), [1.0, 2.0], "non-integer ids"),
    (np.array([[0, 1], [1, 2]]), [1.0, np.nan], "NaN or infinite ratings"),
    (np.array([[0, 1], [1, 2]]), [1.0], "2 pairs but y has 1"),
    (np.zeros((0, 2), dtype=int), [], "empty"),
    (np.array([0, 1, 2]), [1.0, 2.0, 3.0], r"\(n, 2\) array"),
    (np.array([[0, 1], [1, 2]]), None, "y \\(the ratings\\) is required"),
])
def test_bad_input_names_the_problem(X, y, message):
    model = MatrixFactorization(max_iter=2)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)
    assert not hasattr(model, "user_factors_")


def test_divergence_is_an_error_and_leaves_the_model(ratings):
    X, y = ratings
    model = MatrixFactorization(5, max_iter=2, n_jobs=1, random_state=0).fit(X, y)
    before = model.user_factors_.copy()
    with pytest.raises(ValueError, match="diverged"):
        model.set_params(learning_rate="constant", eta0=50.0, alpha=0.0).fit(X, y * 100)
    np.testing.assert_array_equal(model.user_factors_, before)


def test_log_loss_for_binary_feedback():
    rng = np.random.default_rng(0)
    X, y = make_ratings(n_users=300, n_items=200, n_ratings=20_000, random_state=2)
    binary = np.where(y > np.median(y), 1.0, -1.0)
    model = MatrixFactorization(5, alpha=0.05, loss="log_loss", max_iter=20, n_jobs=1,
                                random_state=0).fit(X, binary)
    accuracy = np.mean(np.sign(model.predict(X)) == binary)
    assert accuracy > 0.75
    with pytest.raises(ValueError, match="-1 and \\+1"):
        model.fit(X, rng.random(len(y)))


def test_early_stopping_watches_held_out_ratings(ratings):
    X, y = ratings
    model = MatrixFactorization(5, alpha=0.0, max_iter=200, early_stopping=True,
                                validation_fraction=0.2, tol=1e-4, n_iter_no_change=3,
                                n_jobs=1, random_state=0).fit(X, y)
    assert model.n_iter_ < 200
    losses = model.validation_loss_
    assert len(losses) == model.n_iter_
    # each of the last three epochs missed the best before it by less than tol
    assert all(losses[k] > min(losses[:k]) - 1e-4 for k in range(len(losses) - 3,
                                                                 len(losses)))
    # the held-out ratings were not trained on: their error is the larger one
    assert losses[-1] > np.sqrt(2 * model.loss_curve_[-1])


# --------------------------------------------------------------- hogwild mf
def _write_ratings(path, X, y, header=True, sep=","):
    with open(path, "w") as f:
        if header:
            f.write(sep.join(["userId", "movieId", "rating", "timestamp"]) + "\n")
        for (u, i), r in zip(X, y):
            f.write(sep.join([str(u), str(i), f"{r:.3f}", "964982703"]) + "\n")


def test_command_line_train_predict_recommend(ratings, tmp_path, capsys):
    from hogwild._cli import main

    X, y = ratings
    train, test = tmp_path / "train.csv", tmp_path / "test.tsv"
    _write_ratings(train, X[:30_000], y[:30_000])
    _write_ratings(test, X[30_000:], y[30_000:], header=False, sep="\t")
    model = tmp_path / "model.pkl"
    assert main(["mf", "train", str(train), "-o", str(model), "--test", str(test),
                 "--components", "5", "--epochs", "15", "--seed", "0",
                 "--threads", "1", "--strategy", "rows"]) == 0
    out = capsys.readouterr().out
    test_rmse = float(out.split("test RMSE ")[1].split()[0])
    assert test_rmse < 0.75 * float(np.std(y))
    from hogwild._cli import load_model

    assert load_model(str(model))[0].strategy == "rows"
    predictions = tmp_path / "pred.txt"
    assert main(["mf", "predict", str(model), str(test), "-o", str(predictions)]) == 0
    predicted = np.loadtxt(predictions)
    assert predicted.shape == (10_000,)
    assert np.sqrt(np.mean((predicted - y[30_000:]) ** 2)) == pytest.approx(test_rmse,
                                                                          abs=1e-3)
    capsys.readouterr()
    assert main(["mf", "recommend", str(model), "--users", "0,1", "-n", "4",
                 "--exclude", str(train)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8 and lines[0].split("\t")[0] == "0"
    rated = set(X[:30_000][X[:30_000, 0] == 0, 1].tolist())
    assert not rated & {int(line.split("\t")[1]) for line in lines[:4]}
    # a linear command refuses a factorization model, with the right command to use
    assert main(["predict", str(model), str(test)]) == 1
    assert "hogwild mf predict" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("user,item,rating\n", "holds no ratings"),
    ("1,2,3\n4,-5,1\n", "line 2: user and item ids must be non-negative"),
    ("1,2\n", "line 1 has 2 fields"),
])
def test_command_line_bad_files(tmp_path, capsys, content, message):
    from hogwild._cli import main

    path = tmp_path / "r.csv"
    path.write_text(content)
    assert main(["mf", "train", str(path), "-o", str(tmp_path / "m.pkl")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.pkl").exists()


SIGINT_CHILD = """
import pickle
from hogwild import MatrixFactorization
from hogwild.datasets import make_ratings
X, y = make_ratings(50_000, 10_000, 2_000_000, random_state=0)
model = MatrixFactorization(16, max_iter=1, n_jobs=2, random_state=0).fit(X, y)
last = pickle.dumps(model)
model.set_params(max_iter=10**6)
print("fitting", flush=True)
try:
    model.fit(X, y)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    model.set_params(max_iter=1)
    print("as before the call" if pickle.dumps(model) == last else "changed", flush=True)
"""


def test_ctrl_c_returns_within_a_second_and_keeps_the_model(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(SIGINT_CHILD)
    first, latency, rest = interrupt_child(script, wait=1.0)
    assert first == "interrupted"
    assert latency < 1.0
    assert rest.startswith("as before the call"), rest


def test_layout_in_slices_is_the_same_model(ratings, monkeypatch):
    """The layout reads the ratings a slice at a time (Ctrl-C is seen between slices) and
    shuffles the blocks a group at a time: the model does not depend on the slicing."""
    from hogwild.mf import _estimator

    X, y = ratings
    whole = MatrixFactorization(5, max_iter=2, n_jobs=1, random_state=0).fit(X, y)
    monkeypatch.setattr(_estimator, "CHUNK_RATINGS", 997)
    sliced = MatrixFactorization(5, max_iter=2, n_jobs=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(sliced.user_factors_, whole.user_factors_)
    np.testing.assert_array_equal(sliced.item_bias_, whole.item_bias_)
    np.testing.assert_array_equal(sliced._seen_items, whole._seen_items)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("schedule", ["blocks", "hogwild", "rows"])
@pytest.mark.parametrize("budget", [1, 5_000, 1 << 40])
def test_an_epoch_in_calls_trains_every_rating_once(ratings, schedule, n_threads, budget):
    """The kernel trains an epoch in calls of about ``budget`` ratings, each picking from the
    epoch's blocks not yet taken: together they train every rating once. With a zero step
    the model stays put, so the summed loss is each rating's loss at the start, once."""
    from hogwild import _mf, _native
    from hogwild.mf import _estimator

    X, y = ratings
    users, items, r, starts, grid = _estimator._layout(
        X[:, 0], X[:, 1], y, np.zeros(0, np.uint8), int(X[:, 0].max()) + 1,
        int(X[:, 1].max()) + 1, np.dtype(np.float64), 4, seed=0, n_threads=n_threads)[:5]
    rng = np.random.default_rng(0)
    P = rng.standard_normal((int(X[:, 0].max()) + 1, 4))
    Q = rng.standard_normal((int(X[:, 1].max()) + 1, 4))
    bu, bi = np.zeros(P.shape[0]), np.zeros(Q.shape[0])
    params = _mf.MFParams(loss=_native.LOSSES["squared_error"], eta=0.0, mean=1.0,
                          n_threads=n_threads, schedule=_estimator.SCHEDULES[schedule])
    blocks = rng.permutation(starts.shape[0] - 1).astype(np.int64)
    taken = np.zeros(blocks.shape[0], np.uint8)
    total, trained, calls = 0.0, 0, 0
    while trained < r.shape[0]:
        loss, n = _mf.mf_epoch(users, items, r, starts, blocks, taken, budget, grid, params,
                               P, Q, bu, bi, np.zeros(1), np.zeros(1), np.ones(P.shape[0]),
                               np.ones(Q.shape[0]))
        assert n >= min(budget, r.shape[0] - trained)
        total, trained, calls = total + loss, trained + n, calls + 1
    assert trained == r.shape[0] and taken.all()
    assert calls >= (2 if budget < r.shape[0] else 1)
    expected = 0.5 * np.sum((1.0 + np.sum(P[X[:, 0]] * Q[X[:, 1]], axis=1) - y) ** 2)
    assert total == pytest.approx(expected, rel=1e-9)
    # the epoch is over: a further call trains nothing
    assert _mf.mf_epoch(users, items, r, starts, blocks, taken, budget, grid, params, P, Q,
                        bu, bi, np.zeros(1), np.zeros(1), np.ones(P.shape[0]),
                        np.ones(Q.shape[0])) == (0.0, 0)


def test_ids_without_ratings_are_cold(ratings):
    """An id inside the fitted range that had no ratings (a gap in the numbering) keeps its
    random start: predict treats it as unseen, and recommend never offers such an item."""
    X, y = ratings
    gap_user, gap_item = 5, 7
    kept = (X[:, 0] != gap_user) & (X[:, 1] != gap_item)
    model = MatrixFactorization(5, max_iter=3, n_jobs=1, random_state=0).fit(X[kept], y[kept])
    assert model.n_users_ > gap_user and model.n_items_ > gap_item
    pairs = np.array([[gap_user, 0], [0, gap_item], [0, 0]])
    mean = model.predict(pairs)
    assert mean[0] == pytest.approx(model.intercept_ + model.item_bias_[0])
    assert mean[1] == pytest.approx(model.intercept_ + model.user_bias_[0])
    assert np.isnan(model.set_params(cold_start="nan").predict(pairs)[:2]).all()
    with pytest.raises(ValueError, match="not trained on"):
        model.set_params(cold_start="raise").predict(pairs)
    items, scores = model.recommend([0, gap_user], n=model.n_items_)
    for row, row_scores in zip(items, scores):
        assert gap_item in row[np.isneginf(row_scores)]
    # a user without ratings is scored by the biases alone: the items by their bias
    top = items[1][np.isfinite(scores[1])]
    assert np.all(np.diff(model.item_bias_[top]) <= 0)


def test_rows_schedule_balances_the_threads():
    """strategy='rows' gives each thread whole user ranges: on power-law users, enough ranges
    split by their ratings that each of two threads trains about half."""
    from hogwild.mf import _estimator

    X, y = make_ratings(n_users=671, n_items=9066, n_ratings=100_004, random_state=0)
    layout = _estimator._layout(X[:, 0], X[:, 1], y, np.zeros(0, np.uint8), 671, 9066,
                                np.dtype(np.float32), 32, seed=0, n_threads=2,
                                min_user_ranges=2 * _estimator.ROWS_RANGES_PER_THREAD)
    starts, grid = layout[3], layout[4]
    sizes = np.diff(starts)
    assert sizes.sum() == len(y)
    share = sizes[grid[:, 2] == 0].sum() / sizes.sum()
    assert 0.45 < share < 0.55
    # every user range belongs to one thread
    for r in np.unique(grid[:, 0]):
        assert np.unique(grid[grid[:, 0] == r, 2]).size == 1


@pytest.mark.parametrize("strategy", ["blocks", "hogwild", "rows"])
def test_a_smaller_team_than_asked_trains_every_rating(strategy, tmp_path):
    """OpenMP may give fewer threads than n_jobs (OMP_THREAD_LIMIT, nesting): each schedule
    then still trains every block once. An epoch's mean loss covers all ratings, so a
    schedule that skipped the missing threads' blocks would show about half of it."""
    import json
    import subprocess
    import sys

    script = f"""
import json
from hogwild import MatrixFactorization
from hogwild.datasets import make_ratings
X, y = make_ratings(n_users=600, n_items=300, n_ratings=40_000, n_components=5, noise=0.3,
                    random_state=0)
curves = [MatrixFactorization(5, max_iter=2, n_jobs=n, strategy="{strategy}",
                              random_state=0).fit(X, y).loss_curve_ for n in (2, 1)]
print(json.dumps(curves))
"""
    env = {**child_env(), "OMP_THREAD_LIMIT": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True, cwd=tmp_path).stdout
    limited, one = json.loads(out)
    np.testing.assert_allclose(limited, one, rtol=0.05)
