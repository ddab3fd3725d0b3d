"""The HOGWILD! paper's Netflix size on this machine: epoch time and peak memory.

``make_ratings(480_189, 17_770, 100_000_000, n_components=30)`` (cached as
.npy in ``--cache``, since it takes about two minutes), then, in this
process, ``MatrixFactorization(30, n_jobs=THREADS).fit`` for a few epochs:
the time of each epoch (``verbose``), of the checks and layout before the
first, and the peak resident memory against the caller's arrays.

    OPENBLAS_NUM_THREADS=1 python bench/mf_paper_size.py --cache /tmp/netflix
"""
import argparse
import contextlib
import io
import os
import resource
import time

import numpy as np

from hogwild import MatrixFactorization
from hogwild.datasets import make_ratings


def rss_gib():
    """This process's resident memory now (from /proc) and at its peak, in GiB."""
    with open("/proc/self/status") as f:
        now = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    return now / 2**20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="netflix-size", help="folder of the cached .npy")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    paths = [os.path.join(args.cache, name) for name in ("X.npy", "y.npy")]
    if not all(map(os.path.exists, paths)):
        os.makedirs(args.cache, exist_ok=True)
        start = time.perf_counter()
        X, y = make_ratings(n_users=480_189, n_items=17_770, n_ratings=100_000_000,
                            n_components=30, random_state=0)
        print(f"make_ratings: {time.perf_counter() - start:.1f} s")
        for path, array in zip(paths, (X, y)):
            np.save(path, array)
        print("saved; run again in a fresh process for a clean peak")
        return
    X, y = np.load(paths[0]), np.load(paths[1])
    given = (X.nbytes + y.nbytes) / 2**30
    before, peak = rss_gib()
    print(f"ratings {len(y):,}, X {X.dtype} {X.shape}, y {y.dtype}: {given:.2f} GiB; "
          f"RSS {before:.2f} GiB (peak so far {peak:.2f})")
    model = MatrixFactorization(30, max_iter=args.epochs, n_jobs=args.threads,
                                random_state=0, verbose=1)
    log = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(log):
        model.fit(X, y)
    total = time.perf_counter() - start
    ends = [float(line.rsplit(",", 1)[1].split()[0]) for line in log.getvalue().splitlines()]
    epochs = np.diff([0.0] + ends)
    now, peak = rss_gib()
    print(f"fit {total:.1f} s: outside the epochs (checks, layout, the seen pairs) "
          f"{total - ends[-1]:.1f} s, epochs "
          + ", ".join(f"{e:.2f}" for e in epochs) + " s")
    print(f"peak RSS {peak:.2f} GiB: {peak - before:.2f} GiB above the RSS before the fit "
          f"(the compact copy: {len(y) * 12 / 2**30:.2f} GiB); RSS after {now:.2f} GiB")


if __name__ == "__main__":
    main()
