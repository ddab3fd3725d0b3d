"""The ``hogwild`` command: ``train``, ``predict`` and ``bench``.

- ``hogwild train``: train a model on a LIBSVM/svmlight file and save it;
- ``hogwild predict``: predict a LIBSVM/svmlight file with a saved model;
- ``hogwild bench``: hogwild against scikit-learn's SGD, LIBLINEAR and the
  sparse matrix-vector floor, on built-in generated data or a LIBSVM file
  (the program is ``hogwild/_bench/``).

Data is read with scikit-learn's ``load_svmlight_file``. Its errors do not say
where a file is wrong, so on an error the file is scanned again, line by line
with the loader's own rules, to name the first bad line.

A model file holds two pickles: a small header (a dict of plain values: the
hogwild and scikit-learn versions that saved it, how the training file
numbered its features) and the fitted estimator. The header is read and
checked first, so a model from an incompatible hogwild is refused with a
clear message before its estimator is unpickled.

Every failure a user can cause ends as a :class:`CommandError`, which
:func:`main` prints as one line on stderr, with exit status 1.
"""
import argparse
import bz2
import gzip
import io
import math
import os
import pickle
import re
import sys
import threading
import time
import warnings

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.datasets import load_svmlight_file
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.metrics import accuracy_score, r2_score

from . import HogwildClassifier, HogwildRegressor, __version__
from ._losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES, SCHEDULES, estimator_objective
from ._threads import resolve_n_jobs

MODEL_MAGIC = "hogwild model"
#: bumped whenever the layout of a model file changes
MODEL_FORMAT = 1
#: the largest feature index the loader accepts (it parses indices as C ints)
MAX_INDEX = 2**31 - 1


class CommandError(Exception):
    """A failure the user can fix: printed as one line, exit status ``status``."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- data

def _open_binary(path, raw=None):
    """The file as ``load_svmlight_file`` opens it: by extension, .gz and .bz2 too.

    ``raw``, when given, is the file's bytes as read from disk (opened by the
    caller), to decompress instead of opening ``path``.
    """
    ext = os.path.splitext(path)[1]
    source = path if raw is None else raw
    if ext == ".gz":
        return gzip.open(source, "rb")
    if ext == ".bz2":
        return bz2.BZ2File(source, "rb")
    return open(path, "rb") if raw is None else raw


# files at least this large show how much has been read, on a terminal
PROGRESS_BYTES = 64 << 20


def _on_terminal():
    return sys.stderr.isatty()


class _Counted(io.RawIOBase):
    """A raw file that counts the bytes read from it (before any decompression)."""

    def __init__(self, raw):
        self.raw, self.count = raw, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n

    def close(self):
        self.raw.close()
        super().close()


def _read_with_progress(path, **kwargs):
    """``load_svmlight_file(path, **kwargs)``, with a line on stderr saying how far it got.

    The reader is given the file through a counter of the bytes read from
    disk (compressed bytes for .gz and .bz2), and a thread rewrites one
    terminal line with that share of the file twice a second.
    """
    total = os.path.getsize(path)
    counted = _Counted(open(path, "rb", buffering=0))
    f = _open_binary(path, raw=io.BufferedReader(counted, 1 << 20))
    done = threading.Event()

    def show():
        while not done.wait(0.5):
            print(f"\rreading {path}: {100 * counted.count / total:3.0f}% of "
                  f"{total / 2**20:,.0f} MB", end="", file=sys.stderr, flush=True)

    shower = threading.Thread(target=show, daemon=True)
    shower.start()
    try:
        with f:
            return load_svmlight_file(f, **kwargs)
    finally:
        counted.close()  # a decompressor leaves the file it was given open
        done.set()
        shower.join()
        print(f"\rreading {path}: done{' ' * 24}", file=sys.stderr, flush=True)


def _why(exc):
    """An OSError's reason without its errno and path; any other error's message."""
    return getattr(exc, "strerror", None) or str(exc)


def _shown(token):
    return repr(token.decode("utf-8", "replace"))


def _number(token):
    """``float(token)``, or None where the loader's ``float`` would fail or give inf/nan."""
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def line_problem(line, zero_based):
    """What is wrong with one line of a LIBSVM file, by the loader's rules.

    Parameters
    ----------
    line : bytes
        The line, as read from the file.
    zero_based : bool
        Whether feature index 0 is allowed.

    Returns
    -------
    problem : str or None
        A short description, or None for a good line (blank and comment-only
        lines are good).
    """
    parts = line.split(b"#", 1)[0].split()
    if not parts:
        return None
    label, features = parts[0], parts[1:]
    if _number(label) is None:
        return f"label {_shown(label)} is not a finite number"
    if features and features[0].startswith(b"qid"):
        if b":" not in features[0]:
            return f"{_shown(features[0])} is not qid:VALUE"
        features = features[1:]
    previous = -1
    for token in features:
        index_text, colon, value = token.partition(b":")
        if not colon:
            return f"{_shown(token)} is not INDEX:VALUE"
        try:
            index = int(index_text)
        except ValueError:
            return f"feature index {_shown(index_text)} is not an integer"
        if not 0 <= index <= MAX_INDEX:
            return f"feature index {index} is out of range"
        if index == 0 and not zero_based:
            return "feature index 0, but the features are numbered from 1"
        if index <= previous:
            return f"feature index {index} after {previous}: indices must increase"
        if _number(value) is None:
            return f"value {_shown(value)} of feature {index} is not a finite number"
        previous = index
    return None


