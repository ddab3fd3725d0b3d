"""Scaling out on Dask: convergence, stragglers and the cost of a round.

Run from the repository root (BLAS pinned, as for every timing here)::

    OPENBLAS_NUM_THREADS=1 python bench/dask_scaling.py --out docs/bench/dask

It starts a LocalCluster of two worker processes (one thread each) on
127.0.0.1 and writes ``results.json`` and three plots to ``--out``:

1. **convergence**: training objective against wall time for one-machine
   hogwild (1 and 2 threads), ``sync="average"``, and ``sync="ssp"`` with
   s = 0, 1, 3 and fully asynchronous, on news20 made binary (when
   ``../shared/data`` has it) and on the built-in data. Each point is a
   whole fit of that many epochs (tol=None) on data persisted on the
   workers, so its time includes everything a user waits for.
2. **straggler** and **transient**: the same with worker 1 sleeping after
   each clock (``--straggle`` seconds), and with each worker sleeping 4 x as
   long after a clock in four, drawn at random (the SSP paper's setting);
   the time each contender takes to reach 1.01 x the best objective.
3. **round cost**: seconds and bytes per ``average`` round at 50k, 1M and
   10M features (20,000 rows of 30 non-zeros), and float32 against float64
   changes on the wire.
"""
import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
NEWS20 = HERE.parent.parent / "shared" / "data" / "svmlight" / "news20.bz2"
EPOCHS = (1, 2, 3, 5, 8, 12)
PARAMS = dict(loss="log_loss", alpha=1e-5, tol=None, random_state=0)


def _contenders():
    return [("hogwild 1 thread", "local", dict(n_jobs=1)),
            ("hogwild 2 threads", "local", dict(n_jobs=2)),
            ("average", "dask", dict(sync="average")),
            ("ssp s=0", "dask", dict(sync="ssp", staleness=0)),
            ("ssp s=1", "dask", dict(sync="ssp", staleness=1)),
            ("ssp s=3", "dask", dict(sync="ssp", staleness=3)),
            ("asynchronous", "dask", dict(sync="ssp", staleness=None))]


def _datasets(quick):
    from hogwild._bench._run import generated_data, load_binary_svmlight

    sets = {}
    if NEWS20.exists():
        X, y, _ = load_binary_svmlight(NEWS20)
        sets["news20-binary"] = (X, y)
    rows = 30_000 if quick else 150_000
    sets["built-in"] = generated_data(rows, 20_000, 40.0)[:2]
    return sets


def _fit_curve(name, kind, extra, X, y, Xd, yd, client, epochs, straggle=None,
               sync_every=1.0):
    from hogwild import HogwildClassifier
    from hogwild._losses import estimator_objective
    from hogwild.dask import DaskHogwildClassifier

    points = []
    for n in epochs:
        if kind == "local":
            est = HogwildClassifier(**PARAMS, max_iter=n, **extra)
            start = time.perf_counter()
            est.fit(X, y)
        else:
            est = DaskHogwildClassifier(**PARAMS, max_iter=n, n_jobs=1, client=client,
                                        sync_every=sync_every, **extra)
            est._straggle = straggle
            start = time.perf_counter()
            est.fit(Xd, yd)
        seconds = time.perf_counter() - start
        points.append({"epochs": n, "seconds": seconds,
                       "objective": estimator_objective(est, X, y)})
        print(f"  {name:<18} {n:>3} epochs {seconds:8.3f} s  objective "
              f"{points[-1]['objective']:.6f}", flush=True)
    return points


