"""The kernels under AddressSanitizer and UndefinedBehaviorSanitizer (a CI subset).

The whole suite runs against such a build with ``.ci/sanitize``; here a
scratch build runs every kernel path once, and a deliberately out-of-range
index proves the sanitizer is really watching.
"""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _runtime(name):
    if shutil.which("gcc") is None:
        return None
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                          text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


RUNTIMES = [_runtime("libasan.so"), _runtime("libubsan.so")]
pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="sanitizer runtimes preloaded on Linux"),
    pytest.mark.skipif(None in RUNTIMES, reason="gcc with libasan and libubsan not found"),
    pytest.mark.skipif(not (ROOT / "hogwild" / "_core.pyx").exists(),
                       reason="needs the source tree"),
]

SWEEP = textwrap.dedent("""
    import itertools, numpy as np, hogwild._core
    from hogwild import HogwildClassifier, HogwildRegressor
    from hogwild.datasets import make_sparse_classification, make_sparse_regression
    print(hogwild._core.__file__)
    Xc, yc = make_sparse_classification(600, 80, 0.1, 3, 1.0, 0)
    Xr, yr = make_sparse_regression(600, 80, 0.1, 0.5, 0)
    for (dtype, layout, strategy, n_jobs, penalty, average, loss) in itertools.product(
            [np.float32, np.float64], ["csr", "dense"], ["replicas", "shared"], [1, 2],
            ["l2", "elasticnet"], [False, 2], ["log_loss", "squared_error"]):
        classify = loss == "log_loss"
        X, y = (Xc, yc) if classify else (Xr, yr)
        X = X.astype(dtype)
        X = X.toarray() if layout == "dense" else X
        Est = HogwildClassifier if classify else HogwildRegressor
        est = Est(loss=loss, penalty=penalty, average=average, strategy=strategy,
                  n_jobs=n_jobs, max_iter=3, tol=None, random_state=0).fit(X, y)
        assert np.isfinite(est.predict(X)).all()
    print("clean")
""")

CANARY = textwrap.dedent("""
    import numpy as np, scipy.sparse as sp
    from hogwild import HogwildClassifier
    from hogwild import _validation
    X = sp.random(200, 10, density=0.3, format="csr", random_state=0)
    X.indices[5] = 10**6
    _validation.checked_csr = lambda X, canonical=False: X  # bypass the checks on purpose
    HogwildClassifier(n_jobs=1, max_iter=1, tol=None).fit(X, np.arange(200) % 2)
    print("not caught")
""")


@pytest.fixture(scope="module")
def sanitized_build(tmp_path_factory):
    pytest.importorskip("Cython", reason="building needs Cython")
    work = tmp_path_factory.mktemp("sanitized")
    shutil.copy(ROOT / "setup.py", work)
    shutil.copytree(ROOT / "hogwild", work / "hogwild",
                    ignore=shutil.ignore_patterns("*.so", "*.c", "*.pyd", "__pycache__"))
    env = {**os.environ, "HOGWILD_SANITIZE": "address,undefined"}
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=work,
                   env=env, check=True, capture_output=True)
    return work


def _run(work, code):
    env = {**os.environ, "PYTHONPATH": str(work), "LD_PRELOAD": " ".join(RUNTIMES),
           "ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "halt_on_error=1",
           "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)


def test_every_kernel_path_is_clean_under_sanitizers(sanitized_build):
    out = _run(sanitized_build, SWEEP)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines()[0].startswith(str(sanitized_build))
    assert out.stdout.splitlines()[-1] == "clean"
    assert "runtime error" not in out.stderr  # UBSan


def test_sanitizer_catches_an_out_of_range_index(sanitized_build):
    out = _run(sanitized_build, CANARY)
    assert out.returncode != 0
    assert "AddressSanitizer" in out.stderr
    assert "not caught" not in out.stdout