def find_bad_line(path, zero_based):
    """The first line of a LIBSVM file that :func:`line_problem` rejects.

    Parameters
    ----------
    path : str
    zero_based : bool

    Returns
    -------
    found : tuple of (int, str) or None
        The 1-based line number and its problem, or None if every line is good.
    """
    with _open_binary(path) as f:
        for number, line in enumerate(f, start=1):
            problem = line_problem(line, zero_based)
            if problem is not None:
                return number, problem
    return None


def _bad_file(path, zero_based, fallback):
    found = find_bad_line(path, zero_based)
    if found is None:
        return CommandError(f"cannot load {path}: {fallback}")
    number, problem = found
    return CommandError(f"{path}, line {number}: {problem}")


def load_data(path, *, zero_based=None, n_features=None, dtype=np.float64):
    """Read a LIBSVM / svmlight file for training or prediction.

    Parameters
    ----------
    path : str
        The file; ``.gz`` and ``.bz2`` are decompressed.
    zero_based : bool, default=None
        Whether feature indices start at 0. ``None`` decides as
        ``load_svmlight_file(zero_based='auto')`` does: from 1, unless the
        file has an index 0 (or no features at all).
    n_features : int, default=None
        The number of columns of X, a model's ``n_features_in_``; a file with
        a larger feature index is an error. ``None``: the largest index.
    dtype : {np.float64, np.float32}, default=np.float64

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), float64
    zero_based : bool
        The numbering used, to read the files that go with this one.

    Raises
    ------
    CommandError
        When the file cannot be read, a line is malformed (the message names
        it), or a feature index lies beyond ``n_features``.
    """
    try:
        # Raw indices; the numbering is decided below, for this file or its model.
        if _on_terminal() and os.path.getsize(path) >= PROGRESS_BYTES:
            X, y = _read_with_progress(path, dtype=dtype, zero_based=True)
        else:
            X, y = load_svmlight_file(path, dtype=dtype, zero_based=True)
    except (OSError, EOFError) as exc:
        raise CommandError(f"cannot read {path}: {_why(exc)}") from None
    except (ValueError, OverflowError) as exc:
        raise _bad_file(path, True if zero_based is None else zero_based, exc) from None
    X = sp.csr_matrix(X)
    if X.shape[0] == 0:
        raise CommandError(f"{path} is empty: it has no data lines"
                           + (" (only blank or comment lines)" if os.path.getsize(path) else ""))
    has_zero = X.nnz > 0 and X.indices.min() == 0
    if zero_based is None:
        zero_based = has_zero or X.nnz == 0
    elif has_zero and not zero_based:
        raise _bad_file(path, False, "feature index 0 in a file numbered from 1")
    if not (np.isfinite(X.data).all() and np.isfinite(y).all()):
        raise _bad_file(path, zero_based, "a value is not finite")
    width = X.shape[1]
    if not zero_based:
        X = sp.csr_matrix((X.data, X.indices - 1, X.indptr), shape=(X.shape[0], width - 1))
    if n_features is not None:
        if X.shape[1] > n_features:
            largest = X.indices.max() + (0 if zero_based else 1)
            raise CommandError(
                f"{path} has feature index {largest}, but the model has {n_features} "
                f"features (indices {0 if zero_based else 1} to "
                f"{n_features - (1 if zero_based else 0)}): train with --n-features "
                "N, N the largest feature index of all the files")
        X = sp.csr_matrix((X.data, X.indices, X.indptr), shape=(X.shape[0], n_features))
    return X, y, bool(zero_based)


