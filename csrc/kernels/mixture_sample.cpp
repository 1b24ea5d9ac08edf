// mixture_sample.cpp — Nash-MD's geometric-mixture sampling step, fused.
//
// Math, per row b of policy logits l_θ and reference logits l_ref (V):
//     m_v = ((1 − β)·l_θ,v + β·l_ref,v) / temperature
//     e_v = exp(m_v − max_v m_v),   S = Σ_v e_v
//     y_b = the first v with Σ_{w ≤ v} e_w > u_b·S,   u_b ~ U(0, 1)
// (inverse-CDF sampling), so y_b ~ softmax(m), i.e. the geometric mixture
// π_θ^{1−β} π_ref^β renormalised, tempered. Mixing raw logits equals mixing
// log-probs: they differ by a per-row constant. β = 0 samples the policy.
// One uniform per row: drawing one per vocabulary entry (Gumbel-max) cost
// more than the rest of the step on CPU (mt19937 is serial, ~4 ns each).
// The mix, max, exp and sum are ATen's vectorised, threaded kernels; the
// scan is one parallel_for over rows.
//
// Shapes: policy, ref (N, V) float; u (N) float32 uniforms from the
// caller's generator; out (N) int64. mixture_probs gives softmax(m) (N, V),
// the distribution sampled from, for tests.
//
// Filters (nm_k_mixture_sample_ex, and the CUDA sampler): top-k/top-p as
// transformers' TopK/TopPLogitsWarper on m, expressed as a per-row threshold
// cut_r (mixture_cut, a sort): tokens with m_v < cut_r are dropped. The same
// call can return logp_r = log softmax(l_θ / temperature)[y_r], the token's
// log-prob under the (unfiltered, tempered) policy.
//
// CUDA version: mixture_sample.cu (Philox-based Gumbel noise, the filter as
// the same threshold); in a CUDA build (NASHMD_CUDA) tensors on a GPU go
// there, tensors on the CPU stay here.
#include <ATen/Parallel.h>

#include <limits>

#include "../internal.h"

namespace nm {

at::Tensor mixture_sample(const at::Tensor &policy, const at::Tensor &ref, double beta,
                          double temperature, const at::Tensor &u) {
  if (policy.dim() != 2 || ref.sizes() != policy.sizes())
    fail(NM_ERR_SHAPE, "mixture_sample: policy " + c10::str(policy.sizes()) + " and ref " +
                           c10::str(ref.sizes()) + " must both be (N, V)");
  if (u.dim() != 1 || u.size(0) != policy.size(0))
    fail(NM_ERR_SHAPE, "mixture_sample: u " + c10::str(u.sizes()) + " must be (N) for policy " +
                           c10::str(policy.sizes()));
  if (!(beta >= 0 && beta <= 1)) fail(NM_ERR_ARG, "mixture_sample: beta must be in [0, 1]");
  if (!(temperature > 0)) fail(NM_ERR_ARG, "mixture_sample: temperature must be positive");
  at::Tensor lp = policy.to(at::kCPU, at::kFloat);
  at::Tensor e = beta > 0 ? at::add(lp * static_cast<float>((1 - beta) / temperature),
                                    ref.to(at::kCPU, at::kFloat), beta / temperature)
                          : lp * static_cast<float>(1 / temperature);    // (N, V) m
  e.sub_(std::get<0>(e.max(1, true))).exp_();                            // (N, V) e
  at::Tensor thr = (u.to(at::kCPU, at::kFloat) * e.sum(1)).contiguous(); // (N) u·S
  e = e.contiguous();
  const int64_t N = e.size(0), V = e.size(1);
  at::Tensor out = at::empty({N}, at::TensorOptions().dtype(at::kLong));
  const float *pe = e.data_ptr<float>(), *pt = thr.data_ptr<float>();
  int64_t *po = out.data_ptr<int64_t>();
  at::parallel_for(0, N, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; r++) {
      const float *x = pe + r * V;
      float cum = 0;
      int64_t arg = -1, last = 0;
      for (int64_t v = 0; v < V; v++) {
        if (x[v] > 0) last = v;
        cum += x[v];
        if (cum > pt[r]) {
          arg = v;
          break;
        }
      }
      // Rounding (the scan's sum vs S) can leave u·S unreached: the last
      // token with positive mass, never one with none.
      po[r] = arg >= 0 ? arg : last;
    }
  });
  return out.to(policy.device());
}

at::Tensor mixture_probs(const at::Tensor &policy, const at::Tensor &ref, double beta,
                         double temperature) {
  return (((1 - beta) * policy.to(at::kFloat) + beta * ref.to(at::kFloat)) / temperature)
      .softmax(-1);
}

// m = ((1 − β)·l_θ + β·l_ref) / temperature in float32 (N, V).
at::Tensor mixture_logits(const at::Tensor &policy, const at::Tensor &ref, double beta,
                          double temperature) {
  at::Tensor m = policy.to(at::kFloat);
  if (beta > 0) m = m * (1 - beta) + ref.to(at::kFloat) * beta;
  return m / temperature;
}

