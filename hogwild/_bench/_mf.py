"""``hogwild bench mf``: hogwild's matrix factorization against LIBMF and Surprise.

Every contender sees the same split of the ratings: a test part (10%), and
from the rest a validation part (10% of it) held out for tuning. Test and
validation pairs whose user or item the fitted part never saw are dropped,
so no contender is judged on its cold-start rule. Each family is tuned once
on the validation part over a small grid of its regularisation and learning
rate (hogwild with its default strategy, LIBMF with its AVX build when
there is one, at the most threads); every contender then takes the epoch
count of its lowest validation RMSE at the chosen values, and is fitted on
the whole training part:

- hogwild (every ``strategy``, float32): one fit, the test RMSE scored after
  each epoch through ``MatrixFactorization._epoch_hook``, the scoring's time
  left out of the clock;
- LIBMF (the PyPI ``libmf`` binding, and a build of the same sources with
  AVX given by ``--libmf-obj``), each in its own process, since the binding
  picks its library (``LIBMF_OBJ``) at import: the binding has no per-epoch
  hook, so each point of its curve is a whole fit of that many epochs;
- Surprise's ``SVD`` (single-threaded, float64), likewise a whole fit per
  point, at fewer epoch counts (its epochs are far slower).

implicit is not a contender: its ALS and BPR fit implicit feedback (a
preference for every user-item pair, or a ranking), so they predict no
rating whose RMSE could be compared.

Speed is measured by an interleaved race (fits of 1 and of 6 epochs, each
contender at each thread count in turn, after a warm-up: an epoch is the
difference over 5, the set-up what the 1-epoch fit has besides) and by the
time each contender's test RMSE takes to come within 1% of the best any
contender reaches.
"""
import os
import pickle
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from .. import MatrixFactorization
from .._threads import resolve_n_jobs
from ..datasets import make_ratings
from ._report import _table, cpu_use_note, load_average, write_results
from ._run import machine_info
from ._timing import _cpu_times, _spread, cpu_use

#: the generated data of the default run: the issue's reference point
#: (100k users x 20k items, 5M ratings) scaled down, its shape kept, so
#: that Surprise's tuning fits into the run's budget (docs/benchmarks.md)
DEFAULT_USERS, DEFAULT_ITEMS, DEFAULT_RATINGS = 40_000, 8_000, 2_000_000
DEFAULT_COMPONENTS = 32
TEST_FRACTION = VALIDATION_FRACTION = 0.1
#: the time-to-target race's target: this factor times the best test RMSE
TARGET_FACTOR = 1.01
MAX_EPOCHS = 40
#: epochs of one fit in the epoch-time race
RACE_EPOCHS = 5
#: a tuning fit stops after this many epochs without a lower validation RMSE
PATIENCE = 3

#: each family's tuning grid: its L2 strength and its (AdaGrad) step
GRIDS = {
    "hogwild": [{"alpha": a, "eta0": e} for a in (0.01, 0.02, 0.04, 0.08, 0.16)
              for e in (0.05, 0.1, 0.2)],
    "libmf": [{"lambda": a, "eta": e} for a in (0.01, 0.02, 0.04, 0.08, 0.16)
              for e in (0.05, 0.1, 0.2)],
    "surprise": [{"reg_all": a, "lr_all": e} for a in (0.02, 0.05, 0.1) for e in (0.01, 0.02)],
}
#: Surprise has no per-epoch probe: its grid runs at one epoch count, and the
#: chosen values are then refitted at the others
SURPRISE_GRID_EPOCHS, SURPRISE_EPOCH_CHOICES = 20, (10, 20, 40)
#: seconds a LIBMF process may take to answer, far more than any fit of the run takes
LIBMF_TIMEOUT = 120
#: at most this many points on a refitted contender's test curve
CURVE_POINTS = {"libmf": 20, "surprise": 8}

IMPLICIT_NOTE = ("implicit: not applicable: its ALS and BPR fit implicit feedback (a "
                 "preference for every user-item pair, or a ranking), not the ratings' "
                 "values, so they have no rating RMSE to compare")


class PeerError(Exception):
    """A peer that could not run: its reason is reported, the run goes on."""


# ------------------------------------------------------------------ the data

def generated_ratings(n_users=DEFAULT_USERS, n_items=DEFAULT_ITEMS, n_ratings=DEFAULT_RATINGS,
                      random_state=0):
    """Netflix-shaped ratings from :func:`hogwild.datasets.make_ratings` (noise 0.5, rank 10).

    Returns
    -------
    ids : ndarray of shape (n_ratings, 2), int32
    ratings : ndarray of shape (n_ratings,), float32
    """
    return make_ratings(n_users, n_items, n_ratings, random_state=random_state)


def dense_ids(ids):
    """User and item ids renumbered 0, 1, 2, ... in order of their value.

    LIBMF and hogwild size their tables by the largest id; MovieLens's
    movie ids run to 193,609 for 9,724 movies.
    """
    return np.column_stack([np.unique(ids[:, j], return_inverse=True)[1] for j in (0, 1)])


