"""``hogwild bench mf``: the split, the target arithmetic, the report and the CLI routing.

Tiny data, a second or two each; speed is never asserted. The core run
races hogwild alone, so it runs without any peer installed; the peers'
tests check that a missing or broken peer is reported, not a crash.
"""
import bz2
import json
import sys
from importlib.util import find_spec

import numpy as np
import pytest

from hogwild import MatrixFactorization
from hogwild._bench import _mf
from hogwild._bench import (dense_ids, epoch_counts, format_mf_report, run_mf_benchmark,
                            seconds_to_rmse, split_ratings, write_mf_results)
from hogwild.mf._cli import read_triples

HAS_MATPLOTLIB = find_spec("matplotlib") is not None
STRATEGIES = sorted(MatrixFactorization._parameter_constraints["strategy"][0].options)
#: one grid point a family: the run's logic, not its tuning, is under test
SMALL_GRIDS = {"hogwild": [{"alpha": 0.03, "eta0": 0.1}],
               "libmf": [{"lambda": 0.03, "eta": 0.1}],
               "surprise": [{"reg_all": 0.05, "lr_all": 0.01}]}
TINY = ["--users", "300", "--items", "100", "--ratings", "6000", "--components", "4",
        "--max-epochs", "3", "--repeats", "1", "--threads", "1,2"]


@pytest.fixture
def small_grids(monkeypatch):
    monkeypatch.setattr(_mf, "GRIDS", SMALL_GRIDS)
    monkeypatch.setattr(_mf, "SURPRISE_EPOCH_CHOICES", (2,))


@pytest.fixture(scope="module")
def tiny():
    return _mf.generated_ratings(300, 100, 6000)


def test_seconds_to_rmse_on_known_curves():
    trace = [(1.0, 0.9), (2.0, 0.7), (3.0, 0.65), (4.0, 0.66)]
    assert seconds_to_rmse(trace, 0.7) == 2.0
    assert seconds_to_rmse(trace, 0.65) == 3.0
    assert seconds_to_rmse(trace, 0.6) is None
    # a refitted peer's points are separate fits: a longer fit can be the faster one
    assert seconds_to_rmse([(3.0, 0.70), (2.5, 0.69)], 0.7) == 2.5


def test_epoch_counts_run_from_one_to_the_chosen_epochs():
    assert epoch_counts(5, 20) == [1, 2, 3, 4, 5]
    counts = epoch_counts(40, 8)
    assert counts[0] == 1 and counts[-1] == 40 and len(counts) <= 8
    assert counts == sorted(set(counts))


def test_split_shares_parts_and_drops_unseen_ids(tiny):
    ids, ratings = tiny
    parts, dropped = split_ratings(ids, ratings)
    n = len(ratings)
    assert len(parts["train"][1]) + len(parts["test"][1]) + dropped["test"] == n
    assert len(parts["tune"][1]) + len(parts["validation"][1]) + dropped["validation"] \
        == len(parts["train"][1])
    for held, fitted in (("test", "train"), ("validation", "tune")):
        for j in (0, 1):
            assert np.isin(parts[held][0][:, j], parts[fitted][0][:, j]).all()
    again, _ = split_ratings(ids, ratings)
    np.testing.assert_array_equal(again["test"][0], parts["test"][0])
    assert parts["train"][0].dtype == np.int32 and parts["train"][1].dtype == np.float32


def test_dense_ids_keep_the_order_of_the_ids():
    ids = np.array([[10, 193609], [3, 5], [10, 5]])
    np.testing.assert_array_equal(dense_ids(ids), [[1, 1], [0, 0], [1, 0]])


class _Clockwork(_mf.Runner):
    """A contender whose fit takes 0.5 s of set-up and 0.1 s an epoch per thread."""

    def fit_seconds(self, params, epochs, threads):
        self.fits.append((epochs, threads))
        return 0.5 + 0.1 * epochs / threads


