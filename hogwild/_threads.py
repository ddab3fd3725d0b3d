"""The one place that turns ``n_jobs`` into an OpenMP thread count."""
import os
import warnings
from numbers import Integral

from joblib import cpu_count

from . import _native


def openmp_enabled():
    """Whether ``hogwild``'s native code was built with OpenMP."""
    return _native.OPENMP_VERSION > 0


# GNU libgomp keeps a pool of worker threads per process. A child made by
# fork() inherits the pool's bookkeeping but not its threads, and its next
# parallel region with more than one thread waits for them forever (seen:
# a fit at n_jobs=2 in a multiprocessing 'fork' child hangs, at n_jobs=1 it
# runs). So we remember which process last started a team; a forked child of
# it trains on one thread and says so.
_team_pid = None
_warned_fork = False


def note_team_started():
    """Record that this process has run an OpenMP team of several threads."""
    global _team_pid
    _team_pid = os.getpid()


def forked_after_team():
    """Whether this process was forked from one that had run an OpenMP team."""
    return _team_pid is not None and _team_pid != os.getpid()


def _one_thread_after_fork():
    global _warned_fork
    if not _warned_fork:
        _warned_fork = True
        warnings.warn(
            "hogwild is running in a process forked after its parent trained with "
            "several OpenMP threads; OpenMP (libgomp) cannot start threads in such a "
            "child, so this process trains on one thread. Use the 'spawn' or "
            "'forkserver' start method (joblib's default loky backend does) to get "
            "threads in child processes.",
            RuntimeWarning,
            stacklevel=4,
        )
    return 1


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
        error. A build without OpenMP always gives 1, and so does a process
        forked after its parent ran several threads (with a RuntimeWarning:
        libgomp would hang there).

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
    if forked_after_team():
        return _one_thread_after_fork()
    if n_jobs is not None and n_jobs > 0:
        return int(n_jobs)
    # joblib reads the cgroup quota from /sys, so only when needed
    available = max(1, min(_native.omp_max_threads(), cpu_count()))
    if n_jobs is None:
        return available
    return max(1, available + 1 + int(n_jobs))
