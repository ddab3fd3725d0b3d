"""The one place that turns ``n_jobs`` into an OpenMP thread count."""
from numbers import Integral

from joblib import cpu_count

from . import _core


def openmp_enabled():
    """Whether ``hogwild._core`` was built with OpenMP."""
    return _core.OPENMP_VERSION > 0


def resolve_n_jobs(n_jobs=None):
    """Number of OpenMP threads for ``n_jobs``, with scikit-learn's semantics.

    Parameters
    ----------
    n_jobs : int or None, default=None
        ``None`` or ``-1``: every core this process may use, that is the
        smaller of the CPUs it may run on (affinity mask and cgroup quota,
        through ``joblib.cpu_count``) and OpenMP's own limit (which follows
        ``OMP_NUM_THREADS`` and ``threadpoolctl``). ``-2``: one fewer, and so
        on, never below 1. A positive value is taken as given. ``0`` is an
        error. A build without OpenMP always gives 1.

    Returns
    -------
    n_threads : int
    """
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral)
    ):
        raise TypeError(f"n_jobs must be an int or None, got {n_jobs!r}.")
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, -1 or a count >= 1.")
    if not openmp_enabled():
        return 1
    available = max(1, min(_core.omp_max_threads(), cpu_count()))
    if n_jobs is None:
        return available
    if n_jobs < 0:
        return max(1, available + 1 + int(n_jobs))
    return int(n_jobs)
