// mixture_sample.cu — Nash-MD's geometric-mixture sampling step, fused, on CUDA.
//
// Math, per row r of policy logits l_θ and reference logits l_ref (V), with
// a = (1 − β)/temperature, b = β/temperature, s = 1/temperature:
//     m_v   = a·l_θ,v + b·l_ref,v
//     y_r   = argmax_{v: m_v ≥ cut_r} ( m_v + G_v ),   G_v = −log(−log u_v)
//     logp_r = s·l_θ,y − logsumexp_v s·l_θ,v            (y's log-prob under the policy)
// By the Gumbel-max theorem y_r ~ softmax(m) restricted to {m_v ≥ cut_r}, i.e.
// the geometric mixture π_θ^{1−β} π_ref^β renormalised and tempered, without a
// softmax: one pass over the vocabulary reads both logit rows once, and the
// same pass accumulates the policy's logsumexp. β = 0 samples the policy
// alone (the reference row is not read). cut_r is −inf without a filter; the
// glue computes it for top-k/top-p with a sort, then calls this same pass.
//
// Randomness: u_v = philox4x32-10(key = seed, counter = (v/4, r, offset)),
// word v mod 4, mapped to (0, 1) (philox.h); seed and offset come from the
// caller's CUDA generator, which advances its offset per call. Draws differ
// from the CPU version's (at::rand), so the two agree in distribution, not
// per token.
//
// Shapes: l_θ, l_ref (N, V) float32, bfloat16 or float16, contiguous; cut (N)
// float32 or NULL; tokens (N) int64; logp (N) float32 or NULL. Arithmetic is
// float32. One block of 1024 threads per row, each thread four consecutive
// v per Philox call.
//
// CPU version: mixture_sample.cpp. The glue (generator, filters) is
// cuda_glue.cpp; cuda_check.cu checks the kernel against a CPU reference.
#include "cuda_common.cuh"
#include "philox.h"

namespace nm {
namespace cuda {

template <class T>
__global__ void __launch_bounds__(kThreads)
    mixture_sample_kernel(const T *__restrict__ p, const T *__restrict__ q, const T *__restrict__ l,
                          int64_t V, float a, float b, float s, const float *__restrict__ cut,
                          uint64_t seed, uint64_t offset, int64_t *__restrict__ tok,
                          float *__restrict__ logp) {
  const int64_t r = blockIdx.x;
  const T *pr = p + r * V, *qr = q ? q + r * V : nullptr, *lr = l ? l + r * V : nullptr;
  const float c = cut ? cut[r] : -INFINITY;
  ArgMax best{-INFINITY, INT64_MAX};
  LSE acc{-INFINITY, 0.0f};
  const int64_t groups = (V + 3) / 4;
  for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
    const philox::U4 d = philox::draws(seed, offset, static_cast<uint64_t>(r), g);
    const uint32_t w[4] = {d.x, d.y, d.z, d.w};
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int64_t v = 4 * g + j;
      if (v >= V) break;
      // Rounded multiplies and add, never fused: the glue's and the checker's
      // thresholds are computed with the same float operations.
      const float m = b == 0.0f ? __fmul_rn(a, load(pr, v))
                                : __fadd_rn(__fmul_rn(a, load(pr, v)), __fmul_rn(b, load(qr, v)));
      if (m >= c) {
        const float score = m - logf(-logf(philox::uniform(w[j])));
        best = ArgMax::merge(best, ArgMax{score, v});
      }
      if (lr) acc.add(s * load(lr, v));
    }
  }
  best = block_argmax(best);
  if (lr) acc = block_lse(acc);
  if (threadIdx.x == 0) {
    // Nothing kept (a NaN row, or every m_v < cut): token 0, logp NaN.
    const int64_t y = best.i == INT64_MAX ? 0 : best.i;
    tok[r] = y;
    if (logp) logp[r] = best.i == INT64_MAX ? NAN : s * load(lr, y) - acc.value();
  }
}

void mixture_sample(const MixtureArgs &x, cudaStream_t stream) {
  const char *what = "mixture_sample";
  if (x.N < 0 || x.V <= 0) fail("mixture_sample: need N >= 0 and V > 0");
  if (x.N > 2147483647 || (x.V + 3) / 4 > 4294967295LL)
    fail("mixture_sample: more than 2^31-1 rows or 2^34 columns");
  if (x.N == 0) return;
  if (!x.p || !x.tok) fail("mixture_sample: NULL policy or token buffer");
  if (x.b != 0.0f && !x.q) fail("mixture_sample: b != 0 needs the reference buffer");
  if (x.logp && !x.l) fail("mixture_sample: logp needs the policy buffer l");
  dispatch(x.dt, what, [&](auto tag) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(tag)>>;
    mixture_sample_kernel<T><<<static_cast<unsigned>(x.N), kThreads, 0, stream>>>(
        static_cast<const T *>(x.p), static_cast<const T *>(x.q), static_cast<const T *>(x.l), x.V,
        x.a, x.b, x.s, x.cut, x.seed, x.offset, x.tok, x.logp);
  });
  check_launch(what);
}

} // namespace cuda
} // namespace nm
