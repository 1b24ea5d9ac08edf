// selective_log_softmax.cu — log-probabilities of chosen ids, fused, on CUDA.
//
// Math, for every row r of logits x (N, V) and its id k = ids[r]:
//     logp[r] = x[r, k] − lse[r],   lse[r] = logsumexp_v x[r, v]
// which equals log_softmax(x, −1)[r, k] (TRL's selective_log_softmax). Backward:
//     ∂logp[r]/∂x[r, v] = 1[v = k] − softmax(x[r])_v,   so
//     dx[r, v] = g[r] · (1[v = k] − exp(x[r, v] − lse[r]))
// Forward is one pass over V per row (a streaming logsumexp); backward is one
// more pass that writes dx. Neither materialises an (N, V) log-softmax; the
// forward saves only lse (N) for the backward.
//
// Shapes: x (N, V) float32, bfloat16 or float16, contiguous; ids (N) int64 in
// [0, V); logp, lse, g (N) float32; dx (N, V) in x's dtype. Accumulation is
// float32. One block of 1024 threads per row.
//
// CPU version: selective_log_softmax.cpp (chunked ATen). The libtorch glue
// (autograd, checks) is cuda_glue.cpp; cuda_check.cu compares both ways.
#include "cuda_common.cuh"

namespace nm {
namespace cuda {

template <class T>
__global__ void __launch_bounds__(kThreads)
    slsm_fwd_kernel(const T *__restrict__ x, int64_t V, const int64_t *__restrict__ ids,
                    float *__restrict__ logp, float *__restrict__ lse) {
  const int64_t r = blockIdx.x;
  const T *row = x + r * V;
  LSE acc{-INFINITY, 0.0f};
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x)
    acc.add(load(row, v));
  acc = block_lse(acc);
  if (threadIdx.x == 0) {
    const float z = acc.value();
    const int64_t k = ids[r];
    lse[r] = z;
    logp[r] = (k >= 0 && k < V) ? load(row, k) - z : NAN; // the glue checks ids first
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    slsm_bwd_kernel(const T *__restrict__ x, int64_t V, const int64_t *__restrict__ ids,
                    const float *__restrict__ g, const float *__restrict__ lse,
                    T *__restrict__ dx) {
  const int64_t r = blockIdx.x;
  const T *row = x + r * V;
  T *drow = dx + r * V;
  const float gr = g[r], z = lse[r];
  const int64_t k = ids[r];
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    const float p = expf(load(row, v) - z);
    store(drow, v, gr * ((v == k ? 1.0f : 0.0f) - p));
  }
}

static void check_sizes(const char *what, int64_t N, int64_t V) {
  if (N < 0 || V <= 0) fail(std::string(what) + ": need N >= 0 and V > 0");
  if (N > 2147483647) fail(std::string(what) + ": more than 2^31-1 rows");
}

void selective_log_softmax_fwd(const void *x, DType dt, int64_t N, int64_t V, const int64_t *ids,
                               float *logp, float *lse, cudaStream_t stream) {
  const char *what = "selective_log_softmax_fwd";
  check_sizes(what, N, V);
  if (N == 0) return;
  if (!x || !ids || !logp || !lse) fail(std::string(what) + ": NULL buffer");
  dispatch(dt, what, [&](auto tag) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    slsm_fwd_kernel<T><<<static_cast<unsigned>(N), kThreads, 0, stream>>>(static_cast<const T *>(x),
                                                                          V, ids, logp, lse);
  });
  check_launch(what);
}

void selective_log_softmax_bwd(const void *x, DType dt, int64_t N, int64_t V, const int64_t *ids,
                               const float *g, const float *lse, void *dx, cudaStream_t stream) {
  const char *what = "selective_log_softmax_bwd";
  check_sizes(what, N, V);
  if (N == 0) return;
  if (!x || !ids || !g || !lse || !dx) fail(std::string(what) + ": NULL buffer");
  dispatch(dt, what, [&](auto tag) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    slsm_bwd_kernel<T><<<static_cast<unsigned>(N), kThreads, 0, stream>>>(
        static_cast<const T *>(x), V, ids, g, lse, static_cast<T *>(dx));
  });
  check_launch(what);
}

} // namespace cuda
} // namespace nm
