// kernels_cuda.h — the launchers of the CUDA kernels, with raw pointers.
//
// Shared by the pure-CUDA kernel files (*.cu, which include no ATen/torch
// header, so `make cuda-compile-check` compiles them with nvcc alone), the
// libtorch glue (cuda_glue.cpp, CUDA build only) and the standalone checker
// (cuda_check.cu). Every launcher checks its preconditions and
// cudaGetLastError() and throws std::runtime_error on failure; the glue turns
// that into an nm_error.
//
// Legend: N rows, V vocabulary; every (N, V) buffer is contiguous, row-major.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace nm {
namespace cuda {

// Element type of a logits buffer; arithmetic is float32 throughout.
enum class DType { F32 = 0, BF16 = 1, F16 = 2 };

// ---- selective_log_softmax (selective_log_softmax.cu) ----------------------

// Forward: logp[r] = x[r, ids[r]] − lse[r],  lse[r] = logsumexp_v x[r, v].
// x (N, V) dtype dt; ids (N) int64 in [0, V); logp, lse (N) float32.
void selective_log_softmax_fwd(const void *x, DType dt, int64_t N, int64_t V, const int64_t *ids,
                               float *logp, float *lse, cudaStream_t stream);

// Backward: dx[r, v] = g[r] · (1[v = ids[r]] − exp(x[r, v] − lse[r])).
// x, dx (N, V) dtype dt; ids (N) int64; g, lse (N) float32.
void selective_log_softmax_bwd(const void *x, DType dt, int64_t N, int64_t V, const int64_t *ids,
                               const float *g, const float *lse, void *dx, cudaStream_t stream);

// ---- mixture_sample (mixture_sample.cu) -------------------------------------

// Per row r, one pass over v:
//     m_v   = a·p[r, v] + b·q[r, v]           (q unread when b = 0; may be NULL)
//     keep  = m_v ≥ cut[r]                    (cut NULL: keep all)
//     tok   = argmax_{kept v} m_v + G(r, v),  G = −log(−log u), u = philox(seed, offset, r, v)
//     logp  = s·l[r, tok] − logsumexp_v s·l[r, v]   (l: the policy row; logp NULL: skipped)
// p, q, l (N, V) dtype dt; cut (N) float32 or NULL; tok (N) int64; logp (N) float32 or NULL.
struct MixtureArgs {
  const void *p = nullptr, *q = nullptr, *l = nullptr;
  DType dt = DType::F32;
  int64_t N = 0, V = 0;
  float a = 1, b = 0, s = 1;
  const float *cut = nullptr;
  uint64_t seed = 0, offset = 0;
  int64_t *tok = nullptr;
  float *logp = nullptr;
};
void mixture_sample(const MixtureArgs &args, cudaStream_t stream);

} // namespace cuda
} // namespace nm