# -------------------------------------------------------------------------- models

def _release(version):
    """``'0.1.0'`` -> ``(0, 1)``; None for a version without major.minor."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else None


def save_model(path, estimator, *, zero_based):
    """Write a fitted estimator with a header of versions.

    The file is written next to ``path`` and renamed into place, so a failed
    write never leaves half a model behind.

    Parameters
    ----------
    path : str
    estimator : HogwildClassifier or HogwildRegressor
        Fitted.
    zero_based : bool
        How the training file numbered its features; data to predict is read
        the same way.
    """
    header = {"magic": MODEL_MAGIC, "format": MODEL_FORMAT, "hogwild": __version__,
              "scikit-learn": sklearn.__version__, "zero_based": zero_based,
              "n_features": int(estimator.n_features_in_)}
    partial = f"{path}.partial-{os.getpid()}"
    try:
        with open(partial, "wb") as f:
            pickle.dump(header, f, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(estimator, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)
    except OSError as exc:
        if os.path.exists(partial):
            os.remove(partial)
        raise CommandError(f"cannot write {path}: {_why(exc)}") from None


def load_model(path):
    """Read a model written by :func:`save_model`, refusing other versions.

    A model is read by the hogwild release (major.minor) that saved it. Load
    only model files you trust: they are pickles.

    Parameters
    ----------
    path : str

    Returns
    -------
    estimator : HogwildClassifier, HogwildRegressor or MatrixFactorization
    header : dict
        ``hogwild``, ``scikit-learn``: the versions that saved it;
        ``zero_based``, ``n_features``: how to read data for it.

    Raises
    ------
    CommandError
        When the file cannot be read, is not a hogwild model, or was saved by
        an incompatible hogwild.
    """
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {_why(exc)}") from None
    with f:
        try:
            header = pickle.load(f)
        except Exception:  # anything a file of other bytes makes pickle raise
            header = None
        if not isinstance(header, dict) or header.get("magic") != MODEL_MAGIC:
            raise CommandError(f"{path} is not a hogwild model (write one with hogwild train)")
        saved = str(header.get("hogwild"))
        if header.get("format") != MODEL_FORMAT or (
                saved != __version__ and (_release(saved) is None
                                          or _release(saved) != _release(__version__))):
            raise CommandError(
                f"{path} was saved by hogwild {saved}, which this hogwild ({__version__}) "
                "cannot read: train the model again with this version")
        with warnings.catch_warnings():
            # the header names the scikit-learn version instead, in one line
            warnings.simplefilter("ignore", InconsistentVersionWarning)
            try:
                estimator = pickle.load(f)
            except Exception as exc:
                raise CommandError(f"cannot load the model in {path}: {exc}") from None
    from .mf import MatrixFactorization

    if not isinstance(estimator, (HogwildClassifier, HogwildRegressor, MatrixFactorization)):
        raise CommandError(f"{path} is not a hogwild model (write one with hogwild train)")
    if header.get("scikit-learn") != sklearn.__version__:
        print(f"hogwild: warning: {path} was saved with scikit-learn "
              f"{header.get('scikit-learn')}, this is {sklearn.__version__}", file=sys.stderr)
    return estimator, header


# ------------------------------------------------------------------------ training

def mean_loss(estimator, X, y):
    """The model's mean training loss (without the penalty).

    Multiclass: the mean over the one-vs-rest problems.

    Parameters
    ----------
    estimator : HogwildClassifier or HogwildRegressor
        Fitted.
    X : sparse matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)

    Returns
    -------
    loss : float
    """
    return estimator_objective(estimator, X, y, penalized=False)


def train_epochs(estimator, X, y, epochs, report=None):
    """Train for ``epochs`` epochs, one ``partial_fit`` call each.

    The updates, step-size schedule and step counter ``t_`` are those of
    ``fit(X, y)`` with ``max_iter=epochs, tol=None``: with L2 or no penalty
    and the same row order, the very same model. Two things differ: each
    epoch's shuffle is drawn from ``random_state`` anew (a RandomState
    instance gives every epoch a fresh order), and an L1 or elastic-net
    penalty restarts its cumulative bookkeeping each epoch, as in
    ``partial_fit``, which leaves more weights non-zero than ``fit`` does.

    Parameters
    ----------
    estimator : HogwildClassifier or HogwildRegressor
        Unfitted; trained in place.
    X : sparse matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    epochs : int
    report : callable, default=None
        Called after each epoch as ``report(epoch, loss)``, with the epoch
        (from 1) and :func:`mean_loss`; without it no loss is computed.

    Returns
    -------
    estimator : HogwildClassifier or HogwildRegressor
    """
    extra = {"classes": np.unique(y)} if isinstance(estimator, HogwildClassifier) else {}
    for epoch in range(1, epochs + 1):
        estimator.partial_fit(X, y, **extra)
        if report is not None:
            report(epoch, mean_loss(estimator, X, y))
    return estimator


def _progress(epochs):
    """A per-epoch reporter: a tqdm bar on a terminal when tqdm is installed, else lines."""
    start = time.perf_counter()
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            bar = tqdm(total=epochs, unit="epoch", file=sys.stderr)

            def report(epoch, loss):
                bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
                bar.update(1)
                if epoch == epochs:
                    bar.close()
            return report
    width = len(str(epochs))

    def report(epoch, loss):
        print(f"epoch {epoch:>{width}}/{epochs}  loss {loss:.6f}  "
              f"elapsed {time.perf_counter() - start:.2f} s", flush=True)
    return report


def _estimator(args):
    kind = HogwildClassifier if args.loss in CLASSIFICATION_LOSSES else HogwildRegressor
    params = dict(loss=args.loss, penalty=None if args.penalty == "none" else args.penalty,
                  alpha=args.alpha, l1_ratio=args.l1_ratio, epsilon=args.epsilon,
                  n_jobs=args.threads, strategy=args.strategy, backoff=args.backoff,
                  average=args.average)
    for name in ("learning_rate", "eta0"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    return kind(**params)


def _count(n, noun):
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('s') else 's'}"


def _check_writable(path):
    """Refuse an output path that cannot be written, before any work is done."""
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise CommandError(f"cannot write {path}: no folder {folder}")
    if os.path.isdir(path):
        raise CommandError(f"cannot write {path}: it is a folder")
    existed = os.path.exists(path)
    try:
        with open(path, "ab"):  # appends nothing: an existing file is left as it is
            pass
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {_why(exc)}") from None
    if not existed:
        os.remove(path)


def _warn_threads(args):
    """Say once when --threads asks for more threads than this process may use."""
    usable = resolve_n_jobs(None)
    if args.threads is not None and args.threads > usable:
        print(f"hogwild {args.command}: warning: --threads {args.threads} is more than the "
              f"{usable} CPU{'s' * (usable > 1)} this process may use; threads will share "
              "CPUs and train slower", file=sys.stderr)


def _train(args):
    _check_writable(args.output)  # before a long training, not after
    _warn_threads(args)
    estimator = _estimator(args)
    dtype = np.float32 if args.float32 else np.float64
    X, y, zero_based = load_data(args.data, n_features=args.n_features, dtype=dtype)
    classifier = isinstance(estimator, HogwildClassifier)
    what = _count(len(np.unique(y)), "class") if classifier else "regression"
    print(f"hogwild {__version__} train: {args.data}, {X.shape[0]:,} x {X.shape[1]:,}, "
          f"{X.nnz:,} non-zeros, {what}; loss={args.loss}, {args.epochs} epochs, "
          f"{_count(resolve_n_jobs(args.threads), 'thread')}", flush=True)
    test = None
    if args.test:
        test = load_data(args.test, zero_based=zero_based, n_features=X.shape[1], dtype=dtype)
    seed = args.seed
    # One RandomState for all epochs: each partial_fit call draws a new order.
    estimator.set_params(random_state=np.random.RandomState(seed))
    try:
        train_epochs(estimator, X, y, args.epochs, report=_progress(args.epochs))
    except ValueError as exc:  # parameters, a single class, divergence: the estimator's words
        raise CommandError(str(exc).splitlines()[0]) from None
    except KeyboardInterrupt:
        raise CommandError("interrupted: no model written", status=130) from None
    estimator.set_params(random_state=seed)
    if test is not None:
        X_test, y_test, _ = test
        predicted = estimator.predict(X_test)
        if classifier:
            score = f"accuracy {accuracy_score(y_test, predicted):.4f}"
        else:
            score = f"R^2 {r2_score(y_test, predicted):.4f}"
        print(f"test {score} on {args.test} ({X_test.shape[0]:,} rows)")
    save_model(args.output, estimator, zero_based=zero_based)
    print(f"saved {args.output}")
    return 0


def format_value(value):
    """One prediction as text: integral values without a decimal point.

    Parameters
    ----------
    value : numpy scalar
        A class label or a regression value (float32 values print as float32).

    Returns
    -------
    text : str
    """
    return str(int(value)) if float(value).is_integer() else str(value)


def _predict(args):
    if args.output is not None:
        _check_writable(args.output)
    estimator, header = load_model(args.model)
    if not isinstance(estimator, (HogwildClassifier, HogwildRegressor)):
        raise CommandError(f"{args.model} is a matrix-factorization model: use "
                           "hogwild mf predict")
    X, _, _ = load_data(args.data, zero_based=header["zero_based"],
                        n_features=estimator.n_features_in_)
    text = "".join(format_value(v) + "\n" for v in estimator.predict(X))
    return write_output(args.output, text, X.shape[0], "predictions")


def write_output(path, text, count, what):
    """Write a command's result to ``path``, or to stdout when it is None; status 0."""
    if path is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:  # `hogwild predict ... | head`: the reader has all it wants
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {_why(exc)}") from None
    print(f"wrote {count:,} {what} to {path}")
    return 0


