"""Choosing ``MatrixFactorization``'s settings: test RMSE over a grid, measured.

Run from the repository root (BLAS pinned, as for every timing here)::

    OPENBLAS_NUM_THREADS=1 python bench/mf_tuning.py [--data RATINGS] [--seeds 3]

The data: ``--data`` (a ``user,item,rating[,...]`` CSV with a header, as
MovieLens ships it; ``.bz2``/``.gz`` too), else MovieLens ml-latest-small
where ``../shared/data`` has it, else ``make_ratings`` shaped like it (671
users, 9,066 items, 100,004 ratings). Ids are renumbered 0..n-1 and one
seeded 90/10 split is made (``train_test_split(test_size=0.1,
random_state=0)``). Every fit below uses that split, ``n_jobs=1`` unless
said, and model seeds ``0 .. --seeds - 1``; a table cell is the mean test
RMSE over the seeds (and its spread, max - min, where it says so).

Sections (``--only`` picks some, comma-separated):

- ``grid``: ``n_components`` x ``alpha`` with the defaults otherwise
  (AdaGrad, 20 epochs): test RMSE, and fit time in ms (median over seeds).
  Also the best test RMSE along the first 60 epochs and the epoch it came.
- ``init``: ``init_std`` 0.003 to 0.1 at k = 8, 32 and 128.
- ``schedules``: ``learning_rate`` 'adagrad', 'constant' and 'backoff' at
  several ``eta0``: test RMSE after 5, 10, 20 and 40 epochs.
- ``scaling``: ``alpha_scaling`` 'none' against 'degree' over ``alpha``.
- ``early``: ``early_stopping`` (10% of the training ratings held out) and
  ``tol`` against fixed epoch counts.
- ``dtype``: float32 (the default) against float64: test RMSE, fit time.
- ``memory``: the peak of the memory NumPy allocates during a one-epoch
  fit (tracemalloc), against the input, the 12 bytes a rating of a
  float32 copy of the ratings and the pickled model's size, on the
  training split and on 5 million ``make_ratings`` ratings.
- ``threads``: for each ``strategy``, 1 and 2 threads, five fits with the
  same ``random_state``: whether the models are identical (max abs
  difference of the factors from the first fit's) and the spread of the
  test RMSE; and the fit time.
- ``speed``: the epoch time of each strategy at 1 and 2 threads on
  ``make_ratings`` data of 0.1, 1 and 5 million ratings (users and items
  growing with them), k=32: the median over 3 alternating rounds of the
  time between the ends of epochs 2 to 10 of a fit (the layout excluded).

The test RMSE after each epoch is read through the estimator's private
per-epoch hook (as ``hogwild bench mf`` does), so that one fit gives a whole
curve; the model after epoch ``e`` of a longer fit is the model of a fit of
``e`` epochs (the shuffles and steps depend on the epoch number only).
"""
import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
MOVIELENS = HERE.parent.parent / "shared" / "data" / "movielens-latest-small" / "ratings.csv.bz2"
SECTIONS = ("grid", "init", "schedules", "scaling", "early", "dtype", "memory", "threads", "speed")


def load(path):
    """``(X, y, name)``: ids renumbered 0..n-1, ratings as float64."""
    if path is None and MOVIELENS.exists():
        path = MOVIELENS
    if path is None:
        return load_synthetic()
    import pandas as pd

    df = pd.read_csv(path)
    users, _ = pd.factorize(df.iloc[:, 0])
    items, _ = pd.factorize(df.iloc[:, 1])
    return (np.column_stack([users, items]).astype(np.int32),
            df.iloc[:, 2].to_numpy(np.float64), str(path))


def load_synthetic():
    from hogwild.datasets import make_ratings

    X, y = make_ratings(671, 9066, 100_004, random_state=0)
    return X, y.astype(np.float64), "make_ratings(671, 9066, 100_004, random_state=0)"


def rmse(model, X, y):
    return float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


def curve(params, split, epochs):
    """Test RMSE after each of ``epochs`` epochs, from one fit."""
    from hogwild import MatrixFactorization

    X_train, X_test, y_train, y_test = split
    model = MatrixFactorization(**{**params, "max_iter": epochs, "tol": None})
    out = []
    model._epoch_hook = lambda m: out.append(rmse(m, X_test, y_test))
    model.fit(X_train, y_train)
    return np.array(out)


