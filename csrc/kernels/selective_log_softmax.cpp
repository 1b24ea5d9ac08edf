// selective_log_softmax.cpp — log-probabilities of chosen ids, by row chunks.
//
// Math, for every row r of logits (N, V) and its id k = ids[r]:
//     logp[r] = logits[r, k] - logsumexp_v logits[r, v]
//             = logits[r, k] - (m_r + log Σ_v exp(logits[r, v] - m_r)),  m_r = max_v logits[r, v]
// which equals log_softmax(logits, -1)[r, k] (TRL's selective_log_softmax),
// without materialising the (N, V) log-softmax. Rows are processed
// chunk_rows at a time, so the float32 working copy is (chunk_rows, V).
//
// Shapes: logits (..., V) any float dtype, ids (...) int64 in [0, V);
// out (...) float32 (float64 when logits are float64).
// Differentiable with respect to logits through ATen's autograd.
//
// CUDA version: selective_log_softmax.cu, a fused logsumexp + gather with its
// own backward (dx = g·(onehot − softmax)), for float32/bfloat16/float16
// logits on a GPU in a CUDA build (NASHMD_CUDA); it ignores chunk_rows, as it
// keeps no (rows, V) float copy. Everything else stays here.
#include "../internal.h"

namespace nm {

#if NASHMD_CUDA
bool cuda_kernel_dtype(at::ScalarType st);
at::Tensor cuda_selective_log_softmax(const at::Tensor &flat, const at::Tensor &fid);
#endif

static constexpr int64_t kDefaultChunkElems = int64_t(1) << 24; // 64 MiB of float32

at::Tensor selective_log_softmax(const at::Tensor &logits, const at::Tensor &ids,
                                 int64_t chunk_rows) {
  if (logits.dim() < 1) fail(NM_ERR_SHAPE, "selective_log_softmax: logits must have a vocab dim");
  if (!at::isFloatingType(logits.scalar_type()))
    fail(NM_ERR_DTYPE, "selective_log_softmax: logits must be floating point");
  if (ids.scalar_type() != at::kLong)
    fail(NM_ERR_DTYPE, "selective_log_softmax: ids must be int64");
  auto lead = logits.sizes().slice(0, static_cast<size_t>(logits.dim() - 1));
  if (ids.sizes() != lead)
    fail(NM_ERR_SHAPE, "selective_log_softmax: ids shape " + c10::str(ids.sizes()) +
                           " must equal logits shape without the last dim " + c10::str(lead));
  const int64_t V = logits.size(-1);
  at::Tensor flat = logits.reshape({-1, V}); // (N, V)
  at::Tensor fid = ids.reshape({-1, 1});     // (N, 1)
  const int64_t N = flat.size(0);
  if (N > 0 && V == 0) fail(NM_ERR_SHAPE, "selective_log_softmax: empty vocab dim");
  if (N > 0) {
    auto lo = fid.min().item<int64_t>(), hi = fid.max().item<int64_t>();
    if (lo < 0 || hi >= V)
      fail(NM_ERR_SHAPE, "selective_log_softmax: id " + std::to_string(lo < 0 ? lo : hi) +
                             " out of range for vocab size " + std::to_string(V));
  }
#if NASHMD_CUDA
  if (N > 0 && logits.is_cuda() && cuda_kernel_dtype(logits.scalar_type()))
    return cuda_selective_log_softmax(flat, fid.reshape({-1})).view(lead);
#endif
  const at::ScalarType work = logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  if (chunk_rows <= 0)
    chunk_rows = std::max<int64_t>(1, kDefaultChunkElems / std::max<int64_t>(V, 1));

  std::vector<at::Tensor> parts;
  for (int64_t s = 0; s < N; s += chunk_rows) {
    int64_t n = std::min(chunk_rows, N - s);
    at::Tensor rows = flat.narrow(0, s, n).to(work);                    // (n, V)
    at::Tensor picked = rows.gather(1, fid.narrow(0, s, n)).squeeze(1); // (n)
    parts.push_back(picked - rows.logsumexp(1));                        // (n)
  }
  at::Tensor out = parts.empty() ? at::empty({0}, logits.options().dtype(work)) : at::cat(parts);
  return out.view(lead);
}

} // namespace nm

nm_error *nm_k_selective_log_softmax(const nm_tensor *logits, const nm_tensor *ids,
                                     int64_t chunk_rows, nm_tensor **out) {
  NM_PROTECT({
    nm::need_out(out);
    nm::give(out,
             nm::selective_log_softmax(nm::T(logits, "logits"), nm::T(ids, "ids"), chunk_rows));
  });
}

namespace nm {

at::Tensor token_logprobs(const at::Tensor &h, const at::Tensor &head, const at::Tensor &targets,
                          double temperature, int64_t chunk_rows) {
  const int64_t H = h.size(-1), V = head.size(0);
  at::Tensor flat = h.reshape({-1, H});  // (N, H)
  at::Tensor tg = targets.reshape({-1}); // (N)
  const int64_t N = flat.size(0);
  if (chunk_rows <= 0)
    chunk_rows = std::max<int64_t>(1, kDefaultChunkElems / std::max<int64_t>(V, 1));
  std::vector<at::Tensor> parts;
  for (int64_t s = 0; s < N; s += chunk_rows) {
    int64_t n = std::min(chunk_rows, N - s);
    at::Tensor logits = at::linear(flat.narrow(0, s, n), head); // (n, V)
    if (temperature != 1.0) logits = logits / temperature;
    parts.push_back(selective_log_softmax(logits, tg.narrow(0, s, n), n));
  }
  at::Tensor out = parts.empty() ? at::empty({0}, h.options().dtype(at::kFloat)) : at::cat(parts);
  return out.view(targets.sizes());
}

} // namespace nm
