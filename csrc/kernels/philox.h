// philox.h — Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
// as 1, 2, 3", SC 2011), the counter-based generator behind curand's and
// PyTorch's CUDA randomness. Host and device alike, so the checker's CPU
// reference draws exactly the numbers the kernel draws.
//
// mixture_sample's uniforms: key = seed, counter = (v / 4, r, offset_lo,
// offset_hi); output word v % 4 is the 32-bit draw for element (r, v). Each
// call of the sampler takes a fresh offset from the generator, so no counter
// is ever reused.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define NM_HD __host__ __device__ __forceinline__
#else
#define NM_HD inline
#endif

namespace nm {
namespace philox {

struct U4 {
  uint32_t x, y, z, w;
};

NM_HD uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// Ten rounds of Philox4x32 on counter c with key (k0, k1).
NM_HD U4 philox4x32_10(U4 c, uint32_t k0, uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int i = 0; i < 10; i++) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo(M0, c.x, &hi0), lo1 = mulhilo(M1, c.z, &hi1);
    c = U4{hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0};
    k0 += W0;
    k1 += W1;
  }
  return c;
}

// The four draws for elements (r, 4g .. 4g+3).
NM_HD U4 draws(uint64_t seed, uint64_t offset, uint64_t r, uint64_t g) {
  U4 c{static_cast<uint32_t>(g), static_cast<uint32_t>(r), static_cast<uint32_t>(offset),
       static_cast<uint32_t>(offset >> 32)};
  return philox4x32_10(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// A uniform in the open interval (0, 1) from 24 random bits: never 0 or 1,
// so the Gumbel noise −log(−log u) is always finite.
NM_HD float uniform(uint32_t x) {
  return (static_cast<float>(x >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

} // namespace philox
} // namespace nm