// Per-row threshold (N) float32 of top-k then top-p on m (N, V): keep
// m_v ≥ cut. top-k keeps values ≥ the k-th largest (TopKLogitsWarper); top-p
// drops the ascending-sorted prefix whose softmax mass is ≤ 1 − top_p, the
// largest value always kept (TopPLogitsWarper). Values tied with the cut are
// all kept (the warper may drop some of them by sort order). −inf: no filter.
at::Tensor mixture_cut(const at::Tensor &m, int64_t top_k, double top_p) {
  const int64_t N = m.size(0), V = m.size(1);
  const float ninf = -std::numeric_limits<float>::infinity();
  at::Tensor cut = at::full({N}, ninf, m.options().dtype(at::kFloat));
  at::Tensor mk = m;
  if (top_k > 0 && top_k < V) {
    cut = std::get<0>(m.topk(top_k, -1)).narrow(-1, top_k - 1, 1).squeeze(-1); // (N)
    mk = m.masked_fill(m < cut.unsqueeze(-1), ninf);
  }
  if (top_p < 1.0) {
    at::Tensor sorted = std::get<0>(mk.sort(-1, false));          // (N, V) ascending
    at::Tensor cum = sorted.softmax(-1).cumsum(-1);               // (N, V)
    at::Tensor first = (cum <= (1.0 - top_p)).sum(-1, true);      // (N, 1) dropped count
    first = first.clamp_max(V - 1);                               // keep at least one
    cut = at::maximum(cut, sorted.gather(-1, first).squeeze(-1)); // (N)
  }
  return cut;
}

// The filtered sampler on the CPU: m with dropped tokens at −inf, then the
// sampler above on it (β = 0, temperature 1).
static std::pair<at::Tensor, at::Tensor>
mixture_sample_ex(const at::Tensor &policy, const at::Tensor &ref, double beta, double temperature,
                  int64_t top_k, double top_p, c10::optional<at::Generator> g) {
  if (policy.dim() != 2 || ref.sizes() != policy.sizes())
    fail(NM_ERR_SHAPE, "mixture_sample: policy " + c10::str(policy.sizes()) + " and ref " +
                           c10::str(ref.sizes()) + " must both be (N, V)");
  if (!(temperature > 0)) fail(NM_ERR_ARG, "mixture_sample: temperature must be positive");
  if (!(beta >= 0 && beta <= 1)) fail(NM_ERR_ARG, "mixture_sample: beta must be in [0, 1]");
  if (!(top_p > 0)) fail(NM_ERR_ARG, "mixture_sample: top_p must be in (0, 1] (1: off)");
  at::Tensor m = mixture_logits(policy, ref, beta, temperature);
  m = m.masked_fill(m < mixture_cut(m, top_k, top_p).unsqueeze(-1),
                    -std::numeric_limits<float>::infinity());
  at::Tensor u = at::rand({m.size(0)}, g, at::TensorOptions().dtype(at::kFloat)); // (N)
  at::Tensor tok = mixture_sample(m, m, 0, 1, u);
  at::Tensor logp = (policy.to(at::kFloat) / temperature)
                        .log_softmax(-1)
                        .gather(-1, tok.unsqueeze(-1))
                        .squeeze(-1);
  return {tok, logp};
}

#if NASHMD_CUDA
std::pair<at::Tensor, at::Tensor>
cuda_mixture_sample(const at::Tensor &policy, const at::Tensor &ref, double beta,
                    double temperature, int64_t top_k, double top_p,
                    c10::optional<at::Generator> gen, bool want_logp);
#endif

} // namespace nm

nm_error *nm_k_mixture_sample(const nm_tensor *policy, const nm_tensor *ref, double beta,
                              double temperature, nm_generator *gen, nm_tensor **out) {
  NM_PROTECT({
    nm::need_out(out);
    const at::Tensor &p = nm::T(policy, "policy");
    c10::optional<at::Generator> g;
    if (gen) g = gen->g;
#if NASHMD_CUDA
    if (p.is_cuda())
      return nm::give(
          out,
          nm::cuda_mixture_sample(p, nm::T(ref, "ref"), beta, temperature, 0, 1.0, g, false).first);
#endif
    at::Tensor u =
        at::rand({p.dim() == 2 ? p.size(0) : 0}, g, at::TensorOptions().dtype(at::kFloat));
    nm::give(out, nm::mixture_sample(p, nm::T(ref, "ref"), beta, temperature, u));
  });
}

nm_error *nm_k_mixture_sample_ex(const nm_tensor *policy, const nm_tensor *ref, double beta,
                                 double temperature, int64_t top_k, double top_p, nm_generator *gen,
                                 nm_tensor **tokens, nm_tensor **logp) {
  NM_PROTECT({
    nm::need_out(tokens);
    const at::Tensor &p = nm::T(policy, "policy");
    const at::Tensor &r = nm::T(ref, "ref");
    c10::optional<at::Generator> g;
    if (gen) g = gen->g;
    std::pair<at::Tensor, at::Tensor> res;
#if NASHMD_CUDA
    if (p.is_cuda())
      res = nm::cuda_mixture_sample(p, r, beta, temperature, top_k, top_p, g, logp != nullptr);
    else
#endif
      res = nm::mixture_sample_ex(p, r, beta, temperature, top_k, top_p, g);
    // Both results exist before either out-parameter is written.
    nm_tensor *t = new nm_tensor(res.first);
    if (logp) nm::give(logp, res.second);
    *tokens = t;
  });
}

nm_error *nm_k_mixture_probs(const nm_tensor *policy, const nm_tensor *ref, double beta,
                             double temperature, nm_tensor **out) {
  NM_PROTECT({
    nm::need_out(out);
    nm::give(out, nm::mixture_probs(nm::T(policy, "policy"), nm::T(ref, "ref"), beta, temperature));
  });
}
