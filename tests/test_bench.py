"""``hogwild bench``: the CLI end to end in a subprocess, and its objective helpers."""
import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import pytest
from sklearn.datasets import dump_svmlight_file
from sklearn.linear_model import SGDClassifier

import hogwild
from hogwild._bench import load_binary_svmlight, solve_optimum
from hogwild._losses import objective
from hogwild.datasets import make_sparse_classification

# tiny problem; alpha=1e-3 keeps LIBLINEAR's C small, so the exact hinge solve is quick
SMALL = ["--rows", "1500", "--features", "400", "--nnz-per-row", "15", "--epochs", "2",
         "--repeats", "2", "--alpha", "1e-3"]
HAS_MATPLOTLIB = find_spec("matplotlib") is not None


def run_cli(args, cwd):
    """``python -m hogwild ARGS`` from ``cwd``, importing the hogwild this test imports.

    The child runs outside the source tree so that it imports the installed
    package; PYTHONPATH passes through with its entries made absolute, since a
    relative entry (``PYTHONPATH=.``) would otherwise point into ``cwd``.
    """
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep) if p)
    return subprocess.run([sys.executable, "-m", "hogwild", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("bench")
    proc = run_cli(["bench", *SMALL, "--threads", "1,2", "--out", "out"], cwd)
    return proc, cwd / "out"


def test_bench_prints_a_table(generated_run):
    proc, _ = generated_run
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "train 1,200 x 400" in out and "loss=hinge" in out and "load average" in out
    for header in ("ms/epoch", "ns/nnz", "speed-up", "test acc", "partial_fit s", "epochs",
                   "one fit s", "fit gap"):
        assert header in out
    for name in ("scikit-learn SGD", "hogwild 1 thread", "hogwild 2 threads",
                 "hogwild 1 thread float32", "floor: X @ w + X.T @ r",
                 "floor: x_i . w, rows shuffled", "floor: x_i . w, rows shuffled, float32",
                 "floor: x_i . w, rows shuffled, 2 threads",
                 "LIBLINEAR LinearSVC"):
        assert name in out
    for peer in ("snapml", "vowpalwabbit"):
        if find_spec(peer) is None:
            assert f"{peer} not installed: skipped" in out
        else:  # pip install ".[peers]"
            assert f"\n{peer}" in out and "ms per fit of" in out
    if find_spec("snapml") is not None:  # to its own tolerance, at 1 and 2 threads
        assert "snapml 1 thread:" in out and "snapml 2 threads:" in out and ", gap " in out
    # the epoch table's columns are aligned: its rows are equally long
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("contender"))
    table = lines[start:start + 9]
    assert all(line.startswith("floor") for line in table[-4:])
    assert len({len(line) for line in table}) == 1


def test_bench_writes_results_json(generated_run):
    proc, out = generated_run
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert {"machine", "config", "data", "epoch_time", "float32", "floor", "optimum",
            "liblinear", "time_to_target", "peers", "wall_seconds"} <= results.keys()
    machine = results["machine"]
    assert machine["cpu_count"] >= 1
    assert len(machine["loadavg_before"]) == len(machine["loadavg_after"]) == 3
    if sys.platform == "linux":  # shares of /proc/stat's CPU time during the epoch race
        use = machine["cpu_use_epoch_race"]
        assert set(use) == {"this_process", "other_processes", "stolen"}
        assert all(0 <= share <= 1 for share in use.values())
        assert use["this_process"] + use["other_processes"] + use["stolen"] <= 1 + 1e-12
        assert "of all CPUs' time meanwhile: this process" in proc.stdout
    assert machine["versions"]["hogwild"] == hogwild.__version__
    assert results["data"]["n_train"] == 1200 and results["data"]["n_features"] == 400
    assert results["config"]["threads"] == [1, 2] and results["config"]["alpha"] == 1e-3

    rows = results["epoch_time"] + [results["float32"]]
    assert [r["name"] for r in rows] == ["scikit-learn SGD", "hogwild 1 thread",
                                         "hogwild 2 threads", "hogwild 1 thread float32"]
    for r in rows:
        spread = r["seconds_per_epoch"]
        assert 0 < spread["min"] <= spread["median"] <= spread["max"]
        assert len(spread["all"]) == 2
        assert r["ns_per_nnz"] > 0 and r["ratio_to_sklearn"] > 0
        assert 0.0 <= r["test_accuracy"] <= 1.0
    assert rows[1]["speedup_vs_1_thread"] == 1.0
    assert results["float32"]["ratio_to_float64"] > 0
    assert results["float32"]["floor_ratio_to_float64"] > 0
    assert "the shuffled read's, repeat by repeat:" in proc.stdout
    assert set(results["floor"]) == {"products", "shuffled_dots", "shuffled_dots_float32",
                                     "shuffled_dots_parallel"}
    parallel = results["floor"]["shuffled_dots_parallel"]
    assert parallel["threads"] == 2 and parallel["speedup_vs_1_thread"] > 0
    for floor in results["floor"].values():
        assert 0 < floor["seconds"]["min"] <= floor["seconds"]["median"]
        assert len(floor["seconds"]["all"]) >= 5 and floor["ns_per_nnz"] > 0

    optimum = results["optimum"]
    assert optimum["objective"] > 0 and optimum["converged"]
    assert results["liblinear"]["seconds"]["median"] > 0
    # the race: plain SGD and averaged SGD, to the generated data's target
    target = results["time_to_target"]
    plain = [r["name"] for r in rows[:3]]
    assert [r["name"] for r in target] == plain + [f"{name}, averaged" for name in plain]
    assert [r["averaged"] for r in target] == [False] * 3 + [True] * 3
    config = results["config"]
    assert config["target_contenders"] == [r["name"] for r in target]
    assert config["target_gap"] == 0.01
    assert config["target_set_by"] == "default on the generated data"
    assert ("Time to within 1% of the optimum (target: default on the generated data; "
            in proc.stdout)
    assert "plain and averaged (average=True)" in proc.stdout
    for r in target:
        gaps = [p["gap"] for p in r["trace"]]
        times = [p["seconds"] for p in r["trace"]]
        assert len(r["trace"]) == results["config"]["max_epochs_to_target"] == 8
        assert np.all(np.diff(times) > 0) and times[0] > 0
        # the optimum is a lower bound, up to the reference solver's tolerance
        assert -1e-3 < r["best_gap"] <= min(gaps)  # best over all repeats
        assert (r["seconds"] is None) == (r["reached"] == 0)
    # the 2-thread one-fit speed-up, beside the read's speed-up in the same rounds
    one, two = target[1], target[2]
    assert ("fit_speedup" in two) == (one["epochs"] is not None and two["epochs"] is not None)
    assert "fit_speedup" not in one and "fit_speedup" not in target[0]
    # an averaged 2-thread row is compared with the averaged 1-thread row
    one_avg, two_avg = target[4], target[5]
    assert "fit_speedup" not in one_avg
    if "fit_speedup" in two_avg:
        assert two_avg["fit_speedup"]["median"] == pytest.approx(np.median(
            np.divide(one_avg["fit_seconds"]["all"], two_avg["fit_seconds"]["all"])))
    if "fit_speedup" in two:
        fit, read = two["fit_speedup"], two["read_speedup"]
        assert len(fit["all"]) == len(read["all"]) == 2
        assert fit["median"] == pytest.approx(np.median(
            np.divide(one["fit_seconds"]["all"], two["fit_seconds"]["all"])))
        assert all(0 < v for v in fit["all"] + read["all"])
        assert f"hogwild 2 threads, one fit: {fit['median']:.2f}x" in proc.stdout
        assert f"the shuffled read between those rounds: {read['median']:.2f}x" in proc.stdout


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="plots need matplotlib")
def test_bench_draws_plots(generated_run):
    _, out = generated_run
    for name in ("objective_vs_time.png", "speedup_vs_threads.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_on_a_libsvm_file(tmp_path):
    X, y = make_sparse_classification(1000, 300, 0.05, n_classes=4, random_state=1)
    path = tmp_path / "four.svm"
    dump_svmlight_file(X, y + 1, str(path))                # classes 1..4, as LIBSVM files have
    proc = run_cli(["bench", "--data", str(path), *SMALL[6:], "--threads", "1",
                    "--loss", "log_loss"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    task = "4 classes made binary: the first half (1, 2) against the second half (3, 4)"
    assert f"bench: {path} ({task})" in proc.stdout and "train 800 x 300" in proc.stdout
    assert "loss=log_loss" in proc.stdout and "LIBLINEAR LogisticRegression" in proc.stdout
    assert "hogwild 2 threads" not in proc.stdout
    # without --out: the default folder, named on the last line
    out = tmp_path / "hogwild-bench" / "four-log_loss"
    assert (out / "results.json").is_file()
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["loss"] == "log_loss" and config["task"] == task
    assert config["target_gap"] == 0.001 and config["target_set_by"] == "default with --data"
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("wrote results.json") and str(Path("hogwild-bench") / "four-log_loss") in last
    assert "--out DIR" in last


def test_missing_file_is_a_one_line_error(tmp_path):
    proc = run_cli(["bench", "--data", "no-such-file.svm"], tmp_path)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "no-such-file.svm" in proc.stderr and "Traceback" not in proc.stderr


def test_version_and_subcommands(tmp_path):
    proc = run_cli(["--version"], tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"hogwild {hogwild.__version__}"
    proc = run_cli([], tmp_path)
    assert proc.returncode == 2 and "bench" in proc.stderr
    proc = run_cli(["bench", "--threads", "0,2"], tmp_path)
    assert proc.returncode == 2 and "positive thread counts" in proc.stderr


def test_bench_target_is_said_and_settable():
    from hogwild._cli import bench_target, build_parser
    assert bench_target(None, None) == (0.01, "default on the generated data")
    assert bench_target(None, "news20.bz2") == (0.001, "default with --data")
    assert bench_target(0.05, "news20.bz2") == (0.05, "--target")
    assert build_parser().parse_args(["bench", "--target", "0.005"]).target == 0.005


def test_more_than_two_classes_split_in_halves(tmp_path):
    X, y = make_sparse_classification(200, 50, 0.1, n_classes=5, random_state=0)
    path = tmp_path / "five.svm"
    dump_svmlight_file(X * 3, y + 1, str(path))
    Xb, yb, task = load_binary_svmlight(path)
    np.testing.assert_array_equal(yb, (y + 1 >= 3).astype(int))  # {1, 2} vs {3, 4, 5}
    assert task == "5 classes made binary: the first half (1, 2) against the second half (3-5)"
    two = tmp_path / "two.svm"
    dump_svmlight_file(X, np.where(y > 1, 1, -1), str(two))
    assert load_binary_svmlight(two)[2] is None  # two classes: nothing to say
    np.testing.assert_allclose(np.sqrt(Xb.multiply(Xb).sum(axis=1)).A1, 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shuffled_floor_reads_each_row_in_order(dtype):
    # the bench's shuffled floor: x_i . w for rows in the given order, the
    # same products scipy gives, on unsorted and empty rows too
    from hogwild._bench._reads import row_dots
    rng = np.random.default_rng(0)
    X = sp.random(300, 50, density=0.1, format="csr", random_state=0, dtype=dtype)
    X.indices[X.indptr[0]:X.indptr[1]] = X.indices[X.indptr[0]:X.indptr[1]][::-1]
    w = rng.standard_normal(50).astype(dtype)
    order = rng.permutation(300).astype(np.int64)
    out = np.full(300, np.nan)
    row_dots(X.data, X.indices, X.indptr, order, w, out)
    np.testing.assert_allclose(out, (X.astype(np.float64) @ w.astype(np.float64))[order],
                               rtol=1e-5, atol=1e-6)
    for n_threads in (2, 3):  # positions dealt out to threads: the same sums
        shared = np.full(300, np.nan)
        row_dots(X.data, X.indices, X.indptr, order, w, shared, n_threads)
        np.testing.assert_array_equal(shared, out)
    with pytest.raises(ValueError, match="n_threads must be at least 1"):
        row_dots(X.data, X.indices, X.indptr, order, w, out, 0)
    assert (X.getnnz(axis=1) == 0).any() and np.all(out[X.getnnz(axis=1)[order] == 0] == 0)
    bad = order.copy()
    bad[7] = 300
    with pytest.raises(ValueError, match=r"order\[7\] = 300 is not a row of the 300"):
        row_dots(X.data, X.indices, X.indptr, bad, w, out)
    with pytest.raises(ValueError, match="out has 299 entries"):
        row_dots(X.data, X.indices, X.indptr, order, w, out[1:])


def test_one_fit_speedup_is_read_beside_the_cores_own_scaling():
    # rounds of fits to a known epoch count, each followed by the shuffled
    # read at 1 and 2 threads: the 2-thread row gets both speed-ups
    from hogwild._bench._timing import Contender, _time_fit_to_target
    X, y = make_sparse_classification(600, 200, 0.05, random_state=0)
    params = dict(loss="hinge", alpha=1e-3, random_state=0)
    contenders = [Contender("sk", lambda: SGDClassifier(**params), 1, kind="scikit-learn"),
                  Contender("one", lambda: hogwild.HogwildClassifier(n_jobs=1, **params), 1),
                  Contender("two", lambda: hogwild.HogwildClassifier(n_jobs=2, **params), 2),
                  Contender("late", lambda: hogwild.HogwildClassifier(n_jobs=2, **params), 2)]
    rows = [{"epochs": 3.0}, {"epochs": 4.0}, {"epochs": 3.0}, {"epochs": None}]
    signed = np.where(y == 1, 1.0, -1.0)
    _time_fit_to_target(contenders, rows, X, y, signed, "hinge", 1e-3, 0.5, repeats=3)
    sk, one, two, late = rows
    assert "fit_speedup" not in sk and "fit_speedup" not in one
    assert "fit_seconds" not in late and "fit_speedup" not in late  # never reached the target
    fit, read = two["fit_speedup"], two["read_speedup"]
    np.testing.assert_allclose(fit["all"], np.divide(one["fit_seconds"]["all"],
                                                     two["fit_seconds"]["all"]))
    # a tiny read's ratio is at the mercy of timer noise: only its sign is sure
    assert len(read["all"]) == 3 and all(0 < v < np.inf for v in read["all"])
    # without a 1-thread row to divide by there is nothing to compare
    rows = [{"epochs": 3.0}, {"epochs": None}, {"epochs": 3.0}]
    _time_fit_to_target(contenders[:3], rows, X, y, signed, "hinge", 1e-3, 0.5, repeats=2)
    assert "fit_seconds" in rows[2] and "fit_speedup" not in rows[2]


def test_cpu_use_splits_the_machines_time():
    from hogwild._bench import cpu_use
    hz = os.sysconf("SC_CLK_TCK")
    before = {"busy": 0, "idle": 0, "steal": 0, "own_seconds": 1.0}
    # 4 s of CPU time: 2 busy (1.5 ours), 1 idle, 1 stolen
    after = {"busy": 2 * hz, "idle": hz, "steal": hz, "own_seconds": 2.5}
    use = cpu_use(before, after)
    assert use == pytest.approx({"this_process": 0.375, "other_processes": 0.125,
                                 "stolen": 0.25})
    assert cpu_use(None, after) is None and cpu_use(before, before) is None
    # tick rounding: the process counted more than the busy ticks it is part of
    rounded = cpu_use(before, {**after, "own_seconds": 4.0})
    assert rounded == pytest.approx({"this_process": 0.5, "other_processes": 0.0,
                                     "stolen": 0.25})


@pytest.mark.parametrize("loss, at_zero", [("hinge", 1.0), ("log_loss", np.log(2))])
def test_objective_helper(loss, at_zero):
    X, y = make_sparse_classification(300, 40, 0.2, random_state=0)
    signed = np.where(y == 1, 1.0, -1.0)
    w = np.zeros(X.shape[1])
    assert objective(w, 0.0, X, signed, loss, 0.1) == pytest.approx(at_zero)
    # the penalty is alpha / 2 ||w||^2; the intercept is not penalised
    w[:3] = [1.0, -2.0, 2.0]
    big_x = np.zeros_like(X.toarray())
    assert objective(w, 1e6, big_x, np.ones(300), loss, 0.1) == pytest.approx(0.45, abs=1e-9)
    # the exact optimum is no worse than what SGD reaches on the same objective
    opt = solve_optimum(X, y, loss, 1e-2)
    sgd = SGDClassifier(loss=loss, alpha=1e-2, max_iter=50, tol=None, random_state=0)
    sgd.fit(X, y)
    assert opt["objective"] <= objective(sgd.coef_, sgd.intercept_, X, signed, loss, 1e-2)
    # the stable log-loss holds at margins where exp overflows
    assert np.isfinite(objective(np.full(40, 1e3), 0.0, X, -signed, "log_loss", 0.0))