def split_ratings(ids, ratings, random_state=0):
    """The parts every contender sees: train, tune (+ validation) and test.

    Returns
    -------
    parts : dict
        ``name -> (ids, ratings)`` for ``train``, ``tune`` (train less the
        validation pairs), ``validation`` and ``test``; ids int32, ratings
        float32.
    dropped : dict
        Validation and test pairs left out because the part fitted before
        them has no rating of their user or item.
    """
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    ratings = np.ascontiguousarray(ratings, dtype=np.float32)
    rows = np.arange(len(ratings))
    train, test = train_test_split(rows, test_size=TEST_FRACTION, random_state=random_state)
    tune, validation = train_test_split(train, test_size=VALIDATION_FRACTION,
                                        random_state=random_state)
    parts, dropped = {"train": train, "tune": tune}, {}
    for name, held, fitted in (("validation", validation, tune), ("test", test, train)):
        seen = (np.isin(ids[held, 0], ids[fitted, 0]) & np.isin(ids[held, 1], ids[fitted, 1]))
        parts[name], dropped[name] = held[seen], int((~seen).sum())
    return {k: (ids[v], ratings[v]) for k, v in parts.items()}, dropped


def seconds_to_rmse(trace, target):
    """The least wall time at which a trace's test RMSE is at most ``target``.

    Parameters
    ----------
    trace : list of (seconds, rmse)
    target : float

    Returns
    -------
    seconds : float or None
        None when no point reaches ``target``.
    """
    hits = [s for s, rmse in trace if rmse <= target]
    return min(hits) if hits else None


def epoch_counts(epochs, points):
    """The epoch counts a refitted contender's curve is drawn at: every count
    up to ``epochs`` if they are at most ``points``, else at most ``points``
    counts spaced geometrically from 1 to ``epochs``, both included."""
    if epochs <= points:
        return list(range(1, epochs + 1))
    return sorted({int(round(e)) for e in np.geomspace(1, epochs, points)})


# ------------------------------------------------------------ the contenders

class _Silent(Exception):
    """A LIBMF worker that gave no answer in ``LIBMF_TIMEOUT`` seconds."""


class _Stop(Exception):
    """Raised from the epoch hook to end a tuning fit that stopped improving."""


@dataclass
class Runner:
    """One contender: how to tune it, time it and draw its test curve."""

    name: str
    family: str
    dtype: str = "float32"
    max_threads: int = None  # None: any thread count
    status: str = "ok"
    params: dict = None
    epochs: int = None
    validation: dict = None

    def thread_counts(self, threads):
        return [t for t in threads if self.max_threads is None or t <= self.max_threads]

    def close(self):
        """Release what the runner holds between the phases of the run."""


@dataclass
class HogwildRunner(Runner):
    """``MatrixFactorization`` with one ``strategy``, in this process."""

    strategy: str = "blocks"
    k: int = DEFAULT_COMPONENTS
    parts: dict = field(default=None, repr=False)

    def _model(self, params, epochs, threads):
        return MatrixFactorization(self.k, alpha=params["alpha"], eta0=params["eta0"],
                                   max_iter=epochs, n_jobs=threads, strategy=self.strategy,
                                   dtype=np.float32, random_state=0)

    def validation_rmse(self, params, max_epochs, threads):
        """Validation RMSE after each epoch, until ``PATIENCE`` epochs bring no new low."""
        val_ids, val_r = self.parts["validation"]
        curve = []

        def hook(model):
            curve.append(root_mean_squared_error(val_r, model.predict(val_ids)))
            if len(curve) - 1 - int(np.argmin(curve)) >= PATIENCE:
                raise _Stop

        model = self._model(params, max_epochs, threads)
        model._epoch_hook = hook
        try:
            model.fit(*self.parts["tune"])
        except _Stop:
            pass
        return dict(enumerate(curve, start=1))

    def fit_seconds(self, params, epochs, threads):
        model = self._model(params, epochs, threads)
        start = time.perf_counter()
        model.fit(*self.parts["train"])
        return time.perf_counter() - start

    def test_trace(self, params, epochs, threads):
        """``(seconds, test RMSE)`` after each epoch of one fit, scoring time excluded."""
        test_ids, test_r = self.parts["test"]
        trace, scoring = [], 0.0

        def hook(model):
            nonlocal scoring
            now = time.perf_counter()
            trace.append((now - start - scoring,
                          root_mean_squared_error(test_r, model.predict(test_ids))))
            scoring += time.perf_counter() - now

        model = self._model(params, epochs, threads)
        model._epoch_hook = hook
        start = time.perf_counter()
        model.fit(*self.parts["train"])
        return trace


