// cuda_glue.cpp — libtorch glue for the CUDA kernels (CUDA build only:
// NASHMD_CUDA). It checks every precondition (device, dtype, contiguity,
// shapes, ids in range), takes the current stream and the generator's Philox
// seed/offset, and calls the raw-pointer launchers of kernels_cuda.h.
//
// selective_log_softmax gets its own autograd node (SelectiveLogSoftmaxCUDA)
// whose backward is the fused kernel dx = g·(onehot − softmax): it saves the
// logits and lse (N), never a (N, V) log-softmax.
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mutex>

#include "../internal.h"
#include "kernels_cuda.h"

namespace nm {

bool cuda_kernel_dtype(at::ScalarType st) {
  return st == at::kFloat || st == at::kBFloat16 || st == at::kHalf;
}

static cuda::DType kdtype(const at::Tensor &x, const char *what) {
  switch (x.scalar_type()) {
  case at::kFloat: return cuda::DType::F32;
  case at::kBFloat16: return cuda::DType::BF16;
  case at::kHalf: return cuda::DType::F16;
  default: break;
  }
  fail(NM_ERR_DTYPE, std::string(what) + ": CUDA kernel needs float32, bfloat16 or float16, got " +
                         std::string(c10::toString(x.scalar_type())));
}

// need_cuda: x is a contiguous CUDA tensor on device d.
static void need_cuda(const at::Tensor &x, const at::Device &d, const char *what,
                      const char *name) {
  if (!x.is_cuda() || x.device() != d)
    fail(NM_ERR_DEVICE, std::string(what) + ": " + name + " must be on " + d.str() + ", is on " +
                            x.device().str());
  if (!x.is_contiguous()) fail(NM_ERR_ARG, std::string(what) + ": " + name + " must be contiguous");
}

// run turns a launcher's std::runtime_error into an nm::Error naming the kernel.
template <class F> static void run(const char *what, F &&f) {
  try {
    f();
  } catch (const Error &) {
    throw;
  } catch (const std::runtime_error &e) {
    fail(NM_ERR_TORCH, std::string(what) + ": " + e.what());
  }
}

// ---- selective_log_softmax -----------------------------------------------------

struct SelectiveLogSoftmaxCUDA : torch::autograd::Function<SelectiveLogSoftmaxCUDA> {
  // x (N, V) contiguous CUDA, ids (N) int64 → logp (N) float32.
  static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &x,
                            const at::Tensor &ids) {
    const char *what = "selective_log_softmax (CUDA)";
    need_cuda(x, x.device(), what, "logits");
    need_cuda(ids, x.device(), what, "ids");
    c10::cuda::CUDAGuard guard(x.device());
    const int64_t N = x.size(0), V = x.size(1);
    auto f = x.options().dtype(at::kFloat);
    at::Tensor logp = at::empty({N}, f), lse = at::empty({N}, f);
    run(what, [&] {
      cuda::selective_log_softmax_fwd(x.data_ptr(), kdtype(x, what), N, V, ids.data_ptr<int64_t>(),
                                      logp.data_ptr<float>(), lse.data_ptr<float>(),
                                      at::cuda::getCurrentCUDAStream());
    });
    ctx->save_for_backward({x, ids});
    ctx->saved_data["lse"] = lse; // an intermediate, not an input or output
    return logp;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    const char *what = "selective_log_softmax backward (CUDA)";
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &ids = saved[1];
    const at::Tensor lse = ctx->saved_data["lse"].toTensor();
    c10::cuda::CUDAGuard guard(x.device());
    at::Tensor g = grads[0].to(at::kFloat).contiguous(); // (N)
    at::Tensor dx = at::empty_like(x, at::MemoryFormat::Contiguous);
    run(what, [&] {
      cuda::selective_log_softmax_bwd(x.data_ptr(), kdtype(x, what), x.size(0), x.size(1),
                                      ids.data_ptr<int64_t>(), g.data_ptr<float>(),
                                      lse.data_ptr<float>(), dx.data_ptr(),
                                      at::cuda::getCurrentCUDAStream());
    });
    return {dx, at::Tensor()};
  }
};

