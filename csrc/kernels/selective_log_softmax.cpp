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
// token_logprobs below fuses the LM head in and has its own backward.
#include <torch/csrc/autograd/custom_function.h>

#include "../internal.h"

namespace nm {

#if NASHMD_CUDA
bool cuda_kernel_dtype(at::ScalarType st);
at::Tensor cuda_selective_log_softmax(const at::Tensor &flat, const at::Tensor &fid);
#endif

// 16 MiB of float32 per chunk: below glibc's largest dynamic mmap threshold
// (32 MiB), so a freed chunk's memory is reused without fresh page faults.
static constexpr int64_t kDefaultChunkElems = int64_t(1) << 22;

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

// token_logprobs: the LM head and the selective log-softmax fused, by row
// chunks, for h (..., H) hidden states, head (V, H), targets (...) int64:
//     logits_r = h_r · headᵀ / temperature                       (V)
//     out_r    = logits_r[t_r] − logsumexp(logits_r)
// With gradient it is one autograd node that keeps only h, head, targets and
// the per-row logsumexp (N floats), and recomputes each chunk's logits in
// backward:
//     ∂out_r/∂logits_r = onehot(t_r) − softmax(logits_r)
//     ∂h_r   = (g_r · (onehot − softmax) / temperature) · head
//     ∂head += (g_r · (onehot − softmax) / temperature)ᵀ · h_r
// so at most one (chunk_rows, V) block is alive at a time, in forward or
// backward, instead of every chunk's logits saved for backward.
static at::Tensor chunk_logits(const at::Tensor &hc, const at::Tensor &head, double temperature) {
  at::Tensor logits = at::linear(hc, head); // (n, V), the model's dtype
  if (temperature != 1.0) logits = logits / temperature;
  return logits.to(at::kFloat); // (n, V)
}

struct TokenLogprobsFn : public torch::autograd::Function<TokenLogprobsFn> {
  // h (N, H), head (V, H), tg (N) int64 → (N) float32.
  static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &h,
                            const at::Tensor &head, const at::Tensor &tg, double temperature,
                            int64_t chunk_rows) {
    const int64_t N = h.size(0);
    at::Tensor out = at::empty({N}, h.options().dtype(at::kFloat));
    at::Tensor lse = at::empty({N}, h.options().dtype(at::kFloat));
    for (int64_t s = 0; s < N; s += chunk_rows) {
      const int64_t n = std::min(chunk_rows, N - s);
      at::Tensor logits = chunk_logits(h.narrow(0, s, n), head, temperature); // (n, V)
      at::Tensor l = logits.logsumexp(1);                                     // (n)
      lse.narrow(0, s, n).copy_(l);
      out.narrow(0, s, n).copy_(logits.gather(1, tg.narrow(0, s, n).unsqueeze(1)).squeeze(1) - l);
    }
    ctx->save_for_backward({h, head, tg, lse});
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["chunk_rows"] = chunk_rows;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &h = saved[0], &head = saved[1], &tg = saved[2], &lse = saved[3];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t chunk_rows = ctx->saved_data["chunk_rows"].toInt();
    at::Tensor g = grads[0].to(at::kFloat).contiguous(); // (N)
    const int64_t N = h.size(0);
    at::Tensor gh = at::empty_like(h);                                            // (N, H)
    at::Tensor ghead = at::zeros(head.sizes(), head.options().dtype(at::kFloat)); // (V, H)
    for (int64_t s = 0; s < N; s += chunk_rows) {
      const int64_t n = std::min(chunk_rows, N - s);
      at::Tensor hc = h.narrow(0, s, n);
      at::Tensor gc = g.narrow(0, s, n).unsqueeze(1);                  // (n, 1)
      at::Tensor p = chunk_logits(hc, head, temperature);              // (n, V)
      p.sub_(lse.narrow(0, s, n).unsqueeze(1)).exp_().mul_(gc).neg_(); // −g·softmax
      p.scatter_add_(1, tg.narrow(0, s, n).unsqueeze(1), gc);          // + g·onehot
      if (temperature != 1.0) p.div_(temperature);
      at::Tensor gl = p.to(head.scalar_type()); // (n, V)
      gh.narrow(0, s, n).copy_(at::matmul(gl, head));
      ghead.add_(at::matmul(gl.t(), hc).to(at::kFloat));
    }
    return {gh, ghead.to(head.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor token_logprobs(const at::Tensor &h, const at::Tensor &head, const at::Tensor &targets,
                          double temperature, int64_t chunk_rows) {
  const int64_t H = h.size(-1), V = head.size(0);
  at::Tensor flat = h.reshape({-1, H});  // (N, H)
  at::Tensor tg = targets.reshape({-1}); // (N)
  const int64_t N = flat.size(0);
  if (tg.scalar_type() != at::kLong) fail(NM_ERR_DTYPE, "token_logprobs: targets must be int64");
  if (N > 0) {
    auto lo = tg.min().item<int64_t>(), hi = tg.max().item<int64_t>();
    if (lo < 0 || hi >= V)
      fail(NM_ERR_SHAPE, "token_logprobs: target " + std::to_string(lo < 0 ? lo : hi) +
                             " out of range for vocab size " + std::to_string(V));
  }
  if (chunk_rows <= 0)
    chunk_rows = std::max<int64_t>(1, kDefaultChunkElems / std::max<int64_t>(V, 1));
  if (N == 0) return at::empty(targets.sizes(), h.options().dtype(at::kFloat));
  at::Tensor out = TokenLogprobsFn::apply(flat, head, tg, temperature, chunk_rows);
  return out.view(targets.sizes());
}

} // namespace nm
