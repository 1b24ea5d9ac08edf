// cuda_common.cuh — what the kernel files share: loads in float32 from any
// logits dtype, the online (max, sum) pair of a streaming logsumexp, block
// reductions and the launch check. CUDA headers only (no ATen).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels_cuda.h"

namespace nm {
namespace cuda {

constexpr int kThreads = 1024; // one block per row
constexpr int kWarps = kThreads / 32;

__device__ __forceinline__ float load(const float *p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16 *p, int64_t i) {
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ float load(const __half *p, int64_t i) { return __half2float(p[i]); }

__device__ __forceinline__ void store(float *p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__nv_bfloat16 *p, int64_t i, float v) {
  p[i] = __float2bfloat16(v);
}
__device__ __forceinline__ void store(__half *p, int64_t i, float v) { p[i] = __float2half(v); }

// LSE is a streaming logsumexp: the sum of exp(x − m) over what was seen,
// with m the running max (−inf, 0 when nothing was seen).
struct LSE {
  float m, s;
  __device__ __forceinline__ void add(float x) {
    if (x > m) {
      s = s * expf(m - x) + 1.0f; // exp(−inf) = 0 on the first finite x
      m = x;
    } else if (x > -INFINITY) {
      s += expf(x - m);
    }
  }
  __device__ __forceinline__ static LSE merge(LSE a, LSE b) {
    if (a.m < b.m) {
      LSE t = a;
      a = b;
      b = t;
    }
    if (b.m == -INFINITY) return a;
    return LSE{a.m, a.s + b.s * expf(b.m - a.m)};
  }
  __device__ __forceinline__ float value() const { return m + logf(s); }
};

// block_lse merges every thread's LSE; the result is valid in all threads.
__device__ __forceinline__ LSE block_lse(LSE x) {
  __shared__ float sm[kWarps], ss[kWarps];
  for (int o = 16; o > 0; o >>= 1) {
    LSE y{__shfl_xor_sync(0xffffffffu, x.m, o), __shfl_xor_sync(0xffffffffu, x.s, o)};
    x = LSE::merge(x, y);
  }
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads(); // sm/ss may still be read by a previous call
  if (lane == 0) sm[w] = x.m, ss[w] = x.s;
  __syncthreads();
  x = lane < kWarps ? LSE{sm[lane], ss[lane]} : LSE{-INFINITY, 0.0f};
  for (int o = 16; o > 0; o >>= 1) {
    LSE y{__shfl_xor_sync(0xffffffffu, x.m, o), __shfl_xor_sync(0xffffffffu, x.s, o)};
    x = LSE::merge(x, y);
  }
  return x;
}

// ArgMax keeps the largest score, the smallest index on ties.
struct ArgMax {
  float v;
  int64_t i;
  __device__ __forceinline__ static ArgMax merge(ArgMax a, ArgMax b) {
    return (b.v > a.v || (b.v == a.v && b.i < a.i)) ? b : a;
  }
};

__device__ __forceinline__ ArgMax block_argmax(ArgMax x) {
  __shared__ float sv[kWarps];
  __shared__ int64_t si[kWarps];
  for (int o = 16; o > 0; o >>= 1) {
    ArgMax y{__shfl_xor_sync(0xffffffffu, x.v, o),
             static_cast<int64_t>(__shfl_xor_sync(0xffffffffu, static_cast<long long>(x.i), o))};
    x = ArgMax::merge(x, y);
  }
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) sv[w] = x.v, si[w] = x.i;
  __syncthreads();
  x = lane < kWarps ? ArgMax{sv[lane], si[lane]} : ArgMax{-INFINITY, INT64_MAX};
  for (int o = 16; o > 0; o >>= 1) {
    ArgMax y{__shfl_xor_sync(0xffffffffu, x.v, o),
             static_cast<int64_t>(__shfl_xor_sync(0xffffffffu, static_cast<long long>(x.i), o))};
    x = ArgMax::merge(x, y);
  }
  return x;
}

[[noreturn]] inline void fail(const std::string &msg) { throw std::runtime_error(msg); }

// check_launch throws on a launch error (bad configuration, no device).
inline void check_launch(const char *what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail(std::string(what) + ": CUDA error: " + cudaGetErrorString(e));
}

// dispatch calls f with a null pointer of the element type of dt.
template <class F> void dispatch(DType dt, const char *what, F &&f) {
  switch (dt) {
  case DType::F32: f(static_cast<const float *>(nullptr)); return;
  case DType::BF16: f(static_cast<const __nv_bfloat16 *>(nullptr)); return;
  case DType::F16: f(static_cast<const __half *>(nullptr)); return;
  }
  fail(std::string(what) + ": unsupported dtype " + std::to_string(static_cast<int>(dt)));
}

} // namespace cuda
} // namespace nm
