"""Properties of the compiled kernel that no timing in the test suite would catch."""
import platform
import shutil
import subprocess
import sys

import pytest

from hogwild import _core


def test_kernel_prefetches_rows():
    # GCC counts __builtin_prefetch as free of side effects and once deleted
    # every prefetch from the kernel (the helpers were found "looping const"),
    # which halved the epoch speed on data larger than the cache without
    # failing anything else. Guard the instructions themselves.
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("checked on x86-64 Linux, where GCC or clang build the kernel")
    objdump = shutil.which("objdump")
    assert objdump, "objdump (binutils, installed with gcc) is needed to read the kernel"
    listing = subprocess.run([objdump, "-d", _core.__file__], capture_output=True,
                             text=True, check=True).stdout
    # prefetcht0/t1/t2/nta, whichever locality hw_prefetch asks for
    assert listing.count("\tprefetch") >= 8  # 2 per kernel and fused type, + the sampler