def convergence(client, sets, epochs, straggle=None, sync_every=1.0):
    import dask.array as da

    out = {}
    for data_name, (X, y) in sets.items():
        print(f"{data_name}: {X.shape[0]} x {X.shape[1]}, straggle={straggle}", flush=True)
        rows = -(-X.shape[0] // 4)
        Xd = da.from_array(X, chunks=(rows, X.shape[1]), asarray=False).persist()
        yd = da.from_array(np.asarray(y), chunks=rows).persist()
        curves = {}
        for name, kind, extra in _contenders():
            if straggle and kind == "local":
                continue
            curves[name] = _fit_curve(name, kind, extra, X, y, Xd, yd, client, epochs,
                                      straggle, sync_every)
        out[data_name] = curves
    return out


def round_cost(client, widths, rows=20_000, nnz=30):
    import dask.array as da

    from hogwild._bench._run import generated_data
    from hogwild.dask import DaskHogwildClassifier

    out = []
    for width in widths:
        X, y = generated_data(rows, width, nnz)[:2]
        Xd = da.from_array(X, chunks=(rows // 2, width), asarray=False).persist()
        yd = da.from_array(np.asarray(y), chunks=rows // 2).persist()
        est = DaskHogwildClassifier(**PARAMS, max_iter=4, n_jobs=1, client=client)
        est.fit(Xd, yd)
        rounds = est.history_[1:]  # the first round pays for first touches
        from hogwild import HogwildClassifier
        local = HogwildClassifier(**PARAMS, max_iter=4, n_jobs=1)
        start = time.perf_counter()
        local.fit(X, y)
        local_epoch = (time.perf_counter() - start) / 4
        ssp = DaskHogwildClassifier(**PARAMS, max_iter=4, n_jobs=1, client=client,
                                    sync="ssp", staleness=0).fit(Xd, yd)
        # a clock of the slowest slot: from one push of clock c to the next of c + 1
        ends = {}
        for slot, clock, seconds in ssp.history_["push_times"]:
            ends[clock] = max(ends.get(clock, 0.0), seconds)
        clock_seconds = float(np.median(np.diff([ends[c] for c in sorted(ends)])))
        entry = {"n_features": width, "rows": rows,
                 "round_seconds": float(np.median([r["seconds"] for r in rounds])),
                 "ssp_clock_seconds": clock_seconds,
                 "local_epoch_seconds": local_epoch,
                 "bytes_per_round": rounds[0]["bytes"]}
        out.append(entry)
        print(f"  {width:>10} features: round {entry['round_seconds']:.3f} s, ssp clock "
              f"{clock_seconds:.3f} s, local epoch {local_epoch:.3f} s, "
              f"{entry['bytes_per_round'] / 1e6:.1f} MB a round", flush=True)
    return out


def wire_precision(sets):
    """float32 against float64 changes on an in-process cluster (the module constant)."""
    import dask.array as da
    import distributed

    from hogwild._losses import estimator_objective
    from hogwild.dask import DaskHogwildClassifier, _worker

    out = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  host="127.0.0.1", protocol="tcp", dashboard_address=None,
                                  silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        for data_name, (X, y) in sets.items():
            rows = -(-X.shape[0] // 4)
            Xd = da.from_array(X, chunks=(rows, X.shape[1]), asarray=False).persist()
            yd = da.from_array(np.asarray(y), chunks=rows).persist()
            values = {}
            for dtype in (np.float32, np.float64):
                _worker.WIRE_DTYPE = dtype
                est = DaskHogwildClassifier(**PARAMS, max_iter=10, n_jobs=1, client=client)
                values[np.dtype(dtype).name] = estimator_objective(est.fit(Xd, yd), X, y)
            _worker.WIRE_DTYPE = np.float32
            out[data_name] = values
            print(f"  wire {data_name}: {values}", flush=True)
    return out


def time_to_target(results, slack=1.01):
    """Per experiment and data set: seconds (whole fit) to ``slack`` x the best objective seen."""
    table = {}
    for key in ("convergence", "straggler", "transient"):
        for data_name, curves in results[key].items():
            best = min(p["objective"] for c in results["convergence"][data_name].values()
                       for p in c)
            row = {}
            for name, points in curves.items():
                hit = next((p for p in points if p["objective"] <= slack * best), None)
                row[name] = None if hit is None else {"epochs": hit["epochs"],
                                                      "seconds": hit["seconds"]}
                last = points[-1]["objective"] / best
                reached = "not reached" if hit is None else f"{hit['seconds']:.3f} s"
                print(f"  {key:<11} {data_name:<14} {name:<18} {reached:>12}"
                      f"  (final objective {last:.4f} x best)")
            table.setdefault(key, {})[data_name] = row
    return table


def plot(results, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for key, title in (("convergence", "objective against time, 2 worker processes"),
                       ("straggler", "worker 1 sleeps after each clock"),
                       ("transient", "each worker sleeps after 1 clock in 4")):
        sets = results[key]
        fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 4.2), squeeze=False)
        for ax, (data_name, curves) in zip(axes[0], sets.items()):
            best = min(p["objective"] for c in curves.values() for p in c)
            for name, points in curves.items():
                ax.plot([p["seconds"] for p in points],
                        [p["objective"] - best + 1e-6 for p in points], marker="o",
                        label=name)
            ax.set_yscale("log")
            ax.set_xlabel("seconds (whole fit)")
            ax.set_ylabel("objective - best seen")
            ax.set_title(f"{data_name}: {title}", fontsize=10)
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / f"{key}.png", dpi=110)
        plt.close(fig)
    cost = results["round_cost"]
    fig, ax = plt.subplots(figsize=(6, 4))
    widths = [c["n_features"] for c in cost]
    ax.plot(widths, [c["round_seconds"] for c in cost], marker="o", label="average round")
    ax.plot(widths, [c["ssp_clock_seconds"] for c in cost], marker="o",
            label="ssp clock (s=0)")
    ax.plot(widths, [c["local_epoch_seconds"] for c in cost], marker="o",
            label="local epoch, same rows")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("features")
    ax.set_ylabel("seconds")
    ax.set_title("Cost of a round: 20,000 rows, 2 workers", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "round_cost.png", dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("hogwild-bench/dask"))
    parser.add_argument("--quick", action="store_true",
                        help="smaller data and fewer points (a smoke run)")
    parser.add_argument("--straggle", type=float, default=0.05,
                        help="seconds worker 1 sleeps after each clock (default: 0.05)")
    args = parser.parse_args(argv)
    import distributed

    # the data reach the workers inside the graph once; that is the point here
    warnings.filterwarnings("ignore", message="Sending large graph")
    args.out.mkdir(parents=True, exist_ok=True)
    epochs = (1, 3) if args.quick else EPOCHS
    sets = _datasets(args.quick)
    results = {"machine": os.cpu_count(), "params": PARAMS, "epochs": list(epochs)}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  worker_dashboard_address=None,
                                  silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        results["convergence"] = convergence(client, sets, epochs)
        # one worker always slow, then both slow now and then (the SSP paper's case)
        results["straggler"] = convergence(client, sets, epochs,
                                           straggle={1: args.straggle}, sync_every=0.5)
        results["transient"] = convergence(
            client, sets, epochs, straggle={0: (4 * args.straggle, 0.25),
                                            1: (4 * args.straggle, 0.25)}, sync_every=0.25)
        widths = (50_000, 1_000_000) if args.quick else (50_000, 1_000_000, 10_000_000)
        results["round_cost"] = round_cost(client, widths)
    results["wire"] = wire_precision(sets)
    results["time_to_target"] = time_to_target(results)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, args.out)
    print(f"wrote {args.out}/results.json and plots")


if __name__ == "__main__":
    main()
