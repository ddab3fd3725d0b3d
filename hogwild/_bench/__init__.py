"""``hogwild bench``: hogwild against scikit-learn, LIBLINEAR and the hardware's floor.

One package, one module a concern: ``_run`` (data, contenders, the run
in order), ``_timing`` (interleaved races, floors, time to target),
``_peers`` (reference solvers, LIBLINEAR, snapml, Vowpal Wabbit),
``_report`` (tables, results.json, plots), ``_reads`` (the native read
floor).

Everything runs in one process with BLAS pinned to one thread. Contenders are
interleaved (round-robin over the repeats, after one warm-up run each), so a
slow spell of the machine hits them all alike, and speed is reported as ratios
taken inside the run: median and min-max over the repeats.

What is measured, for one binary problem (L2 penalty, 'optimal' schedule):

- epoch time of scikit-learn's ``SGDClassifier`` and of hogwild at each thread
  count (``fit`` time / epochs), per non-zero, speed-up and test accuracy;
- hogwild with one thread on float32 data;
- two floors: ``X @ w`` plus ``X.T @ r`` with scipy, the two sparse
  matrix-vector products no epoch that writes every non-zero can beat, and
  ``x_i . w`` over the rows in a shuffled order, the read no epoch can skip;
- time to reach the exact optimum of ``mean(loss) + alpha / 2 ||w||^2``
  (unpenalised intercept) within a relative gap (0.1% by default; 1% on the
  generated data, where plain SGD levels off above 0.1%), for LIBLINEAR,
  scikit-learn's SGD and hogwild, plain and averaged, epoch by epoch through
  ``partial_fit``;
- peers (snapml, vowpalwabbit) when they are importable.

``_mf`` is ``hogwild bench mf``: matrix factorization against LIBMF and
Surprise's SVD, each tuned on a validation split (its docstring says how).
"""
from ._mf import (dense_ids, epoch_counts, format_mf_report, generated_ratings,
                  run_mf_benchmark, seconds_to_rmse, split_ratings, write_mf_results)
from ._peers import reference_solver, run_peers, solve_optimum, time_liblinear
from ._report import format_report, write_results
from ._run import (BENCH_LOSSES, BUILTIN_TARGET_GAP, generated_data, load_binary_svmlight,
                   machine_info, run_benchmark)
from ._timing import TARGET_GAP, Contender, cpu_use, time_epochs, time_floor, time_to_target

__all__ = [
    "BENCH_LOSSES", "BUILTIN_TARGET_GAP", "Contender", "TARGET_GAP", "cpu_use", "dense_ids",
    "epoch_counts", "format_mf_report", "format_report", "generated_data", "generated_ratings",
    "load_binary_svmlight", "machine_info", "reference_solver",
    "run_benchmark", "run_mf_benchmark", "run_peers", "seconds_to_rmse", "solve_optimum",
    "split_ratings", "time_epochs", "time_floor", "time_liblinear", "time_to_target",
    "write_mf_results", "write_results",
]
