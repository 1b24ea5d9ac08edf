// llama.h — the Llama-family model shared by llama.cpp and generate.cpp.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../internal.h"

namespace nm {

// KV is a key/value cache allocated once for B rows and Lmax positions:
// k[i], v[i] are (B, nkv, Lmax, hd) for layer i; mask (B, Lmax) int64 marks
// real tokens; len slots are filled.
struct KV {
  std::vector<at::Tensor> k, v;
  at::Tensor mask;
  int64_t len = 0;
#if NASHMD_CUDA && NASHMD_TORCH2
  // CUDA-graph decode (generate.cpp): when defined, a (1) int64 GPU tensor
  // naming the slot the next key/value go to; append then writes there and
  // returns the whole cache (the mask hides unfilled slots), so no shape or
  // host value changes between steps.
  at::Tensor slot;
#endif
  // Write the new keys (B, nkv, Lq, hd) at [len, len+Lq) and return the
  // filled prefix [0, len+Lq). The caller advances len after all layers.
  at::Tensor append_k(size_t i, const at::Tensor &x) { return append(k[i], x); }
  at::Tensor append_v(size_t i, const at::Tensor &x) { return append(v[i], x); }

private:
  at::Tensor append(at::Tensor &c, const at::Tensor &x) {
#if NASHMD_CUDA && NASHMD_TORCH2
    if (slot.defined()) {
      c.index_copy_(2, slot, x);
      return c;
    }
#endif
    const int64_t n = x.size(2);
    if (len + n > c.size(2))
      fail(NM_ERR_SHAPE, "KV cache full: " + std::to_string(len) + " + " + std::to_string(n) +
                             " > " + std::to_string(c.size(2)) + " positions");
    c.narrow(2, len, n).copy_(x);
    return c.narrow(2, 0, len + n);
  }
};

struct LlamaModel : ParamTable {
  struct Layer {
    at::Tensor ln1, wq, bq, wk, bk, wv, bv, wo, ln2, wgate, wup, wdown;
  };
  nm_llama_config cfg;
  at::TensorOptions opts;
  int64_t hd = 0;
  at::Tensor embed, norm, head; // head: lm_head (tied: == embed) or score
  std::vector<Layer> layers;
  at::Tensor inv_freq; // (hd/2) float32
  // TrainingArguments.gradient_checkpointing: with grad enabled, each layer
  // keeps only its input and is re-run in backward.
  bool gradient_checkpointing = false;

  LlamaModel(const nm_llama_config &c, at::TensorOptions o);
  LlamaModel(const LlamaModel &) = delete;
  LlamaModel &operator=(const LlamaModel &) = delete;

  at::Tensor hidden(const at::Tensor &ids, const at::Tensor &mask) const;
  // A cache for B rows and Lmax positions in the model's dtype and device.
  KV new_cache(int64_t B, int64_t Lmax) const;
  // Runs ids (B, Lq) at cache slots [len, len+Lq) whose mask the caller has
  // set, advances len, and returns the last position's logits (B, V) float32.
  at::Tensor step(const at::Tensor &ids, KV &kv) const;
  at::Tensor score(const at::Tensor &h, const at::Tensor &mask) const;
  at::Tensor final_norm(const at::Tensor &x) const; // model.norm
  at::Tensor layer(size_t i, const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin,
                   const at::Tensor &allowed, KV *cache) const;
  std::pair<at::Tensor, at::Tensor> rope(const at::Tensor &pos, at::ScalarType dt) const;

#if NASHMD_CUDA && NASHMD_TORCH2
  // Captured decode steps, one per (B, Lmax) bucket (generate.cpp); busy
  // while a generation call uses them.
  struct DecodeGraphs;
  mutable std::shared_ptr<DecodeGraphs> graphs;
  mutable std::atomic<bool> graphs_busy{false};
#endif

private:
  void add(const std::string &name, at::Tensor *slot, at::IntArrayRef shape);
  at::Tensor rope_inv_freq() const;
};

at::Tensor positions_from_mask(const at::Tensor &mask);
at::Tensor attention_mask(const at::Tensor &kmask, int64_t Lq);

// log softmax(h·headᵀ / temperature)[targets], by row chunks: h (B, L, H),
// head (V, H), targets (B, L) int64 → (B, L) float32. Never materialises
// (B, L, V) logits. Defined in kernels/selective_log_softmax.cpp.
at::Tensor token_logprobs(const at::Tensor &h, const at::Tensor &head, const at::Tensor &targets,
                          double temperature, int64_t chunk_rows);
at::Tensor selective_log_softmax(const at::Tensor &logits, const at::Tensor &ids,
                                 int64_t chunk_rows);

} // namespace nm

struct nm_model {
  std::unique_ptr<nm::LlamaModel> llama;
};
