"""The ``hogwild`` command (also ``python -m hogwild``).

Subcommands:

- ``hogwild train``: train a model on a LIBSVM/svmlight file and save it;
- ``hogwild predict``: predict a LIBSVM/svmlight file with a saved model;
- ``hogwild bench``: hogwild against scikit-learn's SGD, LIBLINEAR and the
  sparse matrix-vector floor, on built-in generated data or a LIBSVM file.

``train`` and ``predict`` live in ``_cli.py``; a :class:`CommandError` they
raise ends the command with one line on stderr.
"""
import argparse
import sys
import time

from . import __version__
from ._cli import CommandError, add_commands, positive

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

    bench = commands.add_parser(
        "bench", help="time hogwild against scikit-learn, LIBLINEAR and the hardware's floor",
        description="Time hogwild against scikit-learn's SGDClassifier, LIBLINEAR and two "
                    "sparse matrix-vector products, in one process, BLAS pinned to one "
                    "thread, contenders interleaved; print a table.")
    bench.add_argument("--data", metavar="FILE",
                       help="LIBSVM/svmlight file (.gz/.bz2 too); more than two classes become "
                            "first half vs second half of the sorted classes (default: "
                            "generated data)")
    bench.add_argument("--loss", choices=["hinge", "log_loss"], default="hinge",
                       help="(default: hinge)")
    bench.add_argument("--alpha", type=positive(float), default=1e-5,
                       help="L2 strength (default: 1e-5)")
    bench.add_argument("--threads", type=_thread_list, default=None, metavar="N[,N...]",
                       help="hogwild thread counts (default: 1 to every usable thread)")
    bench.add_argument("--epochs", type=positive(int), default=10,
                       help="epochs per fit; the time-to-target race runs up to 4x as many "
                            "(default: 10)")
    bench.add_argument("--repeats", type=positive(int), default=5,
                       help="timed runs of each contender, after one warm-up (default: 5)")
    bench.add_argument("--out", metavar="DIR",
                       help="write results.json and plots there (default: write nothing)")
    generated = bench.add_argument_group("generated data (without --data)")
    generated.add_argument("--rows", type=positive(int), default=DEFAULT_ROWS,
                           help=f"(default: {DEFAULT_ROWS:,})")
    generated.add_argument("--features", type=positive(int), default=DEFAULT_FEATURES,
                           help=f"(default: {DEFAULT_FEATURES:,})")
    generated.add_argument("--nnz-per-row", type=positive(float), default=DEFAULT_NNZ_PER_ROW,
                           help=f"mean non-zeros per row (default: {DEFAULT_NNZ_PER_ROW:g})")
    generated.add_argument("--n-features", type=positive(int), default=None,
                           help=argparse.SUPPRESS)
    bench.set_defaults(run=_bench)
    return parser


def _bench(args):
    from ._bench import (format_report, generated_data, load_binary_svmlight, run_benchmark,
                         write_results)

    start = time.perf_counter()
    if args.data:
        try:
            X, y = load_binary_svmlight(args.data, n_features=args.n_features)
        except (OSError, ValueError) as exc:
            sys.exit(f"hogwild bench: error: cannot load {args.data}: {exc}")
        source, name = args.data, None
    else:
        X, y = generated_data(args.rows, args.features, args.nnz_per_row)
        source = (f"generated (make_sparse_classification, {args.rows:,} x "
                  f"{args.features:,}, ~{args.nnz_per_row:g} nnz/row)")
        name = "generated"
    results = run_benchmark(X, y, source=source, name=name, loss=args.loss, alpha=args.alpha,
                            threads=args.threads, epochs=args.epochs, repeats=args.repeats)
    results["wall_seconds"] = time.perf_counter() - start
    print(format_report(results), flush=True)
    if args.out:
        written, notes = write_results(results, args.out)
        for note in notes:
            print(note)
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
