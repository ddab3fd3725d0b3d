"""``hogwild.show_config``: what was built, and what it would use."""
import platform
import sys

from . import _native
from ._threads import openmp_enabled, resolve_n_jobs


def show_config(file=None):
    """Print how hogwild was built and how many threads it would use.

    Parameters
    ----------
    file : file-like, default=sys.stdout
        Where to print.
    """
    import numpy
    import scipy
    import sklearn

    from . import __version__

    out = file if file is not None else sys.stdout
    if openmp_enabled():
        openmp = f"yes (OpenMP {_native.OPENMP_VERSION})"
    else:
        openmp = "NO: serial build, one thread"
    lines = [
        f"hogwild:       {__version__}",
        f"OpenMP:        {openmp}",
        f"threads:       {resolve_n_jobs(None)} (n_jobs=None)",
        f"python:        {platform.python_version()} ({platform.machine()})",
        f"numpy:         {numpy.__version__}",
        f"scipy:         {scipy.__version__}",
        f"scikit-learn:  {sklearn.__version__}",
    ]
    print("\n".join(lines), file=out)
