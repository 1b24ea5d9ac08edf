// cuda_check.cu — checks the CUDA kernels against plain CPU references (the
// llm.c way): several sizes and dtypes, the max difference printed, a
// chi-square test for the sampler. Exits non-zero on any failure.
//
// Build (no libtorch needed): make cuda-compile-check builds it into
// build-cuda-check/cuda_check; it runs only on a machine with a GPU.
//
// References, written independently of the kernels (double precision):
//   selective_log_softmax: logp = x[k] − log Σ exp(x), dx = g(1[v=k] − softmax(x)_v)
//   mixture_sample: the same Philox draws (philox.h) and an argmax in double;
//   the kernel's token must score within tolerance of the reference's best.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels_cuda.h"
#include "philox.h"

using nm::cuda::DType;

static int failures = 0;

#define CK(x)                                                                                      \
  do {                                                                                             \
    cudaError_t e_ = (x);                                                                          \
    if (e_ != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));     \
      std::exit(2);                                                                                \
    }                                                                                              \
  } while (0)

static const char *name(DType dt) {
  return dt == DType::F32 ? "float32" : dt == DType::BF16 ? "bfloat16" : "float16";
}

// Logits as the kernel sees them: rounded to dt, kept as float on the host.
struct Host {
  std::vector<float> f;         // rounded values
  std::vector<unsigned char> b; // raw bytes in dt
};

static Host make(DType dt, const std::vector<float> &x) {
  Host h;
  h.f.resize(x.size());
  const size_t es = dt == DType::F32 ? 4 : 2;
  h.b.resize(x.size() * es);
  for (size_t i = 0; i < x.size(); i++) {
    if (dt == DType::F32) {
      h.f[i] = x[i];
      std::memcpy(&h.b[i * 4], &x[i], 4);
    } else if (dt == DType::BF16) {
      __nv_bfloat16 v = __float2bfloat16(x[i]);
      h.f[i] = __bfloat162float(v);
      std::memcpy(&h.b[i * 2], &v, 2);
    } else {
      __half v = __float2half(x[i]);
      h.f[i] = __half2float(v);
      std::memcpy(&h.b[i * 2], &v, 2);
    }
  }
  return h;
}

