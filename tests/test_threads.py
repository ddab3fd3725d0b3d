"""The n_jobs resolver, OpenMP limits, and show_config."""
import io
import os
import subprocess
import sys

import pytest
from threadpoolctl import threadpool_limits

from _helpers import needs_openmp

import hogwild
from hogwild._threads import openmp_enabled, resolve_n_jobs


def test_n_jobs_semantics():
    everything = resolve_n_jobs(None)
    assert everything >= 1
    assert resolve_n_jobs(-1) == everything
    assert resolve_n_jobs(-2) == max(1, everything - 1)
    assert resolve_n_jobs(-1000) == 1
    if openmp_enabled():
        assert resolve_n_jobs(3) == 3
    with pytest.raises(ValueError, match="n_jobs == 0"):
        resolve_n_jobs(0)
    with pytest.raises(TypeError, match="n_jobs must be an int"):
        resolve_n_jobs(1.5)


@needs_openmp  # a serial build always resolves to 1
def test_threadpoolctl_limit_is_respected():
    with threadpool_limits(limits=1, user_api="openmp"):
        assert resolve_n_jobs(None) == 1
        assert resolve_n_jobs(-1) == 1


@needs_openmp  # a serial build always resolves to 1
def test_omp_num_threads_and_affinity_are_respected(tmp_path):
    # run outside the source tree, so the child imports the installed package
    code = "from hogwild._threads import resolve_n_jobs; print(resolve_n_jobs(None))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "1"
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        cpu = min(os.sched_getaffinity(0))
        out = subprocess.run([sys.executable, "-c", code],
                             env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"},
                             preexec_fn=lambda: os.sched_setaffinity(0, {cpu}), cwd=tmp_path,
                             capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "1"


def test_show_config_reports_build_and_threads():
    buf = io.StringIO()
    hogwild.show_config(file=buf)
    text = buf.getvalue()
    assert ("yes (OpenMP" in text) == openmp_enabled()
    assert f"threads:       {resolve_n_jobs(None)}" in text
    assert hogwild.__version__ in text
