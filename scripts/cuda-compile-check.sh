#!/usr/bin/env bash
# cuda-compile-check.sh — make cuda-compile-check: compiles the CUDA kernels
# (csrc/kernels/*.cu) with nvcc for sm_80 and sm_90, and links the checker
# cuda_check, without a GPU and without a CUDA libtorch: the kernel files
# include only CUDA headers (this script fails if one includes ATen/torch).
# Installs Debian's nvidia-cuda-toolkit (scripts/cuda-toolkit.sh) when nvcc
# is missing. Runs the checker's host part (Philox known answers); the GPU
# part runs only where a GPU is (exit code 77 = no GPU, skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${CUDA_CHECK_BUILD:-build-cuda-check}
NVCC=${NVCC:-nvcc}
command -v "$NVCC" >/dev/null 2>&1 || scripts/cuda-toolkit.sh
echo "cuda-compile-check: $($NVCC --version | tail -1)"
for arch in 80 90; do
  if ! $NVCC --list-gpu-arch | grep -qx "compute_$arch"; then
    echo "cuda-compile-check: this nvcc cannot target sm_$arch" >&2
    exit 1
  fi
done
kernels=(csrc/kernels/mixture_sample.cu csrc/kernels/selective_log_softmax.cu)
# The kernel translation units must stay free of libtorch.
if grep -nE '#include *[<"](ATen|torch|c10)/' csrc/kernels/*.cu csrc/kernels/*.cuh \
    csrc/kernels/kernels_cuda.h csrc/kernels/philox.h; then
  echo "cuda-compile-check: a kernel file includes a libtorch header (above)" >&2
  exit 1
fi
mkdir -p "$out"
flags=(-std=c++17 -O3 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90)
# Warnings are errors here (WERROR=0 drops that, e.g. for another nvcc's new warnings).
[ "${WERROR:-1}" = 0 ] || flags+=(-Xcompiler=-Wall,-Wextra,-Werror -Werror=all-warnings)
objs=()
for k in "${kernels[@]}"; do
  o="$out/$(basename "$k" .cu).o"
  echo "nvcc ${flags[*]} -c $k"
  $NVCC "${flags[@]}" -c "$k" -o "$o"
  objs+=("$o")
done
echo "nvcc ... csrc/kernels/cuda_check.cu -> $out/cuda_check"
$NVCC "${flags[@]}" csrc/kernels/cuda_check.cu "${objs[@]}" -o "$out/cuda_check"
# Both architectures are in the binary as SASS.
CUOBJDUMP=${CUOBJDUMP:-$(dirname "$(command -v "$NVCC")")/cuobjdump}
[ -x "$CUOBJDUMP" ] || CUOBJDUMP=cuobjdump
if ! elfs=$("$CUOBJDUMP" --list-elf "$out/cuda_check" 2>&1); then
  echo "cuda-compile-check: $CUOBJDUMP cannot read this nvcc's output; SASS listing skipped"
else
  for arch in 80 90; do
    if ! grep -q "sm_$arch" <<<"$elfs"; then
      echo "cuda-compile-check: no sm_$arch code in $out/cuda_check" >&2
      exit 1
    fi
  done
  echo "cuda-compile-check: SASS for sm_80 and sm_90 in $out/cuda_check"
fi
rc=0
"$out/cuda_check" || rc=$?
case $rc in
0) echo "cuda-compile-check: compiled for sm_80 and sm_90; GPU checks passed" ;;
77) echo "cuda-compile-check: compiled for sm_80 and sm_90 (no GPU here: kernel checks not run)" ;;
*) echo "cuda-compile-check: cuda_check failed ($rc)" >&2; exit 1 ;;
esac
