#!/usr/bin/env bash
# Build LIBMF with AVX and OpenMP from the sources in the libmf 0.9.2 sdist,
# for `hogwild bench mf --libmf-obj PATH` (or LIBMF_OBJ=PATH).
#
#     bash bench/build_libmf.sh [OUTPUT]      # default: ./libmf_avx.so
#
# The PyPI binding compiles the same mf.cpp with neither SIMD nor OpenMP
# (-std=c++11 only). Its SSE variant (-DUSESSE) uses the wrong per-row rate in
# the second half of each update, so AVX is the build to compare against.
# Needs pip, tar and g++ (with OpenMP); prints the path of the library last.
set -euo pipefail

out=$(realpath -m "${1:-libmf_avx.so}")
python=${PYTHON:-python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" -m pip download --quiet --no-binary :all: --no-deps libmf==0.9.2 -d "$work"
tar -xzf "$work"/libmf-0.9.2.tar.gz -C "$work"
src="$work/libmf-0.9.2/src_cpp"
g++ -O3 -std=c++11 -mavx -DUSEAVX -DUSEOMP -fopenmp -shared -fPIC \
    "$src/mf.cpp" "$src/libmf_interface.cpp" -o "$out"
echo "$out"