static float from_bytes(DType dt, const unsigned char *p) {
  if (dt == DType::F32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  if (dt == DType::BF16) {
    __nv_bfloat16 v;
    std::memcpy(&v, p, 2);
    return __bfloat162float(v);
  }
  __half v;
  std::memcpy(&v, p, 2);
  return __half2float(v);
}

template <class T> static T *dev(const void *src, size_t bytes) {
  void *p = nullptr;
  CK(cudaMalloc(&p, bytes ? bytes : 1));
  if (src && bytes) CK(cudaMemcpy(p, src, bytes, cudaMemcpyHostToDevice));
  return static_cast<T *>(p);
}

static void report(const char *what, const std::string &cfg, double diff, double tol) {
  const bool ok = diff <= tol && !std::isnan(diff);
  std::printf("%-28s %-34s max diff %.3e (tol %.0e) %s\n", what, cfg.c_str(), diff, tol,
              ok ? "OK" : "FAIL");
  if (!ok) failures++;
}

// ---- selective_log_softmax ---------------------------------------------------

static void check_slsm(DType dt, int64_t N, int64_t V, std::mt19937 &rng) {
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> x(static_cast<size_t>(N * V));
  for (auto &v : x)
    v = nd(rng);
  Host h = make(dt, x);
  std::vector<int64_t> ids(static_cast<size_t>(N));
  std::vector<float> g(static_cast<size_t>(N));
  for (int64_t r = 0; r < N; r++)
    ids[r] = static_cast<int64_t>(rng() % V), g[r] = nd(rng);

  auto *dx = dev<void>(h.b.data(), h.b.size());
  auto *did = dev<int64_t>(ids.data(), ids.size() * 8);
  auto *dg = dev<float>(g.data(), g.size() * 4);
  auto *dlogp = dev<float>(nullptr, N * 4), *dlse = dev<float>(nullptr, N * 4);
  auto *dgrad = dev<unsigned char>(nullptr, h.b.size());
  nm::cuda::selective_log_softmax_fwd(dx, dt, N, V, did, dlogp, dlse, nullptr);
  nm::cuda::selective_log_softmax_bwd(dx, dt, N, V, did, dg, dlse, dgrad, nullptr);
  CK(cudaDeviceSynchronize());
  std::vector<float> logp(N);
  std::vector<unsigned char> grad(h.b.size());
  CK(cudaMemcpy(logp.data(), dlogp, N * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(grad.data(), dgrad, grad.size(), cudaMemcpyDeviceToHost));

  double dfwd = 0, dbwd = 0;
  const size_t es = dt == DType::F32 ? 4 : 2;
  for (int64_t r = 0; r < N; r++) {
    const float *row = &h.f[r * V];
    double mx = -INFINITY, s = 0;
    for (int64_t v = 0; v < V; v++)
      mx = std::max(mx, double(row[v]));
    for (int64_t v = 0; v < V; v++)
      s += std::exp(double(row[v]) - mx);
    const double lse = mx + std::log(s);
    dfwd = std::max(dfwd, std::fabs(logp[r] - (row[ids[r]] - lse)));
    for (int64_t v = 0; v < V; v++) {
      const double want = g[r] * ((v == ids[r]) - std::exp(double(row[v]) - lse));
      const double got = from_bytes(dt, &grad[(r * V + v) * es]);
      // bf16/fp16 round the stored gradient: compare relative to its size.
      const double ulp = dt == DType::F32 ? 0 : dt == DType::BF16 ? 1.0 / 128 : 1.0 / 1024;
      dbwd = std::max(dbwd, std::fabs(got - want) / (1e-6 + ulp * std::fabs(want) + 1e-6));
    }
  }
  char cfg[64];
  std::snprintf(cfg, sizeof cfg, "%s N=%lld V=%lld", name(dt), (long long)N, (long long)V);
  report("selective_log_softmax fwd", cfg, dfwd, 2e-4);
  // Backward: absolute error in units of (1e-6 + dtype rounding of the value).
  report("selective_log_softmax bwd", cfg, dbwd, 4.0);
  CK(cudaFree(dx));
  CK(cudaFree(did));
  CK(cudaFree(dg));
  CK(cudaFree(dlogp));
  CK(cudaFree(dlse));
  CK(cudaFree(dgrad));
}

// ---- mixture_sample ------------------------------------------------------------

struct MixOut {
  std::vector<int64_t> tok;
  std::vector<float> logp;
};

static MixOut run_mix(DType dt, const Host &p, const Host &q, int64_t N, int64_t V, float a,
                      float b, float s, const std::vector<float> *cut, uint64_t seed,
                      uint64_t offset) {
  auto *dp = dev<void>(p.b.data(), p.b.size());
  auto *dq = dev<void>(q.b.data(), q.b.size());
  float *dcut = cut ? dev<float>(cut->data(), cut->size() * 4) : nullptr;
  auto *dtok = dev<int64_t>(nullptr, N * 8);
  auto *dlogp = dev<float>(nullptr, N * 4);
  nm::cuda::MixtureArgs x;
  x.p = dp, x.q = dq, x.l = dp, x.dt = dt, x.N = N, x.V = V, x.a = a, x.b = b, x.s = s;
  x.cut = dcut, x.seed = seed, x.offset = offset, x.tok = dtok, x.logp = dlogp;
  nm::cuda::mixture_sample(x, nullptr);
  CK(cudaDeviceSynchronize());
  MixOut o{std::vector<int64_t>(N), std::vector<float>(N)};
  CK(cudaMemcpy(o.tok.data(), dtok, N * 8, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(o.logp.data(), dlogp, N * 4, cudaMemcpyDeviceToHost));
  CK(cudaFree(dp));
  CK(cudaFree(dq));
  if (dcut) CK(cudaFree(dcut));
  CK(cudaFree(dtok));
  CK(cudaFree(dlogp));
  return o;
}

// The reference's score of (r, v): m_v + Gumbel noise from the same draw.
static double ref_score(const Host &p, const Host &q, int64_t V, double a, double b, uint64_t seed,
                        uint64_t offset, int64_t r, int64_t v) {
  const nm::philox::U4 d = nm::philox::draws(seed, offset, r, v / 4);
  const uint32_t w[4] = {d.x, d.y, d.z, d.w};
  const double u = nm::philox::uniform(w[v % 4]);
  const double m = a * p.f[r * V + v] + b * q.f[r * V + v];
  return m - std::log(-std::log(u));
}

static void check_mix_exact(DType dt, int64_t N, int64_t V, double beta, double temp,
                            std::mt19937 &rng) {
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> xp(N * V), xq(N * V);
  for (auto &v : xp)
    v = nd(rng);
  for (auto &v : xq)
    v = nd(rng);
  Host p = make(dt, xp), q = make(dt, xq);
  const float a = float((1 - beta) / temp), b = float(beta / temp), s = float(1 / temp);
  const uint64_t seed = 0x1234567890abcdefULL, offset = 4 * 17;
  MixOut o = run_mix(dt, p, q, N, V, a, b, s, nullptr, seed, offset);
  double dscore = 0, dlogp = 0;
  for (int64_t r = 0; r < N; r++) {
    double best = -INFINITY;
    for (int64_t v = 0; v < V; v++)
      best = std::max(best, ref_score(p, q, V, a, b, seed, offset, r, v));
    const int64_t y = o.tok[r];
    if (y < 0 || y >= V) {
      dscore = INFINITY;
      break;
    }
    dscore = std::max(dscore, best - ref_score(p, q, V, a, b, seed, offset, r, y));
    double mx = -INFINITY, z = 0;
    for (int64_t v = 0; v < V; v++)
      mx = std::max(mx, s * double(p.f[r * V + v]));
    for (int64_t v = 0; v < V; v++)
      z += std::exp(s * double(p.f[r * V + v]) - mx);
    dlogp = std::max(dlogp, std::fabs(o.logp[r] - (s * double(p.f[r * V + y]) - mx - std::log(z))));
  }
  char cfg[80];
  std::snprintf(cfg, sizeof cfg, "%s N=%lld V=%lld beta=%.1f", name(dt), (long long)N, (long long)V,
                beta);
  // The token is the reference's argmax up to float rounding of the scores.
  report("mixture_sample token score", cfg, dscore, 1e-4);
  report("mixture_sample logp", cfg, dlogp, 2e-4);
}

// Chi-square: N identical rows of a small vocabulary, token counts against
// softmax(m) over the kept set (cut: the top k of m).
static void check_mix_chi2(int64_t V, int64_t top_k, std::mt19937 &rng) {
  const int64_t N = 200000;
  const double beta = 0.4, temp = 0.9;
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> rp(V), rq(V);
  for (auto &v : rp)
    v = nd(rng);
  for (auto &v : rq)
    v = nd(rng);
  std::vector<float> xp, xq;
  for (int64_t r = 0; r < N; r++)
    xp.insert(xp.end(), rp.begin(), rp.end());
  for (int64_t r = 0; r < N; r++)
    xq.insert(xq.end(), rq.begin(), rq.end());
  Host p = make(DType::F32, xp), q = make(DType::F32, xq);
  const float a = float((1 - beta) / temp), b = float(beta / temp);
  std::vector<double> m(V);
  for (int64_t v = 0; v < V; v++)
    m[v] = double(a * rp[v] + b * rq[v]);
  std::vector<float> cut;
  double c = -INFINITY;
  if (top_k > 0) {
    std::vector<float> mf(V);
    for (int64_t v = 0; v < V; v++)
      mf[v] = a * rp[v] + b * rq[v]; // as the kernel rounds
    std::vector<float> sorted = mf;
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    c = sorted[top_k - 1];
    cut.assign(N, float(c));
  }
  MixOut o = run_mix(DType::F32, p, q, N, V, a, b, 1, top_k > 0 ? &cut : nullptr, 99, 0);
  std::vector<double> want(V, 0.0), count(V, 0.0);
  double z = 0;
  for (int64_t v = 0; v < V; v++)
    if (float(a * rp[v] + b * rq[v]) >= c) want[v] = std::exp(m[v]), z += want[v];
  for (auto &w : want)
    w /= z;
  for (int64_t y : o.tok)
    count[y < 0 || y >= V ? 0 : y]++;
  double chi2 = 0, bad = 0;
  int dof = -1;
  for (int64_t v = 0; v < V; v++) {
    if (want[v] == 0) {
      bad += count[v];
      continue;
    }
    const double e = N * want[v];
    chi2 += (count[v] - e) * (count[v] - e) / e;
    dof++;
  }
  // p = 0.001 critical value, Wilson–Hilferty approximation.
  const double k = dof, zq = 3.09;
  const double crit = k * std::pow(1 - 2 / (9 * k) + zq * std::sqrt(2 / (9 * k)), 3);
  const bool ok = chi2 <= crit && bad == 0;
  std::printf("%-28s V=%lld top_k=%lld N=%lld      chi2 %.1f over %d dof (crit %.1f), "
              "%g outside the kept set %s\n",
              "mixture_sample chi-square", (long long)V, (long long)top_k, (long long)N, chi2, dof,
              crit, bad, ok ? "OK" : "FAIL");
  if (!ok) failures++;
}

// Philox4x32-10 known-answer tests from Random123's kat_vectors (host side:
// runs without a GPU too).
static bool check_philox() {
  struct KAT {
    nm::philox::U4 ctr;
    uint32_t k0, k1;
    nm::philox::U4 want;
  } kats[] = {
      {{0, 0, 0, 0}, 0, 0, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       0xffffffff,
       0xffffffff,
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       0xa4093822,
       0x299f31d0,
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  bool ok = true;
  for (const KAT &k : kats) {
    nm::philox::U4 g = nm::philox::philox4x32_10(k.ctr, k.k0, k.k1);
    ok = ok && g.x == k.want.x && g.y == k.want.y && g.z == k.want.z && g.w == k.want.w;
  }
  std::printf("%-28s %s\n", "philox4x32-10 known answers", ok ? "OK" : "FAIL");
  return ok;
}

int main() {
  if (!check_philox()) return 1;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("cuda_check: no CUDA device; nothing checked\n");
    return 77; // "skipped", as automake's test drivers read it
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("cuda_check on %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  std::mt19937 rng(1234);
  try {
    for (DType dt : {DType::F32, DType::BF16, DType::F16})
      for (auto nv :
           std::vector<std::pair<int64_t, int64_t>>{{1, 5}, {7, 1000}, {64, 32000}, {4, 151936}})
        check_slsm(dt, nv.first, nv.second, rng);
    for (DType dt : {DType::F32, DType::BF16, DType::F16})
      for (auto nv : std::vector<std::pair<int64_t, int64_t>>{{3, 7}, {16, 1001}, {8, 151936}})
        for (double beta : {0.0, 0.5})
          check_mix_exact(dt, nv.first, nv.second, beta, 0.8, rng);
    check_mix_chi2(6, 0, rng);
    check_mix_chi2(50, 0, rng);
    check_mix_chi2(50, 10, rng);
    // Preconditions are enforced: a bad size must throw, not launch.
    bool threw = false;
    try {
      nm::cuda::selective_log_softmax_fwd(nullptr, DType::F32, 1, 0, nullptr, nullptr, nullptr,
                                          nullptr);
    } catch (const std::runtime_error &) {
      threw = true;
    }
    std::printf("%-28s %s\n", "precondition check", threw ? "OK" : "FAIL");
    if (!threw) failures++;
  } catch (const std::exception &e) {
    std::printf("cuda_check: %s\n", e.what());
    return 1;
  }
  std::printf("cuda_check: %s (%d failures)\n", failures ? "FAIL" : "all OK", failures);
  return failures ? 1 : 0;
}