def _libmf_serve():
    """The body of a LIBMF process: holds one LIBMF library and fits on request.

    The binding picks its library from ``LIBMF_OBJ`` (unset: the one pip
    installed) when it is imported, hence a process per build. LIBMF and the
    binding print to stdout, so the answers leave by a copy of file
    descriptor 1 and descriptor 1 goes to /dev/null, or to a file while a
    validation fit's per-iteration lines are read. Pickles come in on stdin:
    first ``(parts, k)``, then requests ``(method, kwargs)`` until None or
    EOF; each answer is ``("ok", value)`` or ``("error", text)``.
    """
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    requests = sys.stdin.buffer

    def send(status, value):
        pickle.dump((status, value), answers)
        answers.flush()

    parts, k = pickle.load(requests)
    try:
        from libmf import mf as libmf
    except BaseException as exc:  # a missing package, a library that does not load
        send("error", f"{type(exc).__name__}: {exc}")
        return
    # (n, 3) float32 rows (user, item, rating), the binding's input
    triples = {name: np.column_stack([ids, r]).astype(np.float32)
               for name, (ids, r) in parts.items()}

    def model(params, epochs, threads, quiet=True):
        return libmf.MF(k=k, nr_threads=threads, nr_bins=max(26, 2 * threads + 1),
                        nr_iters=epochs, lambda_p1=0.0, lambda_q1=0.0,
                        lambda_p2=params["lambda"], lambda_q2=params["lambda"],
                        eta=params["eta"], quiet=quiet)

    def fit_seconds(params, epochs, threads):
        mf = model(params, epochs, threads)
        start = time.perf_counter()
        mf.fit(triples["train"])
        return time.perf_counter() - start, mf

    def test_point(params, epochs, threads):
        seconds, mf = fit_seconds(params, epochs, threads)
        ids, r = parts["test"]
        # the binding's predict reads its (n, 2) array column by column
        pred = mf.predict(np.asfortranarray(ids, dtype=np.float32))
        return seconds, root_mean_squared_error(r, pred)

    def validation_rmse(params, max_epochs, threads):
        mf = model(params, max_epochs, threads, quiet=False)
        with tempfile.TemporaryFile() as out:
            os.dup2(out.fileno(), 1)
            try:
                mf.mf_train_test(triples["tune"], triples["validation"])
            finally:
                os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            out.seek(0)
            rows = [line.split() for line in out.read().decode().splitlines()]
        # "iter tr_rmse va_rmse obj", iterations counted from 0
        return {int(row[0]) + 1: float(row[2]) for row in rows if row and row[0].isdigit()}

    methods = {"fit_seconds": lambda **kw: fit_seconds(**kw)[0], "test_point": test_point,
               "validation_rmse": validation_rmse}
    send("ok", libmf.compiled_src)
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        if request is None:
            return
        method, kwargs = request
        try:
            send("ok", methods[method](**kwargs))
        except Exception as exc:
            send("error", f"{type(exc).__name__}: {exc}")


