#!/usr/bin/env bash
# bench/gpu-check.sh — issue 9's one GPU check, for the H200 (Python torch
# 2.11 + CUDA 13, nvcc 13, CMake; no internet; maybe no Go).
#
#   1. env      what is there (GPU, torch, nvcc, cmake, go)
#   2. build    make cuda: build-cuda/libnashmd.so against the Python torch,
#               and bin/ when Go is there
#   3. kernels  csrc/kernels/cuda_check: each kernel against a CPU reference
#               at several sizes and dtypes (max diff), chi-square for the sampler
#   4. gotest   go test ./torch -run 'CUDA|ParseDevice|MixtureSampleEx' -v
#   5. bench    nashmd-bench -gpu cuda: Qwen2-0.5B shape, random bf16 weights,
#               batch 64, prompt 256, 64 new tokens: policy decode tok/s,
#               mixture decode tok/s, whole-step prompts/s
#   6. bench-nographs  the same with NASHMD_CUDA_GRAPHS=0, if time is left
#
# Without Go on the machine, steps 4-5 use Go programs built beforehand into
# build-cuda-prebuilt/ (make gpu-prebuilt, carried along); they load the
# freshly built build-cuda/libnashmd.so through LD_LIBRARY_PATH. If the build
# fails, a carried build-cuda-prebuilt/libnashmd.so (built against the same
# torch 2.11+cu130) is used instead. Each step has a timeout; all of it stays
# within GPU_CHECK_BUDGET seconds (default 450). Logs and the summary go to
# $OUT (the device tool brings that folder back), else bench/results/gpu-check.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-$root/bench/results/gpu-check}
mkdir -p "$out"
deadline=$((SECONDS + ${GPU_CHECK_BUDGET:-450}))
pre=$root/build-cuda-prebuilt
summary=$out/summary.md
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }

# stage NAME CAP CMD...: runs CMD with a timeout of min(CAP, time left),
# output in $out/NAME.log, its tail on stdout.
stage() {
  local name=$1 cap=$2 left t0 rc
  shift 2
  left=$((deadline - SECONDS))
  [ "$cap" -lt "$left" ] || cap=$left
  if [ "$cap" -lt 10 ]; then
    note "- $name: skipped (out of time)"
    return 124
  fi
  echo "=== $name (timeout ${cap}s)"
  t0=$SECONDS
  timeout -k 10 "$cap" "$@" >"$out/$name.log" 2>&1
  rc=$?
  tail -n 60 "$out/$name.log"
  note "- $name: exit $rc in $((SECONDS - t0)) s"
  return $rc
}

# Python runs from / so that the repository's torch/ (Go) is never imported as torch.
py=python3
pyq() { (cd / && "$py" "$@"); }
torchlib=$(pyq -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)
# The CUDA runtime libraries of the pip packages (libcudart.so.13, ...).
nvlibs=$(pyq -c 'import glob, os, nvidia; print(":".join(sorted({os.path.dirname(p) for d in nvidia.__path__ for p in glob.glob(os.path.join(d, "**", "lib*.so*"), recursive=True)})))' 2>/dev/null || true)
nvcc=$(command -v nvcc || true)
[ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; }

env_report() {
  date -u
  nvidia-smi -L || true
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv || true
  pyq -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available(), torch.utils.cmake_prefix_path)' || true
  echo "nvcc: ${nvcc:-none}"; [ -n "$nvcc" ] && "$nvcc" --version | tail -2
  cmake --version | head -1 || echo "cmake: none"
  go version || echo "go: none"
  ldd --version | head -1
  nproc
  echo "torch lib: $torchlib"
  echo "nvidia libs: $nvlibs"
  ls -la "$pre" 2>/dev/null || echo "no $pre"
}
export -f env_report
export -f pyq
export py nvcc pre torchlib nvlibs
stage env 30 bash -c env_report

# ---- 2. build -----------------------------------------------------------------
lib=$root/build-cuda
if [ -n "$nvcc" ]; then export CUDACXX=$nvcc; fi
if ! stage build 240 env JOBS=$(nproc) scripts/cuda-build.sh; then
  if [ -e "$pre/libnashmd.so" ]; then
    note "- build failed: using the carried $pre/libnashmd.so"
    lib=$pre
  else
    note "- build failed and no carried library: stopping"
    exit 1
  fi
fi
export LD_LIBRARY_PATH=$lib:$torchlib:$nvlibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# ---- 3. kernels against the CPU reference ----------------------------------------
if [ -n "$nvcc" ]; then
  stage kernels 90 env NVCC="$nvcc" WERROR=0 CUDA_CHECK_BUILD=build-cuda-check scripts/cuda-compile-check.sh
elif [ -x "$pre/cuda_check" ]; then
  stage kernels 60 "$pre/cuda_check"
fi

# ---- 4. GPU tests -------------------------------------------------------------------
tests='CUDA|ParseDevice|MixtureSampleEx'
if command -v go >/dev/null 2>&1; then
  stage gotest 150 env CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib -Wl,--allow-shlib-undefined" \
    go test ./torch -run "$tests" -v -count=1
elif [ -x "$pre/torch.test" ]; then
  stage gotest 150 bash -c "cd torch && exec '$pre/torch.test' -test.run '$tests' -test.v -test.count=1"
else
  note "- gotest: no Go and no $pre/torch.test: not run"
fi

# ---- 5. benchmark -----------------------------------------------------------------------
bench=$root/bin/nashmd-bench
command -v go >/dev/null 2>&1 || bench=$pre/nashmd-bench
if [ -x "$bench" ]; then
  stage bench 200 "$bench" -gpu cuda
  cp "$out/bench.log" "$out/bench.md" 2>/dev/null && rm -f "$out/bench.log"
  if [ $((deadline - SECONDS)) -gt 100 ]; then
    stage bench-nographs 150 env NASHMD_CUDA_GRAPHS=0 "$bench" -gpu cuda
  fi
else
  note "- bench: no $bench: not run"
fi
{
  echo
  echo "## figures"
  grep -E '^\| (policy decode|mixture decode|whole Nash-MD|policy prefill)' "$out/bench.md" 2>/dev/null || echo "(no bench figures)"
  echo
  echo "## without CUDA graphs"
  grep -E '^\| (policy decode|mixture decode|whole Nash-MD)' "$out/bench-nographs.log" 2>/dev/null || echo "(not run)"
} >>"$summary"
echo "=== summary"
cat "$summary"
