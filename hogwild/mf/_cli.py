"""``hogwild mf``: train, predict and recommend from CSV or TSV rating files.

A ratings file holds ``user,item,rating[,timestamp]`` lines (commas, tabs
or spaces; a header line is recognised by its first two fields not being
integers). Ids are used as they are: row ``u`` of the user factors is user
``u``.
"""
import numpy as np

from .. import __version__
from .._cli import (CommandError, _check_writable, _open_binary, _why, load_model, positive,
                    save_model, write_output)
from ._estimator import SCHEDULES, MatrixFactorization


def _is_int(text):
    try:
        int(text)
    except ValueError:
        return False
    return True


def read_triples(path, columns=3):
    """``(ids, ratings)`` from a ratings file: an (n, 2) int64 array and the ratings (or None).

    Parameters
    ----------
    path : str
        Plain, or compressed by gzip (``.gz``) or bzip2 (``.bz2``).
    columns : {3, 2}
        3: user, item, rating (more fields are ignored); 2: user, item.
    """
    try:  # .gz and .bz2 as well, as np.loadtxt reads them below
        with _open_binary(path) as f:
            first = f.readline().decode("utf-8", errors="replace")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {_why(exc)}") from None
    if not first.strip():
        raise CommandError(f"{path} is empty")
    delimiter = "," if "," in first else ("\t" if "\t" in first else None)
    fields = first.strip().split(delimiter)
    if len(fields) < columns:
        raise CommandError(f"{path}: line 1 has {len(fields)} fields; expected "
                           + ("user, item, rating" if columns == 3 else "user, item"))
    header = not (_is_int(fields[0].strip()) and _is_int(fields[1].strip()))
    try:
        table = np.loadtxt(path, delimiter=delimiter, skiprows=int(header),
                           usecols=tuple(range(columns)), ndmin=2, dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise CommandError(f"{path}: {str(exc).splitlines()[0]}") from None
    if table.shape[0] == 0:
        raise CommandError(f"{path} holds no ratings")
    ids = table[:, :2]
    if not np.array_equal(ids, np.round(ids)) or ids.min() < 0:
        bad = np.flatnonzero(~(ids == np.round(ids)).all(axis=1) | (ids < 0).any(axis=1))[0]
        raise CommandError(f"{path}: line {bad + 1 + int(header)}: user and item ids must be "
                           "non-negative integers")
    return ids.astype(np.int64), (table[:, 2] if columns == 3 else None)


def _rmse(model, ids, ratings):
    return float(np.sqrt(np.mean((model.predict(ids) - ratings) ** 2)))


def _train(args):
    _check_writable(args.output)
    ids, ratings = read_triples(args.data)
    model = MatrixFactorization(
        args.components, alpha=args.alpha, learning_rate=args.learning_rate,
        eta0=args.eta0 if args.eta0 is not None else (0.1 if args.learning_rate == "adagrad"
                                                      else 0.01),
        max_iter=args.epochs, n_jobs=args.threads, strategy=args.strategy,
        random_state=args.seed, verbose=1)
    print(f"hogwild {__version__} mf train: {args.data}, {len(ratings):,} ratings, "
          f"{int(ids[:, 0].max()) + 1:,} user ids x {int(ids[:, 1].max()) + 1:,} item ids; "
          f"k={args.components}, {args.epochs} epochs", flush=True)
    test = read_triples(args.test) if args.test else None
    try:
        model.fit(ids, ratings)
    except ValueError as exc:
        raise CommandError(str(exc).splitlines()[0]) from None
    except KeyboardInterrupt:
        raise CommandError("interrupted: no model written", status=130) from None
    print(f"train RMSE {_rmse(model, ids, ratings):.4f}")
    if test is not None:
        print(f"test RMSE {_rmse(model, *test):.4f} on {args.test} ({len(test[1]):,} ratings)")
    save_model(args.output, model, zero_based=None)
    print(f"saved {args.output}")
    return 0


def _load(path):
    model, _ = load_model(path)
    if not isinstance(model, MatrixFactorization):
        raise CommandError(f"{path} is a linear model: use hogwild predict")
    return model


def _predict(args):
    if args.output is not None:
        _check_writable(args.output)
    model = _load(args.model)
    ids, _ = read_triples(args.data, columns=2)
    predicted = model.predict(ids)
    return write_output(args.output, "".join(f"{v:.6g}\n" for v in predicted),
                        len(predicted), "predictions")


def _recommend(args):
    if args.output is not None:
        _check_writable(args.output)
    model = _load(args.model)
    exclude = read_triples(args.exclude, columns=2)[0] if args.exclude else None
    try:
        users = [int(u) for u in args.users.split(",")]
        items, scores = model.recommend(users, n=args.n, exclude_seen=not args.include_seen,
                                        exclude=exclude)
    except ValueError as exc:
        raise CommandError(str(exc).splitlines()[0]) from None
    lines = [f"{u}\t{i}\t{s:.6g}\n" for u, row, row_s in zip(users, items, scores)
             for i, s in zip(row, row_s) if np.isfinite(s)]
    return write_output(args.output, "".join(lines), len(lines), "recommendations")


def add_mf_command(commands):
    """Add ``hogwild mf`` (``train``, ``predict``, ``recommend``) to the command's subparsers."""
    mf = commands.add_parser(
        "mf", help="matrix factorization of ratings",
        description="Matrix factorization of user,item,rating files (CSV or TSV).")
    actions = mf.add_subparsers(dest="action", required=True)
    train = actions.add_parser("train", help="fit factors to a ratings file")
    train.add_argument("data", help="user,item,rating[,timestamp] lines")
    train.add_argument("-o", "--output", required=True, help="model file to write")
    train.add_argument("--test", help="a ratings file to report the RMSE on")
    train.add_argument("--components", type=positive(int), default=10, metavar="K",
                       help="rank of the factors (default: 10)")
    train.add_argument("--alpha", type=float, default=0.1, help="L2 strength (default: 0.1)")
    train.add_argument("--epochs", type=positive(int), default=20, help="(default: 20)")
    train.add_argument("--learning-rate", choices=["adagrad", "constant", "backoff"],
                       default="adagrad")
    train.add_argument("--eta0", type=positive(float), default=None,
                       help="step (default: 0.1 with adagrad, else 0.01)")
    train.add_argument("--threads", type=positive(int), default=None, metavar="N")
    default = MatrixFactorization().strategy
    train.add_argument("--strategy", choices=sorted(SCHEDULES), default=default,
                       help=f"how threads share the ratings (default: {default})")
    train.add_argument("--seed", type=int, default=None)
    train.set_defaults(run=_train)
    predict = actions.add_parser("predict", help="predict the ratings of user,item pairs")
    predict.add_argument("model")
    predict.add_argument("data", help="user,item[,...] lines")
    predict.add_argument("-o", "--output", help="file to write (default: stdout)")
    predict.set_defaults(run=_predict)
    recommend = actions.add_parser("recommend", help="the best items for some users")
    recommend.add_argument("model")
    recommend.add_argument("--users", required=True, help="user ids, comma-separated")
    recommend.add_argument("-n", type=positive(int), default=10, help="items a user")
    recommend.add_argument("--exclude", help="further user,item[,...] lines not to recommend")
    recommend.add_argument("--include-seen", action="store_true",
                           help="also recommend the items a user rated in training")
    recommend.add_argument("-o", "--output", help="file to write (default: stdout)")
    recommend.set_defaults(run=_recommend)
