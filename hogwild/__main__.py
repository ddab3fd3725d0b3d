"""``python -m hogwild``: hogwild beside scikit-learn's SGDClassifier on built-in data.

A first look, not the benchmark suite: it fits the same model (hinge loss, L2,
the same alpha, schedule and epochs) with scikit-learn and with hogwild at 1
thread and at every usable thread, on generated text-like data, and prints wall
time per epoch and test accuracy. BLAS is pinned to one thread while timing.
"""
import argparse
import time

import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from . import HogwildClassifier, __version__
from ._threads import resolve_n_jobs
from .datasets import make_sparse_classification


def _best_time(make, X, y, repeats):
    times = []
    for _ in range(repeats):
        model = make()
        start = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - start)
    return min(times), model


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hogwild", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20_000)
    parser.add_argument("--nnz-per-row", type=float, default=60.0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=1e-5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    X, y = make_sparse_classification(args.rows, args.features,
                                      args.nnz_per_row / args.features, random_state=0)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0)
    n_threads = resolve_n_jobs(None)
    print(f"hogwild {__version__}: {X_tr.shape[0]:,} x {X.shape[1]:,} training rows, "
          f"{X_tr.nnz:,} non-zeros; hinge, L2, alpha={args.alpha}, {args.epochs} epochs; "
          f"best of {args.repeats}")
    params = dict(loss="hinge", alpha=args.alpha, max_iter=args.epochs, tol=None,
                  random_state=0)
    contenders = [("scikit-learn SGDClassifier", lambda: SGDClassifier(**params))]
    for n in sorted({1, n_threads}):
        contenders.append((f"hogwild, {n} thread{'s' * (n > 1)}",
                           lambda n=n: HogwildClassifier(n_jobs=n, **params)))
    print(f"{'':30s} {'ms/epoch':>9s} {'ns/nnz':>7s} {'speed-up':>8s} {'test acc':>8s}")
    base = None
    with threadpool_limits(limits=1, user_api="blas"):
        for name, make in contenders:
            seconds, model = _best_time(make, X_tr, y_tr, args.repeats)
            per_epoch = seconds / args.epochs
            base = base or per_epoch
            print(f"{name:30s} {per_epoch * 1e3:9.2f} {per_epoch / X_tr.nnz * 1e9:7.2f} "
                  f"{base / per_epoch:7.2f}x {model.score(X_te, y_te):8.4f}")


if __name__ == "__main__":
    main()
