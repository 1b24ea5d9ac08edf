#!/usr/bin/env bash
# gpu-prebuilt.sh — make gpu-prebuilt: the Go programs that bench/gpu-check.sh
# runs on a GPU machine without Go (the H200 image has nvcc, CMake and Python
# torch, no Go), built here, on a machine without a GPU:
#
#   build-cuda-prebuilt/libnashmd.so  the CUDA build (a fallback there)
#   build-cuda-prebuilt/torch.test    go test -c ./torch
#   build-cuda-prebuilt/nashmd-bench  with -gpu
#   build-cuda-prebuilt/cuda_check    the kernel checker (sm_80, sm_90)
#
# The CUDA libtorch and nvcc: LIBTORCH and CUDACXX when set, else fetched
# from PyPI into build-cuda-deps/: torch==$TORCH_VERSION (default 2.11.0, the
# H200's; its CUDA 13 wheel) and NVIDIA's CUDA 13.0 toolkit packages (nvcc,
# headers, libraries). About 2 GB, once. Carry build-cuda-prebuilt to the
# GPU machine (device tool: carry ["build-cuda-prebuilt"]).
set -euo pipefail
cd "$(dirname "$0")/.."
deps=$PWD/build-cuda-deps
pre=$PWD/build-cuda-prebuilt
ver=${TORCH_VERSION:-2.11.0}
py=${PYTHON:-python3}
if [ -z "${LIBTORCH:-}" ]; then
  if [ ! -d "$deps/torch/share/cmake/Torch" ]; then
    echo "gpu-prebuilt: fetching torch==$ver (CUDA wheel) into $deps"
    mkdir -p "$deps/wheel"
    "$py" -m pip download -q --no-deps --only-binary=:all: -d "$deps/wheel" "torch==$ver"
    unzip -q -o "$deps"/wheel/torch-"$ver"-*.whl 'torch/include/*' 'torch/share/*' 'torch/lib/*' -d "$deps"
  fi
  export LIBTORCH=$deps/torch
fi
if [ -z "${CUDACXX:-}" ]; then
  if [ ! -x "$deps/cu13/nvidia/cu13/bin/nvcc" ]; then
    echo "gpu-prebuilt: fetching NVIDIA's CUDA 13.0 toolkit packages into $deps/cu13"
    "$py" -m pip install -q --target "$deps/cu13" \
      "cuda-toolkit[nvcc,cudart,crt,nvvm,cccl,cublas,cufft,curand,cusolver,cusparse,nvrtc,nvtx]==13.0.2"
  fi
  export CUDACXX=$deps/cu13/nvidia/cu13/bin/nvcc
fi
JOBS=${JOBS:-$(nproc)} scripts/cuda-build.sh
cgo="-L$PWD/build-cuda -Wl,-rpath,$PWD/build-cuda -Wl,--allow-shlib-undefined"
mkdir -p "$pre"
cp build-cuda/libnashmd.so "$pre/"
CGO_LDFLAGS=$cgo go test -c -o "$pre/torch.test" ./torch
CGO_LDFLAGS=$cgo go build -o "$pre/" ./cmd/nashmd-bench
# The checker with the system's nvcc (Debian's 11.8 here: a pip toolkit's
# nvcc does not link host programs); the H200's driver runs it.
NVCC=${CHECK_NVCC:-nvcc} WERROR=0 CUDA_CHECK_BUILD="$pre" scripts/cuda-compile-check.sh
rm -f "$pre"/*.o
ls -la "$pre"
