#!/usr/bin/env bash
# cuda-build.sh — make cuda: libnashmd.so with the CUDA kernels in build-cuda/,
# and the commands in bin/ linked against it.
#
# The libtorch: LIBTORCH=/path (a CUDA libtorch 2.x: lib/libtorch_cuda.so),
# else the installed Python torch (torch.utils.cmake_prefix_path), which must
# be a CUDA build. nvcc: on PATH, or CUDACXX, or /usr/local/cuda/bin/nvcc.
# Knobs: JOBS (compile jobs), CUDA_BUILD (default build-cuda), PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${CUDA_BUILD:-build-cuda}
jobs=${JOBS:-$(nproc)}
py=${PYTHON:-python3}

# Python runs from / so that the repository's torch/ (Go) is never imported as torch.
pyq() { (cd / && "$py" "$@"); }

die() {
  echo "make cuda: $*" >&2
  exit 2
}

prefix="" libdir=""
if [ -n "${LIBTORCH:-}" ]; then
  [ -d "$LIBTORCH" ] || die "LIBTORCH=$LIBTORCH is not a directory"
  prefix=$LIBTORCH libdir=$LIBTORCH/lib
elif command -v "$py" >/dev/null 2>&1 && cmp=$(pyq -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null); then
  prefix=$cmp libdir=$(pyq -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  echo "make cuda: libtorch from Python torch $(pyq -c 'import torch; print(torch.__version__)') ($prefix)"
else
  die "needs a CUDA libtorch 2.x: set LIBTORCH=/path/to/libtorch (with lib/libtorch_cuda.so), or install a CUDA build of PyTorch for $py"
fi
[ -e "$libdir/libtorch_cuda.so" ] || die "the libtorch at $prefix has no CUDA ($libdir/libtorch_cuda.so is missing): a CPU-only libtorch cannot build the kernels"

nvcc=${CUDACXX:-$(command -v nvcc || true)}
[ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; }
[ -n "$nvcc" ] || die "needs nvcc (the CUDA toolkit): put it on PATH or set CUDACXX=/path/to/nvcc"
command -v cmake >/dev/null 2>&1 || die "needs cmake (3.18 or newer)"
echo "make cuda: $("$nvcc" --version | tail -1)"
cudaroot=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
# A toolkit from pip (nvidia-cuda-nvcc, nvidia-cuda-runtime, ...) has only
# versioned libraries (libcudart.so.13), which CMake's FindCUDAToolkit does
# not take: give it a root of links with the unversioned names too.
if ! ls "$cudaroot"/lib64/libcudart.so "$cudaroot"/lib/libcudart.so >/dev/null 2>&1 &&
  ls "$cudaroot"/lib/libcudart.so.* >/dev/null 2>&1; then
  shim=$PWD/$out/cuda-root
  echo "make cuda: $cudaroot has no libcudart.so; linking a toolkit root in $shim"
  rm -rf "$shim" && mkdir -p "$shim/lib64"
  for d in bin include nvvm; do [ -e "$cudaroot/$d" ] && ln -s "$cudaroot/$d" "$shim/$d"; done
  for f in "$cudaroot"/lib/*; do
    b=$(basename "$f")
    ln -sf "$f" "$shim/lib64/$b"
    case $b in *.so.*) [ -e "$shim/lib64/${b%%.so.*}.so" ] || ln -s "$f" "$shim/lib64/${b%%.so.*}.so" ;; esac
  done
  ln -s lib64 "$shim/lib"
  cudaroot=$shim nvcc=$shim/bin/nvcc
fi

cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=Release -DNASHMD_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DCUDAToolkit_ROOT="$cudaroot" -DCUDA_TOOLKIT_ROOT_DIR="$cudaroot"
cmake --build "$out" -j "$jobs"

# The commands, linked against build-cuda/libnashmd.so: flags from
# CGO_LDFLAGS come before the package's own -L build, so they win. libtorch's
# own CUDA dependencies (cuDNN, NCCL, ...) are resolved at run time, through
# its RUNPATH, not at link time (--allow-shlib-undefined).
export CGO_LDFLAGS="-L$PWD/$out -Wl,-rpath,$PWD/$out -Wl,--allow-shlib-undefined"
if ! command -v go >/dev/null 2>&1; then
  echo "make cuda: built $out/libnashmd.so; no Go toolchain here, so bin/ was not rebuilt"
  echo "  (Go programs built elsewhere use this library with LD_LIBRARY_PATH=$PWD/$out)"
  exit 0
fi
mkdir -p bin
go build -o bin/ ./cmd/...
echo "make cuda: built $out/libnashmd.so and bin/ (go test needs CGO_LDFLAGS=\"$CGO_LDFLAGS\"; make cuda-test sets it)"
