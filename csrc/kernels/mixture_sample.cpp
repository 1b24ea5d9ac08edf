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

} // namespace nm

nm_error *nm_k_mixture_sample(const nm_tensor *policy, const nm_tensor *ref, double beta,
                              double temperature, nm_generator *gen, nm_tensor **out) {
  NM_PROTECT({
    nm::need_out(out);
    const at::Tensor &p = nm::T(policy, "policy");
    c10::optional<at::Generator> g;
    if (gen) g = gen->g;
    at::Tensor u =
        at::rand({p.dim() == 2 ? p.size(0) : 0}, g, at::TensorOptions().dtype(at::kFloat));
    nm::give(out, nm::mixture_sample(p, nm::T(ref, "ref"), beta, temperature, u));
  });
}

nm_error *nm_k_mixture_probs(const nm_tensor *policy, const nm_tensor *ref, double beta,
                             double temperature, nm_tensor **out) {
  NM_PROTECT({
    nm::need_out(out);
    nm::give(out, nm::mixture_probs(nm::T(policy, "policy"), nm::T(ref, "ref"), beta, temperature));
  });
}
