// mixture_sample.cpp — Nash-MD's geometric-mixture sampling step, fused.
//
// Math, per row b of policy logits l_θ and reference logits l_ref (V):
//     m_v   = ((1 − β)·l_θ,v + β·l_ref,v) / temperature
//     y_b   = argmax_v ( m_v + G_v ),   G_v = −log(−log u_v),  u_v ~ U(0, 1)
// By the Gumbel-max theorem y_b ~ softmax(m), i.e. the geometric mixture
// π_θ^{1−β} π_ref^β renormalised, tempered — without computing a softmax:
// one pass over the vocabulary per row. β = 0 samples the policy alone.
//
// Shapes: policy, ref (N, V) float32; u (N, V) float32 uniforms from the
// caller's generator; out (N) int64. mixture_probs gives softmax(m) (N, V),
// the distribution sampled from, for tests.
#include <ATen/Parallel.h>

#include <cmath>
#include <limits>

#include "../internal.h"

namespace nm {

at::Tensor mixture_sample(const at::Tensor &policy, const at::Tensor &ref, double beta,
                          double temperature, const at::Tensor &u) {
  if (policy.dim() != 2 || ref.sizes() != policy.sizes() || u.sizes() != policy.sizes())
    fail(NM_ERR_SHAPE, "mixture_sample: policy " + c10::str(policy.sizes()) + ", ref " +
                           c10::str(ref.sizes()) + " and u " + c10::str(u.sizes()) +
                           " must all be (N, V)");
  if (!(beta >= 0 && beta <= 1)) fail(NM_ERR_ARG, "mixture_sample: beta must be in [0, 1]");
  if (!(temperature > 0)) fail(NM_ERR_ARG, "mixture_sample: temperature must be positive");
  at::Tensor lp = policy.to(at::kCPU, at::kFloat).contiguous();
  at::Tensor lr = ref.to(at::kCPU, at::kFloat).contiguous();
  at::Tensor un = u.to(at::kCPU, at::kFloat).contiguous();
  const int64_t N = lp.size(0), V = lp.size(1);
  at::Tensor out = at::empty({N}, at::TensorOptions().dtype(at::kLong));
  const float *pp = lp.data_ptr<float>(), *pr = lr.data_ptr<float>(), *pu = un.data_ptr<float>();
  int64_t *po = out.data_ptr<int64_t>();
  const float a = static_cast<float>((1 - beta) / temperature),
              b = static_cast<float>(beta / temperature);
  at::parallel_for(0, N, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; r++) {
      const float *xp = pp + r * V, *xr = pr + r * V, *xu = pu + r * V;
      float best = -std::numeric_limits<float>::infinity();
      int64_t arg = 0;
      for (int64_t v = 0; v < V; v++) {
        // u in [0, 1): u = 0 gives −inf noise, never chosen.
        const float g = -std::log(-std::log(xu[v]));
        const float m = (b == 0 ? a * xp[v] : a * xp[v] + b * xr[v]) + g;
        if (m > best) best = m, arg = v;
      }
      po[r] = arg;
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
    at::Tensor u = at::rand(p.sizes(), g, at::TensorOptions().dtype(at::kFloat));
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