// flat (N, V) CUDA logits of a kernel dtype, fid (N) int64 with ids already
// range-checked → (N) float32, differentiable with respect to flat.
at::Tensor cuda_selective_log_softmax(const at::Tensor &flat, const at::Tensor &fid) {
  return SelectiveLogSoftmaxCUDA::apply(flat.contiguous(), fid.contiguous());
}

// ---- mixture_sample ----------------------------------------------------------------

at::Tensor mixture_logits(const at::Tensor &policy, const at::Tensor &ref, double beta,
                          double temperature);
at::Tensor mixture_cut(const at::Tensor &m, int64_t top_k, double top_p);

// Samples one token per row of the (top-k/top-p filtered) mixture of policy
// and ref (N, V) on CUDA; logp (N) float32 is log softmax(policy/T)[token]
// when want_logp, else undefined.
std::pair<at::Tensor, at::Tensor>
cuda_mixture_sample(const at::Tensor &policy, const at::Tensor &ref, double beta,
                    double temperature, int64_t top_k, double top_p,
                    c10::optional<at::Generator> gen, bool want_logp) {
  const char *what = "mixture_sample (CUDA)";
  if (policy.dim() != 2 || ref.sizes() != policy.sizes())
    fail(NM_ERR_SHAPE, std::string(what) + ": policy " + c10::str(policy.sizes()) + " and ref " +
                           c10::str(ref.sizes()) + " must both be (N, V)");
  if (ref.scalar_type() != policy.scalar_type())
    fail(NM_ERR_DTYPE, std::string(what) + ": policy and ref dtypes differ");
  if (!(beta >= 0 && beta <= 1)) fail(NM_ERR_ARG, "mixture_sample: beta must be in [0, 1]");
  if (!(temperature > 0)) fail(NM_ERR_ARG, "mixture_sample: temperature must be positive");
  if (!(top_p > 0)) fail(NM_ERR_ARG, "mixture_sample: top_p must be in (0, 1] (1: off)");
  const at::Device d = policy.device();
  c10::cuda::CUDAGuard guard(d);
  const int64_t N = policy.size(0), V = policy.size(1);
  const bool filter = (top_k > 0 && top_k < V) || top_p < 1.0;

  at::Tensor p = policy.contiguous(), q = ref.contiguous(), l = p, cut;
  cuda::MixtureArgs a;
  a.a = static_cast<float>((1 - beta) / temperature);
  a.b = static_cast<float>(beta / temperature);
  a.s = static_cast<float>(1 / temperature);
  if (filter) {
    // Sorted path: the mixture materialised once in float32, the per-row
    // threshold from topk/sort, then the same one-pass kernel on it.
    p = mixture_logits(policy, ref, beta, temperature).contiguous(); // (N, V) float32
    cut = mixture_cut(p, top_k, top_p).contiguous();                 // (N) float32
    l = policy.to(at::kFloat).contiguous();
    a.a = 1, a.b = 0;
  }
  need_cuda(p, d, what, "policy");
  need_cuda(q, d, what, "ref");
  need_cuda(l, d, what, "policy");
  at::Tensor tok = at::empty({N}, policy.options().dtype(at::kLong));
  at::Tensor logp = want_logp ? at::empty({N}, policy.options().dtype(at::kFloat)) : at::Tensor();
  a.p = p.data_ptr();
  a.q = a.b != 0 ? q.data_ptr() : nullptr;
  a.l = l.data_ptr();
  a.dt = kdtype(p, what);
  a.N = N, a.V = V;
  a.cut = cut.defined() ? cut.data_ptr<float>() : nullptr;
  a.tok = tok.data_ptr<int64_t>();
  a.logp = want_logp ? logp.data_ptr<float>() : nullptr;
  {
    auto *g = at::get_generator_or_default<at::CUDAGeneratorImpl>(
        gen, at::cuda::detail::getDefaultCUDAGenerator(d.index()));
    std::lock_guard<std::mutex> lock(g->mutex_);
    // One Philox counter block per (row, 4 columns) and call: any fresh
    // offset will do; PyTorch wants increments in multiples of 4.
    auto so = g->philox_engine_inputs(4);
    a.seed = so.first, a.offset = so.second;
  }
  run(what, [&] { cuda::mixture_sample(a, at::cuda::getCurrentCUDAStream()); });
  return {tok, logp};
}

} // namespace nm