def best_cell(params, split, seeds, epochs=60):
    """A table cell: the test RMSE after 20 epochs [the best along ``epochs`` @ its epoch],
    each the mean of one fit a seed."""
    mean = np.mean([curve({**params, "random_state": s}, split, epochs) for s in seeds], axis=0)
    best = int(np.argmin(mean))
    return f"{mean[19]:.4f} [{mean[best]:.4f} @ {best + 1}]"


def cross_rows(labels, values, cell):
    """Table rows: one a label, ``cell(label, value)`` for each value; each printed when done."""
    rows = []
    for label in labels:
        rows.append([str(label)] + [cell(label, value) for value in values])
        print(rows[-1], flush=True)
    return rows


def timed_fit(params, split):
    """``(model, seconds)`` of one fit on the training part."""
    from hogwild import MatrixFactorization

    X_train, _, y_train, _ = split
    model = MatrixFactorization(**params)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    return model, time.perf_counter() - start


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()


def grid(split, seeds, ks, alphas):
    print("### n_components x alpha (AdaGrad, eta0=0.1, 20 epochs): test RMSE "
          "[best along 60 epochs @ epoch], fit ms\n")
    def cell(k, alpha):
        params = dict(n_components=k, alpha=alpha, n_jobs=1)
        times = [timed_fit({**params, "random_state": s}, split)[1] for s in seeds]
        return f"{best_cell(params, split, seeds)}, {1000 * np.median(times):.0f}"

    table(["k"] + [f"alpha={a:g}" for a in alphas], cross_rows(ks, alphas, cell))


def inits(split, seeds, ks, alpha):
    print(f"### init_std (alpha={alpha:g}, AdaGrad, 20 epochs): test RMSE "
          "[best along 60 epochs @ epoch]\n")
    stds = (0.003, 0.01, 0.03, 0.1)
    rows = cross_rows(ks, stds, lambda k, std: best_cell(
        dict(n_components=k, alpha=alpha, init_std=std, n_jobs=1), split, seeds))
    table(["k"] + [f"init_std={v:g}" for v in stds], rows)


def schedules(split, seeds, k, alpha):
    print(f"### learning_rate (k={k}, alpha={alpha:g}): test RMSE after 5 / 10 / 20 / 40 "
          "epochs\n")
    rows = []
    for lr, etas in (("adagrad", (0.03, 0.1, 0.3)), ("constant", (0.003, 0.01, 0.03)),
                     ("backoff", (0.01, 0.03, 0.1))):
        for eta0 in etas:
            params = dict(n_components=k, alpha=alpha, learning_rate=lr, eta0=eta0,
                          n_jobs=1)
            try:
                mean = np.mean([curve({**params, "random_state": s}, split, 40)
                                for s in seeds], axis=0)
                cells = [f"{mean[e - 1]:.4f}" for e in (5, 10, 20, 40)]
            except ValueError as exc:  # divergence
                cells = [str(exc).split(":")[0]] + [""] * 3
            rows.append([lr, f"{eta0:g}"] + cells)
            print(rows[-1], flush=True)
    table(["learning_rate", "eta0", "5", "10", "20", "40"], rows)


def scaling(split, seeds, k, alphas):
    print(f"### alpha_scaling (k={k}, AdaGrad, 20 epochs): test RMSE "
          "[best along 60 epochs @ epoch]\n")
    rows = cross_rows(("none", "degree"), alphas, lambda how, alpha: best_cell(
        dict(n_components=k, alpha=alpha, alpha_scaling=how, n_jobs=1), split, seeds))
    table(["alpha_scaling"] + [f"alpha={a:g}" for a in alphas], rows)