def test_race_takes_the_set_up_out_of_the_epoch():
    runner = _Clockwork("clock", "hogwild", params={}, epochs=3)
    runner.fits = []
    rows = _mf.race([runner], threads=[1, 2], repeats=2, epochs=5)
    assert [(r["threads"], r["seconds_per_epoch"]["all"]) for r in rows] \
        == [(1, pytest.approx([0.1, 0.1])), (2, pytest.approx([0.05, 0.05]))]
    assert [r["setup_seconds"]["median"] for r in rows] == pytest.approx([0.5, 0.5])
    assert rows[0]["fit_seconds_per_epoch"]["median"] == pytest.approx(1.1 / 6)
    # a warm-up each, then rounds of 1 and 6 epochs, thread counts interleaved
    assert runner.fits == [(1, 1), (1, 2), (1, 1), (6, 1), (1, 2), (6, 2),
                           (1, 1), (6, 1), (1, 2), (6, 2)]


def _runner(name, family, **kw):
    return _mf.Runner(name, family, params={"a": 1.0}, epochs=3, **kw)


def test_target_and_speedups_on_known_curves():
    runners = [_runner("hog", "hogwild"), _runner("lib", "libmf"),
               _runner("svd", "surprise", dtype="float64", max_threads=1)]
    rows = [{"name": n, "family": f, "threads": t, "dtype": "float32",
             "seconds_per_epoch": {"median": s, "min": s, "max": s, "all": [s]}}
            for n, f, t, s in [("hog", "hogwild", 1, 0.1), ("hog", "hogwild", 2, 0.05),
                               ("lib", "libmf", 1, 0.2), ("lib", "libmf", 2, 0.04),
                               ("svd", "surprise", 1, 2.0)]]
    traces = {"hog": [[(1.0, 0.80), (2.0, 0.60), (3.0, 0.50)],
                      [(1.5, 0.80), (3.0, 0.60), (4.5, 0.50)]],
              "lib": [[(2.0, 0.70), (4.0, 0.52), (6.0, 0.505)]],
              "svd": [[(10.0, 0.75), (30.0, 0.62), (60.0, 0.61)]]}
    s = _mf.summarize(runners, rows, traces, n_train=1000)
    assert s["best_rmse"] == 0.5 and s["target"] == pytest.approx(0.505)
    c = s["contenders"]
    assert c["hog"]["seconds_to_target"]["all"] == [3.0, 4.5]
    assert c["hog"]["seconds_to_target"]["median"] == 3.75
    assert c["lib"]["seconds_to_target"]["median"] == 6.0
    assert c["svd"]["seconds_to_target"] is None and c["svd"]["reached"] == 0
    assert c["hog"]["target_speedup_vs_libmf"] == {"libmf": "lib", "speedup": 6.0 / 3.75}
    assert c["hog"]["epoch_speedup_vs_libmf"]["1"]["speedup"] == pytest.approx(2.0)
    assert c["hog"]["epoch_speedup_vs_libmf"]["2"]["speedup"] == pytest.approx(0.8)
    # Surprise's best, 0.61, at 60 s; hogwild gets there at 2.0 and 3.0 s
    assert s["surprise_best_rmse"] == 0.61 and s["surprise_seconds_to_best"] == 60.0
    assert c["hog"]["seconds_to_surprise_best"] == 2.5
    assert c["hog"]["speedup_vs_surprise"] == 24.0
    assert rows[0]["updates_per_second"] == pytest.approx(1000 / 0.1)
    holds = {t["target"]: t["holds"] for t in s["targets"]}
    assert holds["epoch time at 1 thread: hogwild no slower than LIBMF's best build"] is True
    assert holds["epoch time at 2 threads: hogwild no slower than LIBMF's best build"] is False
    assert holds["time to the target RMSE: hogwild below LIBMF's best build"] is True
    assert holds["at least 30x faster than Surprise SVD to its own best RMSE"] is False

    fixed = _mf.summarize(runners, rows, traces, n_train=1000, target=0.6)
    assert fixed["target"] == 0.6 and fixed["target_set_by"] == "--target"
    assert fixed["contenders"]["svd"]["seconds_to_target"] is None
    assert fixed["contenders"]["hog"]["seconds_to_target"]["all"] == [2.0, 3.0]


@pytest.fixture(scope="module")
def hogwild_only_run(tiny, tmp_path_factory):
    """The whole run with no peer: what a machine without LIBMF or Surprise gets."""
    ids, ratings = tiny
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_mf, "GRIDS", SMALL_GRIDS)
        results = run_mf_benchmark(ids, ratings, source="tiny", name="tiny", k=4,
                                   threads=[1, 2], repeats=2, max_epochs=4, peers=(),
                                   log=lambda line: None)
    out = tmp_path_factory.mktemp("mf") / "out"
    return results, write_mf_results(results, out), out


