"""Training across machines on Dask: model averaging and a stale synchronous parameter server.

``DaskHogwildClassifier`` and ``DaskHogwildRegressor`` are the local
estimators trained on the workers of a Dask cluster, each worker running
the same OpenMP kernel on the partitions it holds; ``read_svmlight_files``
reads a list of files as one partition each, lazily. Needs the ``dask``
extra: ``pip install "hogwild[dask]"``.
"""
try:
    import dask  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is in [test]
    raise ImportError(
        "hogwild.dask needs Dask's distributed scheduler: pip install 'hogwild[dask]'"
    ) from exc

from ._estimators import DaskHogwildClassifier, DaskHogwildRegressor
from ._io import read_svmlight_files

__all__ = ["DaskHogwildClassifier", "DaskHogwildRegressor", "read_svmlight_files"]