# ---------------------------------------------------------------------- arguments

def positive(kind):
    """An argparse type: a positive ``kind`` (int or float).

    Parameters
    ----------
    kind : type

    Returns
    -------
    parse : callable
    """
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value
    return parse


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _threads(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(
            f"expected a thread count (>= 1, or -1 for all, -2 for all but one), got {text!r}")
    return value


TRAIN_DESCRIPTION = """\
Train a HogwildClassifier (classification losses) or HogwildRegressor
(regression losses) on a LIBSVM/svmlight file and save it.

Each epoch is one partial_fit call, followed by a line with the model's mean
training loss and the time elapsed (on a terminal with tqdm installed, a
progress bar). The updates, step-size schedule and step counter are those of
fit(max_iter=EPOCHS, tol=None): with L2 or no penalty and the same row order,
the same model. Each epoch draws a fresh shuffle from --seed, and an L1 or
elastic-net penalty restarts its cumulative bookkeeping each epoch (as
partial_fit does), leaving more weights non-zero than fit would.

Feature indices count from 1 (LIBSVM), or from 0 when the file has an index
0; --test and predict read their files the same way.
"""


def add_commands(commands):
    """Add ``train`` and ``predict`` to the ``hogwild`` command's subparsers.

    Parameters
    ----------
    commands : argparse._SubParsersAction
    """
    formatter = argparse.RawDescriptionHelpFormatter
    train = commands.add_parser(
        "train", help="train a model on a LIBSVM/svmlight file and save it",
        description=TRAIN_DESCRIPTION, formatter_class=formatter)
    train.add_argument("data", metavar="DATA", help="training file (.gz/.bz2 too)")
    train.add_argument("-o", "--output", metavar="MODEL", required=True,
                       help="where to save the model (a pickle, with the hogwild version)")
    train.add_argument("--test", metavar="FILE",
                       help="report accuracy (classification) or R^2 (regression) on FILE")
    train.add_argument("--loss", choices=CLASSIFICATION_LOSSES + REGRESSION_LOSSES,
                       default="hinge", metavar="LOSS",
                       help="classification: " + ", ".join(CLASSIFICATION_LOSSES)
                            + "; regression: " + ", ".join(REGRESSION_LOSSES)
                            + " (default: hinge)")
    train.add_argument("--penalty", choices=["l2", "l1", "elasticnet", "none"], default="l2",
                       help="(default: l2)")
    train.add_argument("--alpha", type=_non_negative_float, default=1e-4,
                       help="regularization strength (default: 1e-4)")
    train.add_argument("--l1-ratio", type=_non_negative_float, default=0.15,
                       help="elastic-net mixing, 0 to 1 (default: 0.15)")
    train.add_argument("--epochs", type=positive(int), default=10, help="(default: 10)")
    train.add_argument("--threads", type=_threads, default=None, metavar="N",
                       help="OpenMP threads, n_jobs (default: every core this process may "
                            "use, following OMP_NUM_THREADS)")
    train.add_argument("--learning-rate", choices=SCHEDULES, default=None,
                       help="step-size schedule (default: optimal for classification, "
                            "invscaling for regression)")
    train.add_argument("--eta0", type=positive(float), default=None,
                       help="initial step size of the constant, invscaling, adaptive and "
                            "backoff schedules (default: 0.01)")
    train.add_argument("--backoff", type=positive(float), default=0.9,
                       help="step-size factor per epoch of the backoff schedule (default: 0.9)")
    train.add_argument("--epsilon", type=_non_negative_float, default=0.1,
                       help="epsilon of the huber and epsilon-insensitive losses (default: 0.1)")
    train.add_argument("--strategy", choices=["replicas", "shared"], default="replicas",
                       help="how threads share the weights (default: replicas)")
    train.add_argument("--average", action="store_true", help="averaged SGD")
    train.add_argument("--float32", action="store_true", help="train in float32")
    train.add_argument("--n-features", type=positive(int), default=None, metavar="N",
                       help="number of features, when files to predict may have larger "
                            "indices than DATA (default: DATA's largest index)")
    train.add_argument("--seed", type=int, default=None,
                       help="random seed of the shuffles (default: unseeded)")
    train.set_defaults(run=_train)

    predict = commands.add_parser(
        "predict", help="predict with a saved model, one line per row",
        description="Predict the rows of a LIBSVM/svmlight file (its labels are ignored) "
                    "with a model saved by hogwild train: one class label or value per line.")
    predict.add_argument("model", metavar="MODEL", help="a model saved by hogwild train")
    predict.add_argument("data", metavar="DATA", help="LIBSVM/svmlight file (.gz/.bz2 too)")
    predict.add_argument("-o", "--output", metavar="PREDICTIONS",
                         help="write the predictions there (default: stdout)")
    predict.set_defaults(run=_predict)


# ------------------------------------------------------------------------- the command

DEFAULT_ROWS = 150_000
DEFAULT_FEATURES = 20_000
DEFAULT_NNZ_PER_ROW = 40.0


def _thread_list(text):
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of positive thread counts, got {text!r}")
    return sorted(set(counts))


class _ModeOption(argparse.Action):
    """An option of one mode of ``hogwild bench`` (``linear`` or ``mf``): stored,
    and noted in ``mode_options`` so that the other mode can refuse it."""

    def __init__(self, option_strings, dest, mode, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.mode = mode

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.mode_options = [*namespace.mode_options, (self.mode, option_string)]


def build_parser():
    """The argument parser of the ``hogwild`` command, with its subcommands.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="hogwild", description="Lock-free parallel SGD (Hogwild!) for scikit-learn.")
    parser.add_argument("--version", action="version", version=f"hogwild {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_commands(commands)
    from .mf._cli import add_mf_command  # the mf module imports this one

    add_mf_command(commands)

    bench = commands.add_parser(
        "bench", help="time hogwild against scikit-learn, LIBLINEAR and the hardware's floor "
                      "(bench mf: matrix factorization against LIBMF and Surprise)",
        description="Time hogwild against scikit-learn's SGDClassifier, LIBLINEAR and two "
                    "sparse matrix-vector products, in one process, BLAS pinned to one "
                    "thread, contenders interleaved; print a table. `hogwild bench mf` races "
                    "hogwild's MatrixFactorization against LIBMF and Surprise's SVD, each "
                    "tuned on a validation split, on generated ratings or a ratings file.")
    bench.add_argument("mode", nargs="?", choices=["linear", "mf"], default="linear",
                       help="linear models (default) or matrix factorization")
    bench.add_argument("--data", metavar="FILE",
                       help="LIBSVM/svmlight file (.gz/.bz2 too); more than two classes become "
                            "first half vs second half of the sorted classes (default: "
                            "generated data); bench mf: a user,item,rating[,...] CSV or TSV "
                            "file (.gz/.bz2 too)")
    linear = {"action": _ModeOption, "mode": "linear"}
    bench.add_argument("--loss", choices=["hinge", "log_loss"], default="hinge",
                       help="(default: hinge)", **linear)
    bench.add_argument("--alpha", type=positive(float), default=1e-5,
                       help="L2 strength (default: 1e-5)", **linear)
    bench.add_argument("--threads", type=_thread_list, default=None, metavar="N[,N...]",
                       help="hogwild thread counts (default: 1 to every usable thread)")
    bench.add_argument("--epochs", type=positive(int), default=10,
                       help="epochs per fit; the time-to-target race runs up to 4x as many "
                            "(default: 10)", **linear)
    bench.add_argument("--repeats", type=positive(int), default=None,
                       help="timed runs of each contender, after one warm-up (default: 5; "
                            "bench mf: 3)")
    bench.add_argument("--target", type=positive(float), default=None, metavar="GAP",
                       help="relative gap to the optimum that the time-to-target race "
                            "counts as reached (default: 0.001 with --data; 0.01 on the "
                            "generated data, where plain SGD levels off above 0.001); "
                            "bench mf: a test RMSE (default: 1.01 x the best any contender "
                            "reaches)")
    bench.add_argument("--out", metavar="DIR",
                       help="write results.json and plots there (default: a folder "
                            "named for the data and loss in ./hogwild-bench)")
    generated = bench.add_argument_group("generated data (without --data)")
    generated.add_argument("--rows", type=positive(int), default=DEFAULT_ROWS,
                           help=f"(default: {DEFAULT_ROWS:,})", **linear)
    generated.add_argument("--features", type=positive(int), default=DEFAULT_FEATURES,
                           help=f"(default: {DEFAULT_FEATURES:,})", **linear)
    generated.add_argument("--nnz-per-row", type=positive(float), default=DEFAULT_NNZ_PER_ROW,
                           help=f"mean non-zeros per row (default: {DEFAULT_NNZ_PER_ROW:g})",
                           **linear)
    generated.add_argument("--n-features", type=positive(int), default=None,
                           help=argparse.SUPPRESS, **linear)
    add_bench_mf_options(bench)
    bench.set_defaults(run=_bench, mode_options=[])
    return parser


def add_bench_mf_options(bench):
    """The options of ``hogwild bench mf``, in a group of their own."""
    from ._bench._mf import (DEFAULT_COMPONENTS, DEFAULT_ITEMS, DEFAULT_RATINGS, DEFAULT_USERS,
                             MAX_EPOCHS)
    mf = {"action": _ModeOption, "mode": "mf"}
    group = bench.add_argument_group("bench mf (matrix factorization)")
    group.add_argument("--components", type=positive(int), default=DEFAULT_COMPONENTS,
                       metavar="K", help=f"rank of the factors (default: {DEFAULT_COMPONENTS})",
                       **mf)
    group.add_argument("--max-epochs", type=positive(int), default=MAX_EPOCHS,
                       help=f"most epochs a contender is tuned for (default: {MAX_EPOCHS})",
                       **mf)
    group.add_argument("--libmf-obj", metavar="PATH", default=None,
                       help="a LIBMF library built with AVX (bench/build_libmf.sh), raced "
                            "beside the PyPI build (default: $LIBMF_OBJ if set)", **mf)
    group.add_argument("--users", type=positive(int), default=DEFAULT_USERS,
                       help=f"generated users (default: {DEFAULT_USERS:,})", **mf)
    group.add_argument("--items", type=positive(int), default=DEFAULT_ITEMS,
                       help=f"generated items (default: {DEFAULT_ITEMS:,})", **mf)
    group.add_argument("--ratings", type=positive(int), default=DEFAULT_RATINGS,
                       help=f"generated ratings (default: {DEFAULT_RATINGS:,})", **mf)


def _refuse_other_mode(args):
    """A ``CommandError`` (status 2) for options of the mode not run."""
    wrong = [option for mode, option in args.mode_options if mode != args.mode]
    if wrong:
        other = "mf" if args.mode == "linear" else "linear"
        raise CommandError(f"{', '.join(wrong)}: option{'s' * (len(wrong) > 1)} of `hogwild "
                           f"bench {other}`, not of `hogwild bench {args.mode}`", status=2)


def _bench(args):
    _refuse_other_mode(args)
    if args.mode == "mf":
        return _bench_mf(args)
    # imported here: the benchmark program (matplotlib, peers) only for `bench`
    from ._bench import (format_report, generated_data, load_binary_svmlight, run_benchmark,
                         write_results)

    start = time.perf_counter()
    if args.data:
        try:
            X, y, task = load_binary_svmlight(args.data, n_features=args.n_features)
        except (OSError, ValueError) as exc:
            sys.exit(f"hogwild bench: error: cannot load {args.data}: {exc}")
        source, name = args.data, None
    else:
        X, y = generated_data(args.rows, args.features, args.nnz_per_row)
        task = None
        source = (f"generated (make_sparse_classification, {args.rows:,} x "
                  f"{args.features:,}, ~{args.nnz_per_row:g} nnz/row)")
        name = "generated"
    target_gap, target_set_by = bench_target(args.target, args.data)
    results = run_benchmark(X, y, source=source, name=name, task=task, loss=args.loss,
                            alpha=args.alpha, threads=args.threads, epochs=args.epochs,
                            repeats=args.repeats or 5, target_gap=target_gap,
                            target_set_by=target_set_by)
    results["wall_seconds"] = time.perf_counter() - start
    print(format_report(results), flush=True)
    out = args.out or default_bench_folder(args.data, args.loss)
    written, notes = write_results(results, out)
    for note in notes:
        print(note)
    print(f"wrote {', '.join(p.name for p in written)} to {out}"
          + ("" if args.out else " (--out DIR writes elsewhere)"))
    return 0


def _bench_mf(args):
    from ._bench import (dense_ids, format_mf_report, generated_ratings, run_mf_benchmark,
                         write_mf_results)
    from .mf._cli import read_triples

    start = time.perf_counter()
    if args.data:
        ids, ratings = read_triples(args.data)
        ids = dense_ids(ids)
        source, name = f"{args.data} (ids renumbered 0, 1, 2, ...)", os.path.basename(args.data)
    else:
        try:
            ids, ratings = generated_ratings(args.users, args.items, args.ratings)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        source = (f"generated (make_ratings: {args.users:,} users x {args.items:,} items, "
                  f"{args.ratings:,} ratings, rank 10, noise 0.5 = the best RMSE, "
                  "lognormal activity sigma 1)")
        name = "generated"
    results = run_mf_benchmark(ids, ratings, source=source, name=name, k=args.components,
                               threads=args.threads, repeats=args.repeats or 3,
                               max_epochs=args.max_epochs, target=args.target,
                               libmf_obj=args.libmf_obj or os.environ.get("LIBMF_OBJ"))
    results["wall_seconds"] = time.perf_counter() - start
    print(format_mf_report(results), flush=True)
    out = args.out or default_bench_folder(args.data, "mf")
    written, notes = write_mf_results(results, out)
    for note in notes:
        print(note)
    print(f"wrote {', '.join(p.name for p in written)} to {out} in "
          f"{results['wall_seconds']:.0f} s" + ("" if args.out else " (--out DIR writes elsewhere)"))
    return 0


def bench_target(target, data):
    """The time-to-target race's gap, and who chose it: ``(gap, words)``.

    ``--target`` if given; else 0.1% with ``--data`` and 1% on the generated
    data, where plain SGD levels off above 0.1% within the race's epochs.
    """
    from ._bench import BUILTIN_TARGET_GAP, TARGET_GAP
    if target is not None:
        return target, "--target"
    if data:
        return TARGET_GAP, "default with --data"
    return BUILTIN_TARGET_GAP, "default on the generated data"


def default_bench_folder(data, loss):
    """Where ``hogwild bench`` writes without ``--out``: ``hogwild-bench/DATA-LOSS``.

    DATA is the file's name without its compression and format suffixes
    (``news20.bz2`` gives ``news20``), or ``generated``; ``bench mf`` passes
    ``"mf"`` as the loss.
    """
    name = "generated"
    if data:
        name = os.path.basename(data)
        for suffix in (".bz2", ".gz", ".svm", ".svmlight", ".libsvm", ".txt", ".csv", ".tsv"):
            if name.endswith(suffix) and name != suffix:
                name = name[:-len(suffix)]
    return os.path.join("hogwild-bench", f"{name}-{loss}")


def main(argv=None):
    """Run the ``hogwild`` command.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments after the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    status : int
        The exit status.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CommandError as exc:
        print(f"hogwild {args.command}: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:  # while reading a file, say: one line, not a traceback
        print(f"hogwild {args.command}: interrupted", file=sys.stderr)
        return 130