def test_results_hold_every_strategy_at_every_thread_count(hogwild_only_run):
    results, _, _ = hogwild_only_run
    names = [f"hogwild {s}" for s in STRATEGIES]
    assert sorted(results["summary"]["contenders"]) == names
    assert sorted((r["name"], r["threads"]) for r in results["epoch_time"]) \
        == sorted((n, t) for n in names for t in (1, 2))
    for r in results["epoch_time"]:
        # the epoch is a difference of two fits: on tiny data, noise can beat it
        assert r["fit_seconds_per_epoch"]["median"] > 0
        assert len(r["seconds_per_epoch"]["all"]) == len(r["setup_seconds"]["all"]) == 2
    s = results["summary"]
    assert s["target"] == pytest.approx(_mf.TARGET_FACTOR * s["best_rmse"])
    for name in names:
        c = s["contenders"][name]
        assert c["params"] == SMALL_GRIDS["hogwild"][0] and 1 <= c["epochs"] <= 4
        assert len(c["trace"]) == c["epochs"] and c["runs"] == 2
        seconds = [p["seconds"] for p in c["trace"]]
        assert seconds == sorted(seconds)  # one fit's clock, epoch after epoch
    assert results["data"]["n_train"] + results["data"]["n_test"] \
        + results["data"]["dropped_unseen"]["test"] == 6000
    assert results["tuning"]["hogwild"]["tuned_with"] == f"hogwild {MatrixFactorization().strategy}"
    assert results["notes"] == [_mf.IMPLICIT_NOTE]


