"""Build of hogwild's native core, ``hogwild._core``, with OpenMP when it works.

The OpenMP flags for the compiler in use are tried on a small program first;
if it does not compile and link, the extension is built serial (one thread)
with a warning, and ``hogwild.show_config()`` reports it. Set
``HOGWILD_NO_OPENMP=1`` to force the serial build.

``HOGWILD_SANITIZE=address,undefined`` (any list that gcc/clang's
``-fsanitize=`` takes) builds a checking extension for development: see
docs/design.md, "Sanitizers", for how to run the tests against it.
"""
import os
import sys
import tempfile
import textwrap

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n == omp_get_max_threads() ? 0 : 1;
    }
    """
)


def openmp_flags(compiler):
    """Compile and link flags that turn on OpenMP for this compiler."""
    if compiler.compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        # Apple clang has no -fopenmp driver flag; libomp comes from Homebrew/conda.
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def openmp_works(compiler, cflags, ldflags):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
            compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=ldflags)
        except Exception:  # CompileError, LinkError, or a missing tool
            return False
    return True


class BuildExtOpenMP(build_ext):
    def build_extensions(self):
        cflags, ldflags = openmp_flags(self.compiler)
        if os.environ.get("HOGWILD_NO_OPENMP"):
            use_openmp = False
            reason = "HOGWILD_NO_OPENMP is set"
        else:
            use_openmp = openmp_works(self.compiler, cflags, ldflags)
            reason = "an OpenMP test program did not compile and link with %s" % (
                " ".join(cflags + ldflags)
            )
        sanitize = os.environ.get("HOGWILD_SANITIZE")
        if sanitize:
            # -O1 and frame pointers keep reports readable; any finding aborts
            for ext in self.extensions:
                ext.extra_compile_args += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer",
                                           "-fno-sanitize-recover=all", "-g", "-O1"]
                ext.extra_link_args += [f"-fsanitize={sanitize}"]
        if use_openmp:
            for ext in self.extensions:
                ext.extra_compile_args += cflags
                ext.extra_link_args += ldflags
        else:
            print(
                "WARNING: building hogwild WITHOUT OpenMP (%s): training will use "
                "one thread. Install an OpenMP runtime (libgomp or libomp) and "
                "rebuild for parallel training." % reason,
                file=sys.stderr,
            )
        super().build_extensions()


OPTIMIZE = ["-O3"] if sys.platform != "win32" else ["/O2"]
# The MF kernel's row sums (a rating's dot product, its gradients' squares)
# are vectorised by GCC with a tree of additions only where it may reorder
# floating-point sums; the kernel's step depends on no particular order.
REASSOCIATE = ([] if sys.platform == "win32" else
               ["-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math"])
# _native: the pieces every kernel shares (its .pxd is cimported, its .pyx
# holds the Python-facing helpers); _core: the linear SGD kernels; _mf: the
# matrix-factorization kernel; _bench._reads: the benchmark's native read floor.
extensions = [
    Extension(name, [name.replace(".", "/") + ".pyx"],
              extra_compile_args=OPTIMIZE + (REASSOCIATE if name == "hogwild._mf" else []))
    for name in ("hogwild._native", "hogwild._core", "hogwild._mf", "hogwild._bench._reads")
]

setup(
    ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}),
    cmdclass={"build_ext": BuildExtOpenMP},
)
