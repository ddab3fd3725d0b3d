"""Paired A/B of two builds' linear kernels: is a change to ``_core.pyx`` slower?

    python bench/ab_kernel.py OLD_TREE NEW_TREE [--data FILE] [--rounds 40]

Each tree is a hogwild source checkout built in place (``python setup.py
build_ext --inplace``). One long-lived worker process per tree sets up the
replica kernel through ``hogwild.linear_model._strategies`` for each
configuration (hinge and log_loss; 1 and 2 threads; float64 and float32),
then the two workers take turns running batches of 10 epochs over the same
row orders, the order of the pair alternating from round to round. A slow
spell of this machine hits both sides of a pair alike, so the per-pair
ratio new/old is the measure; its median and quartiles are printed. Run it
twice with the same tree on both sides (an A/A) to see this machine's noise.

Speed is never asserted here: this is a tool for the person changing the
kernel (docs/design.md, "The round-2 refactor: what was checked").
"""
import argparse
import json
import os
import subprocess
import sys
import time

WORKER = r"""
import json, sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
from threadpoolctl import threadpool_limits
threadpool_limits(1, "blas")
from sklearn.datasets import load_svmlight_file
import hogwild
from hogwild import HogwildClassifier
from hogwild.linear_model import _epochs, _strategies
path = sys.argv[1]
if path:
    X, y = load_svmlight_file(path)
    X = X.tocsr()
    X.sort_indices()
else:
    from hogwild.datasets import make_sparse_classification
    X, y = make_sparse_classification(20000, 50000, 80 / 50000, random_state=0)
labels = np.unique(y)
signed = np.where(y <= labels[len(labels) // 2 - 1], 1.0, -1.0)
rng = np.random.RandomState(0)
orders = [rng.permutation(X.shape[0]).astype(np.int64) for _ in range(10)]
runs = {}
for loss, n_jobs, dtype in CONFIGS:
    Xd = X.astype(dtype)
    est = HogwildClassifier(loss=loss, alpha=1e-5, n_jobs=n_jobs, tol=None)
    rows = _strategies.KernelRows(Xd)
    prob = _strategies.Problem(signed.astype(dtype), np.ones(X.shape[0], dtype),
                               np.zeros(X.shape[1], dtype), np.zeros(1, dtype))
    schedule = _epochs.Schedule.make("optimal", 0.01, 0.5, 1e-5, 0.9,
                                     hogwild._native.LOSSES[loss], 0.1)
    params = est._kernel_params(rows, schedule, n_jobs, for_partial_fit=False)
    runs[f"{loss}-{n_jobs}t-{np.dtype(dtype).name}"] = [_strategies.ReplicaEpochs(prob, rows, params), 1.0]
print(json.dumps(list(runs)), flush=True)
for line in sys.stdin:
    run = runs[line.strip()]
    times = []
    for order in orders:
        start = time.perf_counter()
        run[0](order, run[1])
        times.append(time.perf_counter() - start)
        run[1] += len(order)
    print(json.dumps(sorted(times)[len(times) // 2]), flush=True)
"""

CONFIGS = [("hinge", 1, "float64"), ("hinge", 2, "float64"), ("log_loss", 1, "float64"),
           ("log_loss", 2, "float64"), ("hinge", 1, "float32"), ("log_loss", 1, "float32")]


def _worker(tree, data):
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree), "OPENBLAS_NUM_THREADS": "1"}
    code = f"CONFIGS = {CONFIGS!r}\n" + WORKER
    proc = subprocess.Popen([sys.executable, "-c", code, data or ""], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env, cwd=os.path.expanduser("~"))
    keys = json.loads(proc.stdout.readline())
    return proc, keys


def _quartiles(values):
    values = sorted(values)
    n = len(values)
    return values[n // 4], values[n // 2], values[(3 * n) // 4]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="source tree of the build to compare against")
    parser.add_argument("new", help="source tree of the changed build")
    parser.add_argument("--data", help="a LIBSVM file (default: generated text-like data)")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args(argv)
    workers = {side: _worker(tree, args.data) for side, tree in (("old", args.old),
                                                                 ("new", args.new))}
    keys = workers["old"][1]
    times = {key: {"old": [], "new": []} for key in keys}
    start = time.perf_counter()
    for r in range(args.rounds):
        for key in keys:
            for side in (("old", "new") if r % 2 == 0 else ("new", "old")):
                proc = workers[side][0]
                proc.stdin.write(key + "\n")
                proc.stdin.flush()
                times[key][side].append(json.loads(proc.stdout.readline()))
    for proc, _ in workers.values():
        proc.stdin.close()
        proc.wait()
    print(f"median epoch of each batch of 10, ms; {args.rounds} pairs in "
          f"{time.perf_counter() - start:.0f} s")
    print(f"{'configuration':24s} {'old':>8s} {'new':>8s}   new/old per pair: q1 median q3")
    for key in keys:
        old, new = times[key]["old"], times[key]["new"]
        q1, med, q3 = _quartiles([b / a for a, b in zip(old, new)])
        print(f"{key:24s} {_quartiles(old)[1] * 1e3:8.3f} {_quartiles(new)[1] * 1e3:8.3f}   "
              f"{q1:.3f} {med:.3f} {q3:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