def early(split, seeds, k, alpha):
    print(f"### early stopping (k={k}, alpha={alpha:g}, AdaGrad): test RMSE, epochs, fit ms\n")
    rows = []
    for name, extra in (("20 epochs", dict(max_iter=20)),
                        ("100 epochs", dict(max_iter=100)),
                        ("tol=1e-4 on the training loss", dict(max_iter=100, tol=1e-4)),
                        ("early_stopping, tol=1e-4", dict(max_iter=100, tol=1e-4,
                                                          early_stopping=True)),
                        ("early_stopping, tol=0", dict(max_iter=100, tol=0.0,
                                                       early_stopping=True)),
                        ("early_stopping, tol=0, n_iter_no_change=10",
                         dict(max_iter=100, tol=0.0, early_stopping=True,
                              n_iter_no_change=10))):
        scores, epochs, times = [], [], []
        for seed in seeds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
                model, seconds = timed_fit(dict(n_components=k, alpha=alpha, n_jobs=1,
                                                random_state=seed, **extra), split)
            scores.append(rmse(model, split[1], split[3]))
            epochs.append(model.n_iter_)
            times.append(seconds)
        rows.append([name, f"{np.mean(scores):.4f}", f"{min(epochs)}-{max(epochs)}",
                     f"{1000 * np.median(times):.0f}"])
        print(rows[-1], flush=True)
    table(["stopping", "test RMSE", "epochs", "fit ms"], rows)


def dtypes(split, seeds, k, alpha):
    print(f"### dtype (k={k}, alpha={alpha:g}, AdaGrad, 20 epochs): test RMSE, fit ms\n")
    rows = []
    for dtype in (np.float32, np.float64):
        fits = [timed_fit(dict(n_components=k, alpha=alpha, n_jobs=1, dtype=dtype,
                               random_state=seed), split) for seed in seeds]
        scores = [rmse(model, split[1], split[3]) for model, _ in fits]
        rows.append([dtype.__name__, f"{np.mean(scores):.4f}",
                     f"{1000 * np.median([seconds for _, seconds in fits]):.0f}"])
        print(rows[-1], flush=True)
    table(["dtype", "test RMSE", "fit ms"], rows)


def memory(split, k, alpha):
    import pickle
    import tracemalloc

    from hogwild import MatrixFactorization
    from hogwild.datasets import make_ratings

    print(f"### memory (k={k}; MiB)\n")
    X_train, _, y_train, _ = split
    X_big, y_big = make_ratings(100_000, 20_000, 5_000_000, random_state=0)
    rows = []
    for data, X, y in (("the training split", X_train, y_train),
                       ("make_ratings(100_000, 20_000, 5_000_000)", X_big, y_big)):
        for ids, values in ((np.int32, np.float32), (np.int64, np.float64)):
            X, y = X.astype(ids), y.astype(values)
            model = MatrixFactorization(k, alpha=alpha, max_iter=1, n_jobs=1, random_state=0)
            tracemalloc.start()
            model.fit(X, y)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rows.append([data, f"{ids.__name__}, {values.__name__}",
                         f"{(X.nbytes + y.nbytes) / 2**20:.1f}", f"{12 * len(y) / 2**20:.1f}",
                         f"{len(pickle.dumps(model)) / 2**20:.1f}", f"{peak / 2**20:.1f}"])
            print(rows[-1], flush=True)
    table(["ratings", "ids, ratings", "input", "12 B a rating", "pickled model",
           "fit's peak (tracemalloc)"], rows)


def threads(split, k, alpha, runs=5):
    from hogwild import MatrixFactorization

    strategies = sorted(MatrixFactorization._parameter_constraints["strategy"][0].options)
    print(f"### threads (k={k}, alpha={alpha:g}, 20 epochs, random_state=0, {runs} fits "
          "each)\n")
    rows = []
    for strategy in strategies:
        for n_jobs in (1, 2):
            models, times = [], []
            for _ in range(runs):
                model, seconds = timed_fit(dict(n_components=k, alpha=alpha, n_jobs=n_jobs,
                                                strategy=strategy, random_state=0), split)
                models.append(model)
                times.append(seconds)
            first = models[0]
            diff = max(max(np.abs(m.user_factors_ - first.user_factors_).max(),
                           np.abs(m.item_factors_ - first.item_factors_).max())
                       for m in models[1:])
            identical = all(np.array_equal(m.user_factors_, first.user_factors_)
                            and np.array_equal(m.item_factors_, first.item_factors_)
                            and np.array_equal(m.user_bias_, first.user_bias_)
                            and np.array_equal(m.item_bias_, first.item_bias_)
                            for m in models[1:])
            scores = [rmse(m, split[1], split[3]) for m in models]
            rows.append([strategy, n_jobs, "yes" if identical else "no", f"{diff:.2g}",
                         f"{min(scores):.4f}-{max(scores):.4f}",
                         f"{1000 * np.median(times):.0f}"])
            print(rows[-1], flush=True)
    table(["strategy", "n_jobs", "identical", "max abs diff", "test RMSE", "fit ms"], rows)


