// optim.cpp — AdamW (decoupled weight decay) and gradient clipping, exactly
// as torch.optim.AdamW (foreach=False) and torch.nn.utils.clip_grad_norm_.
//
// AdamW, per parameter p with gradient g, at step t (1-based):
//     p ← p·(1 − lr·wd)
//     m ← β1·m + (1−β1)·g          v ← β2·v + (1−β2)·g²
//     p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)
// Clipping: n = ‖(‖g_1‖, …, ‖g_k‖)‖₂; every g ← g · min(1, max_norm / (n + 1e-6)).
#include <cmath>
#include <vector>

#include "internal.h"

struct nm_optimizer {
  std::vector<at::Tensor> params, m, v;
  std::vector<int64_t> steps;
  double beta1, beta2, eps, wd;
};

namespace nm {

static std::vector<at::Tensor> tensors(const nm_tensor *const *xs, int32_t n) {
  if (n < 0 || (n > 0 && xs == nullptr)) fail(NM_ERR_ARG, "bad tensor list");
  std::vector<at::Tensor> v;
  for (int32_t i = 0; i < n; i++)
    v.push_back(T(xs[i], "parameter"));
  return v;
}

static void adamw_step(nm_optimizer &o, double lr) {
  c10::NoGradGuard ng;
  for (size_t i = 0; i < o.params.size(); i++) {
    at::Tensor &p = o.params[i];
    const at::Tensor &g = p.grad();
    if (!g.defined()) continue;
    if (!o.m[i].defined()) {
      o.m[i] = at::zeros_like(p, at::MemoryFormat::Preserve);
      o.v[i] = at::zeros_like(p, at::MemoryFormat::Preserve);
    }
    const int64_t t = ++o.steps[i];
    p.mul_(1 - lr * o.wd);
    o.m[i].lerp_(g, 1 - o.beta1);
    o.v[i].mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
    const double bc1 = 1 - std::pow(o.beta1, static_cast<double>(t));
    const double bc2 = 1 - std::pow(o.beta2, static_cast<double>(t));
    at::Tensor denom = (o.v[i].sqrt() / std::sqrt(bc2)).add_(o.eps);
    p.addcdiv_(o.m[i], denom, -lr / bc1);
  }
}

} // namespace nm

using namespace nm;

nm_error *nm_adamw_new(const nm_tensor *const *params, int32_t n, double beta1, double beta2,
                       double eps, double weight_decay, nm_optimizer **out) {
  NM_PROTECT({
    need_out(out);
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
      fail(NM_ERR_ARG, "AdamW betas must be in [0, 1)");
    if (!(eps > 0)) fail(NM_ERR_ARG, "AdamW eps must be positive");
    auto o = std::make_unique<nm_optimizer>();
    o->params = tensors(params, n);
    o->m.resize(o->params.size());
    o->v.resize(o->params.size());
    o->steps.assign(o->params.size(), 0);
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->wd = weight_decay;
    *out = o.release();
  });
}

nm_error *nm_adamw_free(nm_optimizer *o) {
  NM_PROTECT({ delete o; });
}

nm_error *nm_adamw_step(nm_optimizer *o, double lr) {
  NM_PROTECT({
    if (o == nullptr) fail(NM_ERR_ARG, "optimizer is NULL");
    adamw_step(*o, lr);
  });
}

nm_error *nm_adamw_get_state(const nm_optimizer *o, int32_t i, nm_tensor **m, nm_tensor **v,
                             int64_t *step) {
  NM_PROTECT({
    need_out(m);
    need_out(v);
    need_out(step);
    if (o == nullptr) fail(NM_ERR_ARG, "optimizer is NULL");
    if (i < 0 || i >= static_cast<int32_t>(o->params.size()))
      fail(NM_ERR_ARG, "state index out of range");
    *step = o->steps[static_cast<size_t>(i)];
    *m = o->m[static_cast<size_t>(i)].defined() ? new nm_tensor(o->m[static_cast<size_t>(i)])
                                                : nullptr;
    *v = o->v[static_cast<size_t>(i)].defined() ? new nm_tensor(o->v[static_cast<size_t>(i)])
                                                : nullptr;
  });
}

nm_error *nm_adamw_set_state(nm_optimizer *o, int32_t i, const nm_tensor *m, const nm_tensor *v,
                             int64_t step) {
  NM_PROTECT({
    if (o == nullptr) fail(NM_ERR_ARG, "optimizer is NULL");
    if (i < 0 || i >= static_cast<int32_t>(o->params.size()))
      fail(NM_ERR_ARG, "state index out of range");
    const at::Tensor &p = o->params[static_cast<size_t>(i)];
    for (const nm_tensor *x : {m, v})
      if (T(x, "state").sizes() != p.sizes())
        fail(NM_ERR_SHAPE, "optimizer state " + c10::str(x->t.sizes()) +
                               " does not fit parameter " + c10::str(p.sizes()));
    o->m[static_cast<size_t>(i)] = m->t.to(p.options()).clone();
    o->v[static_cast<size_t>(i)] = v->t.to(p.options()).clone();
    o->steps[static_cast<size_t>(i)] = step;
  });
}

nm_error *nm_grad_clip(const nm_tensor *const *params, int32_t n, double max_norm,
                       double *total_norm) {
  NM_PROTECT({
    need_out(total_norm);
    std::vector<at::Tensor> ps = tensors(params, n);
    std::vector<at::Tensor> norms;
    for (const at::Tensor &p : ps)
      if (p.grad().defined()) norms.push_back(p.grad().detach().to(at::kFloat).norm());
    if (norms.empty()) {
      *total_norm = 0;
      return;
    }
    const double total = at::stack(norms).norm().item<double>();
    *total_norm = total;
    if (max_norm > 0 && std::isfinite(total)) {
      const double coef = std::min(1.0, max_norm / (total + 1e-6));
      c10::NoGradGuard ng;
      for (at::Tensor &p : ps)
        if (p.grad().defined()) p.mutable_grad().mul_(coef);
    }
  });
}

nm_error *nm_grad_scale(const nm_tensor *const *params, int32_t n, double factor) {
  NM_PROTECT({
    c10::NoGradGuard ng;
    for (at::Tensor &p : tensors(params, n))
      if (p.grad().defined()) p.mutable_grad().mul_(factor);
  });
}

nm_error *nm_grad_zero(const nm_tensor *const *params, int32_t n) {
  NM_PROTECT({
    for (at::Tensor &p : tensors(params, n))
      p.mutable_grad() = at::Tensor();
  });
}