@dataclass
class LibmfRunner(Runner):
    """LIBMF through the ``libmf`` binding, in a process of its own (:func:`_libmf_serve`).

    A new process serves each phase of the run: the binding frees neither
    its copy of the ratings nor the model of a fit.
    """

    obj: str = None
    k: int = DEFAULT_COMPONENTS
    parts: dict = field(default=None, repr=False)
    library: str = None
    hangs: int = 0
    _process: object = field(default=None, repr=False)
    _stderr: object = field(default=None, repr=False)

    def _call(self, method, **kwargs):
        """The worker's answer; a worker silent for ``LIBMF_TIMEOUT`` s is killed
        and the request tried once more in a new one (LIBMF has hung, rarely,
        inside a fit on MovieLens: no CPU used, no answer)."""
        try:
            return self._request(method, kwargs)
        except _Silent:
            self.hangs += 1
            self.close()
        try:
            return self._request(method, kwargs)
        except _Silent:
            self.hangs += 1
            self.close()
            raise PeerError(f"no answer in {LIBMF_TIMEOUT} s, twice: killed") from None

    def _request(self, method, kwargs):
        if self._process is None:
            env = dict(os.environ)
            env.pop("LIBMF_OBJ", None)
            if self.obj:
                env["LIBMF_OBJ"] = self.obj
            # the child imports this hogwild, wherever the parent found it
            here = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
            self._stderr = tempfile.TemporaryFile()
            self._process = subprocess.Popen(
                [sys.executable, "-c", "from hogwild._bench._mf import _libmf_serve; "
                 "_libmf_serve()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, env=env)
            self._send((self.parts, self.k))
            self.library = self._answer()
        self._send((method, kwargs))
        return self._answer()

    def _send(self, message):
        try:
            pickle.dump(message, self._process.stdin)
            self._process.stdin.flush()
        except BrokenPipeError:
            self._failed()

    def _answer(self):
        if not select.select([self._process.stdout], [], [], LIBMF_TIMEOUT)[0]:
            raise _Silent
        try:
            status, value = pickle.load(self._process.stdout)
        except EOFError:
            self._failed()
        if status == "error":
            raise PeerError(value)
        return value

    def _failed(self):
        code = self._process.wait()
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace").strip().splitlines()[-1:]
        self.close()
        raise PeerError(f"its process ended (exit status {code})"
                        + (f": {tail[0]}" if tail else "")) from None

    def close(self):
        if self._process is not None:
            try:
                self._send(None)
                self._process.stdin.close()
            except (OSError, PeerError):
                pass
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._stderr.close()
            self._process = None

    def validation_rmse(self, params, max_epochs, threads):
        return self._call("validation_rmse", params=params, max_epochs=max_epochs,
                          threads=threads)

    def fit_seconds(self, params, epochs, threads):
        return self._call("fit_seconds", params=params, epochs=epochs, threads=threads)

    def test_trace(self, params, epochs, threads):
        return [tuple(self._call("test_point", params=params, epochs=e, threads=threads))
                for e in epoch_counts(epochs, CURVE_POINTS["libmf"])]


@dataclass
class SurpriseRunner(Runner):
    """Surprise's ``SVD`` (biased, SGD), single-threaded, float64."""

    k: int = DEFAULT_COMPONENTS
    parts: dict = field(default=None, repr=False)
    _trainsets: dict = field(default_factory=dict, repr=False)

    def _trainset(self, name):
        """Surprise's own form of a part, built once, outside the clock; and
        lookup tables from our ids to its inner ones."""
        if name not in self._trainsets:
            import pandas as pd
            from surprise import Dataset, Reader

            ids, r = self.parts[name]
            frame = pd.DataFrame({"user": ids[:, 0], "item": ids[:, 1], "rating": r})
            reader = Reader(rating_scale=(float(r.min()), float(r.max())))
            trainset = Dataset.load_from_df(frame, reader).build_full_trainset()
            tables = []
            for inner, to_raw in ((trainset.all_users(), trainset.to_raw_uid),
                                  (trainset.all_items(), trainset.to_raw_iid)):
                inner = np.fromiter(inner, dtype=np.int64)
                table = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
                table[[int(to_raw(i)) for i in inner]] = inner
                tables.append(table)
            self._trainsets[name] = trainset, tables
        return self._trainsets[name]

    def _fit(self, params, epochs, fitted):
        from surprise import SVD

        trainset, tables = self._trainset(fitted)
        model = SVD(n_factors=self.k, n_epochs=epochs, random_state=0, **params)
        start = time.perf_counter()
        model.fit(trainset)
        return time.perf_counter() - start, model, trainset, tables

    def _rmse(self, fitted, held, params, epochs):
        seconds, model, trainset, (users, items) = self._fit(params, epochs, fitted)
        ids, r = self.parts[held]
        u, i = users[ids[:, 0]], items[ids[:, 1]]
        # Surprise's estimate, unclipped as the other contenders' are
        pred = (trainset.global_mean + model.bu[u] + model.bi[i]
                + np.einsum("ij,ij->i", model.pu[u], model.qi[i]))
        return seconds, root_mean_squared_error(r, pred)

    def validation_rmse(self, params, max_epochs, threads, epochs=None):
        epochs = min(epochs or SURPRISE_GRID_EPOCHS, max_epochs)
        return {epochs: self._rmse("tune", "validation", params, epochs)[1]}

    def fit_seconds(self, params, epochs, threads):
        return self._fit(params, epochs, "train")[0]

    def test_trace(self, params, epochs, threads):
        return [self._rmse("train", "test", params, e)
                for e in epoch_counts(epochs, CURVE_POINTS["surprise"])]


def _surprise_missing():
    try:
        import surprise  # noqa: F401
    except ImportError as exc:
        return f"not installed ({exc}; pip install scikit-surprise)"
    return None


def make_runners(parts, k, libmf_obj=None, peers=("libmf", "surprise")):
    """Every contender of the run, peers that cannot run marked with the reason.

    Returns
    -------
    runners : list of Runner
        hogwild's strategies (its default first), LIBMF's AVX build (when
        ``libmf_obj`` is given) and PyPI build, Surprise's SVD.
    """
    default = MatrixFactorization().strategy
    options = MatrixFactorization._parameter_constraints["strategy"][0].options
    runners = [HogwildRunner(f"hogwild {s}", "hogwild", strategy=s, k=k, parts=parts)
               for s in sorted(options, key=lambda s: (s != default, s))]
    if "libmf" in peers:
        missing = None if find_spec("libmf") else "not installed (pip install libmf)"
        if libmf_obj:
            runners.append(LibmfRunner("LIBMF AVX build", "libmf", obj=os.path.abspath(libmf_obj),
                                       k=k, parts=parts))
        runners.append(LibmfRunner("LIBMF PyPI build", "libmf", obj=None, k=k, parts=parts))
        for runner in runners:
            if runner.family == "libmf":
                runner.status = missing or "ok"
    if "surprise" in peers:
        runner = SurpriseRunner("Surprise SVD", "surprise", dtype="float64", max_threads=1,
                                k=k, parts=parts)
        runner.status = _surprise_missing() or "ok"
        runners.append(runner)
    return runners


def _guarded(runner, call, *args, **kwargs):
    """``call(*args)``, or None with the runner marked failed when the peer cannot run."""
    try:
        return call(*args, **kwargs)
    except PeerError as exc:
        runner.status = f"failed: {exc}"
        runner.close()
        return None


# ------------------------------------------------------------------ the run

def tune(runners, max_epochs, threads, log):
    """Grid of each family on the validation part; then each contender's epochs.

    Returns
    -------
    tuning : dict
        ``family -> {"tuned_with": name, "grid": [{params, epochs,
        validation_rmse}], "chosen": params}``; each runner's ``params``,
        ``epochs`` and ``validation_rmse`` are set.
    """
    tuning = {}
    for family in ("hogwild", "libmf", "surprise"):
        members = [r for r in runners if r.family == family and r.status == "ok"]
        grid, lead = [], None
        for runner in members:  # the first that runs leads the family's grid
            t = max(runner.thread_counts(threads))
            for params in GRIDS[family]:
                curve = _guarded(runner, runner.validation_rmse, params, max_epochs, t)
                if curve is None:
                    break
                epochs = min(curve, key=curve.get)
                grid.append({"params": params, "epochs": epochs,
                             "validation_rmse": curve[epochs]})
                log(f"  tuning {runner.name}: {_params(params)}: validation RMSE "
                    f"{curve[epochs]:.4f} at {epochs} epochs")
            if runner.status == "ok":
                lead = runner
                break
            grid = []
        if lead is None:
            continue
        best = min(grid, key=lambda g: g["validation_rmse"])
        tuning[family] = {"tuned_with": lead.name, "grid": grid, "chosen": best["params"]}
        for runner in members:
            if runner.status != "ok":
                continue
            runner.params = best["params"]
            if runner is lead:
                curve = {best["epochs"]: best["validation_rmse"]}
            else:
                curve = _guarded(runner, runner.validation_rmse, best["params"], max_epochs,
                                 max(runner.thread_counts(threads)))
                if curve is None:
                    continue
            if family == "surprise":  # its grid saw one epoch count: try the others
                for epochs in SURPRISE_EPOCH_CHOICES:
                    if epochs <= max_epochs and epochs not in curve:
                        curve.update(runner.validation_rmse(best["params"], max_epochs, 1,
                                                            epochs=epochs))
            runner.epochs = min(curve, key=curve.get)
            runner.validation = {"epochs_tried": {str(e): v for e, v in sorted(curve.items())},
                                 "rmse": curve[runner.epochs]}
            log(f"  {runner.name}: {_params(runner.params)}, {runner.epochs} epochs, "
                f"validation RMSE {curve[runner.epochs]:.4f}")
    for runner in runners:
        runner.close()
    return tuning


def race(runners, threads, repeats, epochs=RACE_EPOCHS):
    """Seconds per epoch of each contender at each thread count, interleaved.

    One warm-up fit of one epoch each, then ``repeats`` rounds in which each
    (contender, threads) fits 1 and then ``1 + epochs`` epochs on the
    training part, in turn. A fit's set-up (copying and grouping the
    ratings, the initial factors) is paid once however many epochs follow
    and weighs as much as a few epochs (docs/benchmarks.md), so the epoch's
    own cost is the difference of the two fits over ``epochs``, and the
    set-up is the 1-epoch fit less one such epoch.

    Returns
    -------
    rows : list of dict
        ``name``, ``family``, ``threads``, ``dtype``; ``seconds_per_epoch``
        (the difference, per epoch), ``setup_seconds`` and
        ``fit_seconds_per_epoch`` (the longer fit / its epochs): each median,
        min, max and all over the rounds.
    """
    entries = [(r, t) for r in runners if r.status == "ok" and r.epochs
               for t in r.thread_counts(threads)]
    for r, t in entries:
        _guarded(r, r.fit_seconds, r.params, 1, t)
    seconds = {(r.name, t): [] for r, t in entries}
    for _ in range(repeats):
        for r, t in entries:
            if r.status == "ok":
                one = _guarded(r, r.fit_seconds, r.params, 1, t)
                more = None if one is None else _guarded(r, r.fit_seconds, r.params,
                                                         1 + epochs, t)
                if more is not None:
                    seconds[r.name, t].append((one, more))
    for r in runners:
        r.close()
    rows = []
    for r, t in entries:
        if seconds[r.name, t]:
            one, more = np.array(seconds[r.name, t]).T
            epoch = (more - one) / epochs
            rows.append({"name": r.name, "family": r.family, "threads": t, "dtype": r.dtype,
                         "seconds_per_epoch": _spread(epoch),
                         "setup_seconds": _spread(one - epoch),
                         "fit_seconds_per_epoch": _spread(more / (1 + epochs))})
    return rows


def curves(runners, threads, repeats):
    """Test RMSE against wall time for each contender at the most threads.

    hogwild's fits are cheap and repeated ``repeats`` times, interleaved;
    each point of a refitted peer's curve is a fit of its own, drawn once.

    Returns
    -------
    traces : dict
        ``name -> list of traces``, a trace a list of (seconds, rmse).
    """
    traces = {r.name: [] for r in runners if r.status == "ok" and r.epochs}
    for round_ in range(repeats):
        for r in runners:
            if r.name not in traces or r.status != "ok" or (round_ and r.family != "hogwild"):
                continue
            trace = _guarded(r, r.test_trace, r.params, r.epochs, max(r.thread_counts(threads)))
            if trace:
                traces[r.name].append([(float(s), float(e)) for s, e in trace])
        for r in runners:
            r.close()
    return {name: t for name, t in traces.items() if t}


def _params(params):
    return " ".join(f"{k}={v:g}" for k, v in params.items())


def summarize(runners, rows, traces, n_train, target=None):
    """Per-contender figures, the target, the speed-ups and the issue's targets.

    Parameters
    ----------
    runners : list of Runner
    rows : list of dict
        What :func:`race` returns.
    traces : dict
        What :func:`curves` returns.
    n_train : int
        Ratings in the training part (for updates per second).
    target : float, default=None
        Test RMSE that counts as reached; None: ``TARGET_FACTOR`` times the
        best any contender reaches.

    Returns
    -------
    summary : dict
        ``target``, ``target_set_by``, ``best_rmse``, ``contenders`` (a
        dict a contender) and ``targets`` (the issue's, each with
        ``holds``).
    """
    best = min((rmse for ts in traces.values() for t in ts for _, rmse in t), default=None)
    set_by = "--target"
    if target is None and best is not None:
        target, set_by = TARGET_FACTOR * best, f"{TARGET_FACTOR:g} x the best test RMSE"
    for r in rows:
        r["updates_per_second"] = n_train / r["seconds_per_epoch"]["median"]
    epoch = {(r["name"], r["threads"]): r["seconds_per_epoch"]["median"] for r in rows}
    out = {}
    for runner in runners:
        c = {"family": runner.family, "dtype": runner.dtype, "status": runner.status,
             "params": runner.params, "epochs": runner.epochs,
             "validation": runner.validation,
             "seconds_per_epoch": {str(t): s for (n, t), s in epoch.items() if n == runner.name}}
        if runner.family == "libmf":
            c["library"] = getattr(runner, "library", None)
            c["hangs"] = getattr(runner, "hangs", 0)
        ts = traces.get(runner.name)
        if ts:
            c["trace"] = [{"seconds": s, "rmse": e} for s, e in ts[0]]
            c["best_test_rmse"] = min(e for t in ts for _, e in t)
            hits = [seconds_to_rmse(t, target) for t in ts]
            reached = [h for h in hits if h is not None]
            c["runs"], c["reached"] = len(ts), len(reached)
            c["seconds_to_target"] = _spread(reached) if reached else None
        out[runner.name] = c

    def pick(family, value):
        """The family's contender with the least ``value`` (None: not measured)."""
        found = [(value(n, c), n) for n, c in out.items()
                 if c["family"] == family and value(n, c) is not None]
        return min(found) if found else (None, None)

    ttt = lambda n, c: c["seconds_to_target"]["median"] if c.get("seconds_to_target") else None
    libmf_ttt, libmf_ttt_name = pick("libmf", ttt)
    surprise = next((n for n, c in out.items() if c["family"] == "surprise" and c.get("trace")),
                    None)
    surprise_best = surprise_s = None
    if surprise:
        surprise_best = out[surprise]["best_test_rmse"]
        surprise_s = min(seconds_to_rmse(t, surprise_best) for t in traces[surprise])
    for name, c in out.items():
        c["epoch_speedup_vs_libmf"] = {}
        for t, s in c["seconds_per_epoch"].items():
            lib, lib_name = pick("libmf", lambda n, x: x["seconds_per_epoch"].get(t))
            if lib is not None:
                c["epoch_speedup_vs_libmf"][t] = {"libmf": lib_name, "speedup": lib / s}
        if libmf_ttt and ttt(name, c):
            c["target_speedup_vs_libmf"] = {"libmf": libmf_ttt_name,
                                            "speedup": libmf_ttt / ttt(name, c)}
        if surprise_best is not None and name in traces:
            s = np.median([h for t in traces[name]
                           if (h := seconds_to_rmse(t, surprise_best)) is not None] or [np.nan])
            c["seconds_to_surprise_best"] = None if np.isnan(s) else float(s)
            c["speedup_vs_surprise"] = None if np.isnan(s) else surprise_s / float(s)
    targets = _issue_targets(out, surprise_best, surprise_s, libmf_ttt, libmf_ttt_name)
    return {"target": target, "target_set_by": set_by, "best_rmse": best,
            "surprise_best_rmse": surprise_best, "surprise_seconds_to_best": surprise_s,
            "contenders": out, "targets": targets}


def _issue_targets(out, surprise_best, surprise_s, libmf_ttt, libmf_ttt_name):
    """Issue 18's speed targets for hogwild, each with the figures and ``holds``."""
    hog = {n: c for n, c in out.items() if c["family"] == "hogwild"}
    targets = []
    threads = sorted({t for c in hog.values() for t in c["seconds_per_epoch"]}, key=int)
    for t in threads:
        mine = {n: c["seconds_per_epoch"][t] for n, c in hog.items()
                if t in c["seconds_per_epoch"]}
        name = min(mine, key=mine.get)
        vs = out[name]["epoch_speedup_vs_libmf"].get(t)
        if vs:
            lib = out[vs["libmf"]]["seconds_per_epoch"][t]
            targets.append({"target": f"epoch time at {t} thread{'s' * (t != '1')}: hogwild "
                                      "no slower than LIBMF's best build",
                            "hogwild": name, "seconds": mine[name], "libmf": vs["libmf"],
                            "libmf_seconds": lib, "holds": mine[name] <= lib})
    reached = {n: c["seconds_to_target"]["median"] for n, c in hog.items()
               if c.get("seconds_to_target")}
    if any(c.get("trace") for c in hog.values()):
        name = min(reached, key=reached.get) if reached else None
        targets.append({"target": "time to the target RMSE: hogwild below LIBMF's best build",
                        "hogwild": name, "seconds": reached.get(name),
                        "libmf": libmf_ttt_name, "libmf_seconds": libmf_ttt,
                        "holds": bool(reached) and (libmf_ttt is None
                                                    or reached[name] < libmf_ttt)})
        # every strategy, those that missed the target after the others
        order = {n: reached.get(n) for n in sorted(hog, key=lambda n: reached.get(n, np.inf))}
        targets.append({"target": "strategy that reaches the target soonest",
                        "hogwild": name, "seconds": reached.get(name), "all": order,
                        "holds": None})
    if surprise_best is not None:
        speed = {n: c["speedup_vs_surprise"] for n, c in hog.items()
                 if c.get("speedup_vs_surprise")}
        name = max(speed, key=speed.get) if speed else None
        targets.append({"target": "at least 30x faster than Surprise SVD to its own best RMSE",
                        "hogwild": name, "speedup": speed.get(name),
                        "surprise_rmse": surprise_best, "surprise_seconds": surprise_s,
                        "holds": bool(speed) and speed[name] >= 30})
    return targets


def run_mf_benchmark(ids, ratings, *, source, name, k=DEFAULT_COMPONENTS, threads=None,
                     repeats=3, max_epochs=MAX_EPOCHS, target=None, libmf_obj=None,
                     peers=("libmf", "surprise"), log=print):
    """Run every measurement on one set of ratings and return the numbers.

    Parameters
    ----------
    ids : ndarray of shape (n_ratings, 2)
        User and item ids, 0 to n - 1 (see :func:`dense_ids`).
    ratings : ndarray of shape (n_ratings,)
    source : str
        Where the data came from, for the report.
    name : str
        A short name for plot titles.
    k : int, default=32
    threads : list of int, default=None
        Thread counts; None: 1 to every usable thread.
    repeats : int, default=3
        Rounds of the epoch race and of hogwild's curves.
    max_epochs : int, default=40
    target : float, default=None
        Test RMSE of the time-to-target race; None: 1.01 x the best.
    libmf_obj : str, default=None
        A LIBMF library built with AVX (``bench/build_libmf.sh``).
    peers : tuple of str, default=("libmf", "surprise")
        The peers to run when they are installed.
    log : callable, default=print
        Progress lines.

    Returns
    -------
    results : dict
        JSON-serialisable: ``machine``, ``config``, ``data``, ``tuning``,
        ``epoch_time``, ``summary``, ``notes``.
    """
    threads = sorted(set(threads or range(1, resolve_n_jobs(None) + 1)))
    info = machine_info()
    info["loadavg_before"] = list(os.getloadavg())
    parts, dropped = split_ratings(ids, ratings)
    runners = make_runners(parts, k, libmf_obj, peers)
    with threadpool_limits(limits=1, user_api="blas"):
        log("tuning on the validation part")
        tuning = tune(runners, max_epochs, threads, log)
        log("epoch race")
        before = _cpu_times()
        rows = race(runners, threads, repeats)
        info["cpu_use_epoch_race"] = cpu_use(before, _cpu_times())
        log("test RMSE against time")
        traces = curves(runners, threads, repeats)
    info["loadavg_after"] = list(os.getloadavg())
    summary = summarize(runners, rows, traces, len(parts["train"][1]), target)
    if target is not None:
        summary["target_set_by"] = "--target"
    return {
        "machine": info,
        "config": {"source": source, "name": name, "k": k, "dtype": "float32", "threads": threads,
                   "repeats": repeats, "race_epochs": RACE_EPOCHS, "max_epochs": max_epochs,
                   "patience": PATIENCE, "grids": {f: GRIDS[f] for f in GRIDS},
                   "surprise_grid_epochs": SURPRISE_GRID_EPOCHS,
                   "surprise_epoch_choices": list(SURPRISE_EPOCH_CHOICES),
                   "curve_points": CURVE_POINTS, "test_fraction": TEST_FRACTION,
                   "validation_fraction": VALIDATION_FRACTION, "target_factor": TARGET_FACTOR},
        "data": {"n_ratings": int(len(ratings)), "n_users": int(ids[:, 0].max()) + 1,
                 "n_items": int(ids[:, 1].max()) + 1,
                 **{f"n_{p}": int(len(v[1])) for p, v in parts.items()},
                 "dropped_unseen": dropped, "rating_min": float(np.min(ratings)),
                 "rating_max": float(np.max(ratings))},
        "tuning": tuning,
        "epoch_time": rows,
        "summary": summary,
        "notes": [IMPLICIT_NOTE],
    }


# ------------------------------------------------------------------ the report

def _s(seconds):
    return "-" if seconds is None else f"{seconds:.3g}"


def format_mf_report(results):
    """The printed report: a header, the tuning, the epoch race, the curves, the targets.

    Parameters
    ----------
    results : dict
        What :func:`run_mf_benchmark` returns.

    Returns
    -------
    text : str
    """
    cfg, d, m, s = results["config"], results["data"], results["machine"], results["summary"]
    lines = [
        f"hogwild {m['versions']['hogwild']} bench mf: {cfg['source']}",
        f"{d['n_ratings']:,} ratings, {d['n_users']:,} users x {d['n_items']:,} items; train "
        f"{d['n_train']:,} (tuning: {d['n_tune']:,} fitted, {d['n_validation']:,} validation), "
        f"test {d['n_test']:,} ({d['dropped_unseen']['test']:,} dropped: user or item unseen "
        f"in train); k={cfg['k']}, float32 (Surprise float64); threads "
        f"{','.join(map(str, cfg['threads']))}; {m['cpu_count']} CPUs; {load_average(m)}",
        "",
        "Tuning on the validation part (each family's grid once, with the first contender "
        f"listed, at the most threads; epochs up to {cfg['max_epochs']} by the lowest "
        "validation RMSE, per contender)",
    ]
    contenders = s["contenders"]
    rows = []
    for name, c in contenders.items():
        if c["params"] is None:
            continue
        rows.append([name, _params(c["params"]), str(c["epochs"]),
                     f"{c['validation']['rmse']:.4f}" if c.get("validation") else "-"])
    lines.append(_table(["contender", "chosen", "epochs", "validation RMSE"], rows, "<<>>"))

    lines += ["", f"Epoch time: (fit of {1 + cfg['race_epochs']} epochs - fit of 1) / "
              f"{cfg['race_epochs']}, the set-up left out; median [min-max] of "
              f"{cfg['repeats']} interleaved rounds" + cpu_use_note(m)]
    rows = []
    for r in results["epoch_time"]:
        sp = r["seconds_per_epoch"]
        vs = contenders[r["name"]]["epoch_speedup_vs_libmf"].get(str(r["threads"]))
        rows.append([r["name"], str(r["threads"]), r["dtype"], f"{sp['median']:.4f}",
                     f"[{sp['min']:.4f}-{sp['max']:.4f}]",
                     f"{r['updates_per_second'] / 1e6:.1f}",
                     f"{vs['speedup']:.2f}x" if vs else "-",
                     f"{r['setup_seconds']['median']:.3f}",
                     f"{r['fit_seconds_per_epoch']['median']:.4f}"])
    lines.append(_table(["contender", "threads", "dtype", "s/epoch", "[min-max]",
                         "M updates/s", "vs LIBMF best", "set-up s",
                         f"fit({1 + cfg['race_epochs']}) / {1 + cfg['race_epochs']}"], rows,
                        "<>>>>>>>>"))

    t_max = max(cfg["threads"])
    lines += ["", f"Test RMSE against wall time at {t_max} threads (Surprise: 1); target RMSE "
              f"{_s(s['target'])} ({s['target_set_by']}; best {_s(s['best_rmse'])}). hogwild: "
              f"one fit, scored after each epoch, scoring time left out, median [min-max] of "
              f"{cfg['repeats']} fits; LIBMF and Surprise: a whole fit for each epoch count "
              "on the curve, once"]
    if s.get("surprise_best_rmse") is not None:
        lines[-1] += (f"; Surprise's best {s['surprise_best_rmse']:.4f} in "
                      f"{s['surprise_seconds_to_best']:.3g} s")
    rows = []
    for name, c in contenders.items():
        if "trace" not in c:
            continue
        tt = c["seconds_to_target"]
        vs_lib = c.get("target_speedup_vs_libmf")
        rows.append([name, f"{c['best_test_rmse']:.4f}", str(c["epochs"]),
                     "not reached" if tt is None else f"{tt['median']:.3g}",
                     "" if tt is None or c["runs"] == 1 else f"[{tt['min']:.3g}-{tt['max']:.3g}]",
                     f"{vs_lib['speedup']:.2f}x" if vs_lib else "-",
                     _s(c.get("seconds_to_surprise_best")),
                     f"{c['speedup_vs_surprise']:.1f}x" if c.get("speedup_vs_surprise") else "-"])
    lines.append(_table(["contender", "best RMSE", "epochs", "s to target", "[min-max]",
                         "vs LIBMF best", "s to Surprise's best", "vs Surprise"], rows,
                        "<>>>>>>>"))

    lines += ["", "Issue 18's targets"]
    for t in s["targets"]:
        if t["holds"] is None:
            order = ", ".join(f"{n} {_s(v)} s" if v is not None else f"{n} not reached"
                              for n, v in t["all"].items())
            lines.append(f"- {t['target']}: {order}")
        elif "speedup" in t:
            lines.append(f"- {t['target']}: "
                         + (f"{t['hogwild']} {t['speedup']:.1f}x" if t["hogwild"]
                            else "no hogwild strategy reached its RMSE")
                         + f" (Surprise {t['surprise_rmse']:.4f} in {t['surprise_seconds']:.3g} "
                           f"s): {'holds' if t['holds'] else 'does NOT hold'}")
        else:
            libmf = (f"{t['libmf']} {_s(t['libmf_seconds'])} s" if t["libmf"]
                     else "LIBMF did not reach it")
            mine = (f"{t['hogwild']} {_s(t['seconds'])} s" if t["hogwild"]
                    else "no hogwild strategy reached it")
            lines.append(f"- {t['target']}: {mine}, {libmf}: "
                         f"{'holds' if t['holds'] else 'does NOT hold'}")
    lines.append("")
    for name, c in contenders.items():
        if c["status"] != "ok":
            lines.append(f"{name}: {c['status']}")
        if c.get("hangs"):
            lines.append(f"{name}: {c['hangs']} request(s) got no answer in "
                         f"{LIBMF_TIMEOUT} s: the process was killed and the request run again")
    lines += results["notes"]
    return "\n".join(lines)


def write_mf_results(results, out_dir):
    """Write ``results.json`` and, when matplotlib imports, the two plots
    (:func:`hogwild._bench.write_results` with this bench's plots).

    Returns
    -------
    written : list of pathlib.Path
    notes : list of str
        One line per thing that could not be written.
    """
    return write_results(results, out_dir, plot=_plot)


def _plot(results, out):
    import matplotlib.pyplot as plt

    cfg, d, s = results["config"], results["data"], results["summary"]
    title = (f"{cfg['name']}: {d['n_train']:,} training ratings, {d['n_users']:,} x "
             f"{d['n_items']:,}, k={cfg['k']}")
    colours = {name: f"C{i}" for i, name in enumerate(s["contenders"])}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    t_max = max(cfg["threads"])
    for name, c in s["contenders"].items():
        if "trace" not in c:
            continue
        threads = 1 if c["family"] == "surprise" else t_max
        ax.plot([p["seconds"] for p in c["trace"]], [p["rmse"] for p in c["trace"]],
                marker=".", color=colours[name], linestyle="-" if c["family"] == "hogwild"
                else "--", label=f"{name} ({threads} thread{'s' * (threads > 1)})")
    if s["target"] is not None:
        ax.axhline(s["target"], color="grey", linestyle=":", linewidth=1,
                   label=f"target {s['target']:.4f}")
    best = s["best_rmse"]
    if best is not None:  # the curves' first epochs are far above: keep the finish in view
        top = min(max(p["rmse"] for c in s["contenders"].values() for p in c.get("trace", [])),
                  best * 1.25)
        ax.set_ylim(best * 0.99, top)
    ax.set(xscale="log", xlabel="wall time of the fit (s, log scale)", ylabel="test RMSE",
           title=title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    first = out / "rmse_vs_time.png"
    fig.savefig(first, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name in s["contenders"]:
        rows = [r for r in results["epoch_time"] if r["name"] == name]
        if rows:
            ax.plot([r["threads"] for r in rows], [r["updates_per_second"] / 1e6 for r in rows],
                    "o-" if s["contenders"][name]["family"] == "hogwild" else "s--",
                    color=colours[name], label=name)
    ax.set(xlabel="threads", ylabel="million updates per second (median epoch)",
           xticks=cfg["threads"], title=title)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    fig.tight_layout()
    second = out / "updates_vs_threads.png"
    fig.savefig(second, dpi=120)
    plt.close(fig)
    return [first, second]