def speed(rounds=3, epochs=10, k=32):
    from hogwild import MatrixFactorization
    from hogwild.datasets import make_ratings

    strategies = sorted(MatrixFactorization._parameter_constraints["strategy"][0].options)
    print(f"### speed (k={k}, make_ratings, ms an epoch: median of epochs 2-{epochs} "
          f"over {rounds} rounds)\n")
    rows = []
    for n_users, n_items, n_ratings in ((671, 9_066, 100_004), (10_000, 5_000, 1_000_000),
                                         (100_000, 20_000, 5_000_000)):
        X, y = make_ratings(n_users, n_items, n_ratings, random_state=0)
        times = {}
        for _ in range(rounds):
            for strategy in strategies:
                for n_jobs in (1, 2):
                    ends = []
                    model = MatrixFactorization(k, n_jobs=n_jobs, strategy=strategy,
                                                max_iter=epochs, random_state=0)
                    model._epoch_hook = lambda m: ends.append(time.perf_counter())
                    model.fit(X, y)
                    times.setdefault((strategy, n_jobs), []).extend(np.diff(ends))
        row = [f"{n_users:,} x {n_items:,}, {n_ratings:,}"]
        for strategy in strategies:
            one, two = (1000 * np.median(times[strategy, n]) for n in (1, 2))
            row.append(f"{one:.1f} / {two:.1f} ({one / two:.2f}x)")
        rows.append(row)
        print(row, flush=True)
    table(["users x items, ratings"] + [f"{s}: 1 / 2 threads" for s in strategies], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="a user,item,rating CSV with a header")
    parser.add_argument("--synthetic", action="store_true",
                        help="make_ratings shaped like ml-latest-small, even if it is here")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--ks", default="8,16,32,64,128", help="the grid's n_components")
    parser.add_argument("--alphas", default="0.005,0.02,0.05,0.1,0.2,0.4",
                        help="the grid's and the scaling section's alpha")
    parser.add_argument("--k", type=int, default=None,
                        help="n_components of the sections after the grid (default: the "
                             "grid's best)")
    parser.add_argument("--alpha", type=float, default=None)
    args = parser.parse_args(argv)
    from sklearn.model_selection import train_test_split

    X, y, name = load_synthetic() if args.synthetic else load(args.data)
    split = train_test_split(X, y, test_size=0.1, random_state=0)
    seeds = list(range(args.seeds))
    print(f"data: {name}: {len(y):,} ratings, {X[:, 0].max() + 1:,} users x "
          f"{X[:, 1].max() + 1:,} items; split 90/10 (random_state=0); "
          f"test RMSE of the training mean: "
          f"{np.sqrt(np.mean((split[3] - split[2].mean()) ** 2)):.4f}; "
          f"{time.strftime('%Y-%m-%d')}\n", flush=True)
    only = args.only.split(",")
    ks = [int(v) for v in args.ks.split(",")]
    alphas = [float(v) for v in args.alphas.split(",")]
    k = args.k or 32
    alpha = args.alpha if args.alpha is not None else 0.1
    if "grid" in only:
        grid(split, seeds, ks, alphas)
    if "init" in only:
        inits(split, seeds, [8, 32, 128], alpha)
    if "schedules" in only:
        schedules(split, seeds, k, alpha)
    if "scaling" in only:
        scaling(split, seeds, k, alphas)
    if "early" in only:
        early(split, seeds, k, alpha)
    if "dtype" in only:
        dtypes(split, seeds, k, alpha)
    if "memory" in only:
        memory(split, k, alpha)
    if "threads" in only:
        threads(split, k, alpha)
    if "speed" in only:
        speed()


if __name__ == "__main__":
    main()