def test_results_json_and_plots_are_written(hogwild_only_run):
    results, (written, notes), out = hogwild_only_run
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results))
    if HAS_MATPLOTLIB:
        assert notes == []
        for name in ("rmse_vs_time.png", "updates_vs_threads.png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib not installed" in notes[0]


def test_report_names_the_targets_and_implicit(hogwild_only_run):
    text = format_mf_report(hogwild_only_run[0])
    for fragment in ("bench mf: tiny", "load average", "s/epoch", "M updates/s", "best RMSE",
                     "s to target", "strategy that reaches the target soonest",
                     "implicit: not applicable"):
        assert fragment in text


def test_a_missing_or_broken_peer_is_reported_not_raised(tiny, small_grids, monkeypatch,
                                                           tmp_path):
    monkeypatch.setitem(sys.modules, "surprise", None)  # import surprise: ImportError
    ids, ratings = tiny
    results = run_mf_benchmark(ids, ratings, source="tiny", name="tiny", k=4, threads=[1],
                               repeats=1, max_epochs=2, libmf_obj=str(tmp_path / "none.so"),
                               log=lambda line: None)
    c = results["summary"]["contenders"]
    assert c["Surprise SVD"]["status"].startswith("not installed")
    assert c["LIBMF AVX build"]["status"] != "ok"
    assert "trace" not in c["LIBMF AVX build"] and "trace" not in c["Surprise SVD"]
    if find_spec("libmf") is None:
        assert c["LIBMF PyPI build"]["status"].startswith("not installed")
    text = format_mf_report(results)
    assert "Surprise SVD: not installed" in text and "LIBMF AVX build: " in text


@pytest.mark.skipif(find_spec("libmf") is None, reason="needs the libmf binding")
def test_libmf_runs_in_its_own_process(tiny, small_grids):
    ids, ratings = tiny
    parts, _ = split_ratings(ids, ratings)
    runner = _mf.make_runners(parts, 4, peers=("libmf",))[-1]
    try:
        curve = runner.validation_rmse(SMALL_GRIDS["libmf"][0], 3, 1)
        assert sorted(curve) == [1, 2, 3] and all(0 < v < 2 for v in curve.values())
        trace = runner.test_trace(SMALL_GRIDS["libmf"][0], 3, 2)
        assert len(trace) == 3 and all(s > 0 and 0 < e < 2 for s, e in trace)
        assert runner.library.endswith(".so")
    finally:
        runner.close()
    assert runner._process is None


@pytest.mark.skipif(find_spec("libmf") is None, reason="needs the libmf binding")
def test_a_silent_libmf_process_is_killed_and_reported(tiny, monkeypatch):
    monkeypatch.setattr(_mf, "LIBMF_TIMEOUT", 0)  # no process answers that fast
    ids, ratings = tiny
    parts, _ = split_ratings(ids, ratings)
    runner = _mf.make_runners(parts, 4, peers=("libmf",))[-1]
    assert _mf._guarded(runner, runner.fit_seconds, SMALL_GRIDS["libmf"][0], 1, 1) is None
    assert runner.status == "failed: no answer in 0 s, twice: killed" and runner.hangs == 2
    assert runner._process is None


@pytest.mark.skipif(find_spec("surprise") is None, reason="needs scikit-surprise")
def test_surprise_is_scored_with_its_own_ids(tiny):
    ids, ratings = tiny
    parts, _ = split_ratings(ids, ratings)
    runner = _mf.make_runners(parts, 4, peers=("surprise",))[-1]
    params = SMALL_GRIDS["surprise"][0]
    (seconds, rmse), = runner.test_trace(params, 1, 1)
    # the same model scored by Surprise itself, pair by pair
    from surprise import SVD

    trainset = runner._trainset("train")[0]
    model = SVD(n_factors=4, n_epochs=1, random_state=0, **params).fit(trainset)
    own = [model.predict(u, i, clip=False).est for u, i in parts["test"][0].tolist()]
    assert rmse == pytest.approx(np.sqrt(np.mean((np.array(own) - parts["test"][1]) ** 2)),
                                 rel=1e-5)


def test_cli_routes_bench_mf(tmp_path, run_main, small_grids, monkeypatch):
    monkeypatch.delenv("LIBMF_OBJ", raising=False)
    proc = run_main(["bench", "mf", *TINY, "--out", "out"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "bench mf: generated (make_ratings: 300 users x 100 items, 6,000 ratings" \
        in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("wrote results.json")
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["config"]["k"] == 4 and results["config"]["threads"] == [1, 2]
    assert results["config"]["max_epochs"] == 3 and results["config"]["repeats"] == 1


def test_cli_reads_a_compressed_ratings_file(tmp_path, run_main, small_grids):
    rng = np.random.default_rng(0)
    lines = ["userId,movieId,rating,timestamp"] + [
        f"{u * 7},{i * 1000},{r:.1f},0" for u, i, r in
        zip(rng.integers(0, 60, 3000), rng.integers(0, 40, 3000), rng.uniform(1, 5, 3000))]
    (tmp_path / "ratings.csv.bz2").write_bytes(bz2.compress("\n".join(lines).encode()))
    ids, ratings = read_triples(str(tmp_path / "ratings.csv.bz2"))
    assert ids.shape == (3000, 2) and ratings[0] == float(lines[1].split(",")[2])
    proc = run_main(["bench", "mf", "--data", "ratings.csv.bz2", "--components", "4",
                     "--max-epochs", "2", "--repeats", "1", "--threads", "1"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "hogwild-bench" / "ratings-mf" / "results.json")
                         .read_text())
    assert results["data"]["n_users"] <= 60 and results["data"]["n_items"] <= 40


@pytest.mark.parametrize("args, fragment", [
    (["bench", "mf", "--loss", "log_loss"], "--loss: option of `hogwild bench linear`"),
    (["bench", "mf", "--rows", "10", "--epochs", "2"], "--rows, --epochs: options of"),
    (["bench", "--components", "8"], "--components: option of `hogwild bench mf`"),
    (["bench", "linear", "--libmf-obj", "x.so"], "not of `hogwild bench linear`"),
])
def test_options_of_the_other_mode_are_refused(tmp_path, run_main, args, fragment):
    proc = run_main(args, tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("hogwild bench: error: ") and fragment in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bench_mode_defaults_to_linear(tmp_path, run_main):
    from hogwild._cli import build_parser
    assert build_parser().parse_args(["bench"]).mode == "linear"
    assert build_parser().parse_args(["bench", "--loss", "log_loss"]).mode_options \
        == [("linear", "--loss")]
    proc = run_main(["bench", "--help"], tmp_path)
    assert proc.returncode == 0
    for fragment in ("{linear,mf}", "bench mf (matrix factorization)", "--libmf-obj",
                     "--components", "--users"):
        assert fragment in proc.stdout
    proc = run_main(["bench", "mf", "--ratings", "100000", "--users", "10", "--items", "10"],
                    tmp_path)
    assert proc.returncode == 1 and "more than half" in proc.stderr
