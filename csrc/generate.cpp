// generate.cpp — KV-cached sampling from one model, and Nash-MD's two
// streams: y ~ π_θ and y' ~ the geometric mixture of π_θ and π_ref.
//
// Legend: B prompts, P prompt length (left-padded), T max_new_tokens,
// V vocab. The whole decode loop runs here, one C call per generation.
//
// Mixture (Nash-MD, TRL's GeometricMixtureWrapper):
//     l_mix = (1 - β)·l_θ + β·l_ref,   y'_t ~ softmax(l_mix / temperature)
// Mixing raw logits equals mixing log-probs (they differ by a per-row
// constant). The policy runs once per step on 2B rows (both streams share
// the policy's prompt cache, copied once after prefill); the reference runs
// on the B mixture rows with its own cache.
#include <limits>

#include "internal.h"
#include "models/llama.h"

#if NASHMD_CUDA && NASHMD_TORCH2
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>

#include <cstdlib>
#include <map>
#include <mutex>
#endif

namespace nm {

KV LlamaModel::new_cache(int64_t B, int64_t Lmax) const {
  KV kv;
  for (size_t i = 0; i < layers.size(); i++) {
    kv.k.push_back(at::zeros({B, cfg.num_key_value_heads, Lmax, hd}, opts));
    kv.v.push_back(at::zeros({B, cfg.num_key_value_heads, Lmax, hd}, opts));
  }
  kv.mask = at::zeros({B, Lmax}, opts.dtype(at::kLong));
  return kv;
}

at::Tensor LlamaModel::step(const at::Tensor &ids, KV &kv) const {
  const int64_t Lq = ids.size(1), end = kv.len + Lq;
  at::Tensor m = kv.mask.narrow(1, 0, end);                      // (B, end)
  at::Tensor pos = positions_from_mask(m).narrow(1, kv.len, Lq); // (B, Lq)
  at::Tensor x = at::embedding(embed, ids);                      // (B, Lq, H)
  auto cs = rope(pos, x.scalar_type());
  at::Tensor allowed = attention_mask(m, Lq); // (B, 1, Lq, end)
  for (size_t i = 0; i < layers.size(); i++)
    x = layer(i, x, cs.first, cs.second, allowed, &kv);
  kv.len = end;
  at::Tensor last = x.narrow(1, Lq - 1, 1).squeeze(1);      // (B, H)
  return at::linear(final_norm(last), head).to(at::kFloat); // (B, V)
}

// KV fork: rows repeated `times` along the batch (a copy, not a view).
static KV repeat_cache(const KV &kv, int64_t times) {
  KV out;
  for (size_t i = 0; i < kv.k.size(); i++) {
    out.k.push_back(kv.k[i].repeat({times, 1, 1, 1}));
    out.v.push_back(kv.v[i].repeat({times, 1, 1, 1}));
  }
  out.mask = kv.mask.repeat({times, 1});
  out.len = kv.len;
  return out;
}

at::Tensor mixture_sample(const at::Tensor &policy, const at::Tensor &ref, double beta,
                          double temperature, const at::Tensor &u);
#if NASHMD_CUDA
std::pair<at::Tensor, at::Tensor>
cuda_mixture_sample(const at::Tensor &policy, const at::Tensor &ref, double beta,
                    double temperature, int64_t top_k, double top_p,
                    c10::optional<at::Generator> gen, bool want_logp);
#endif

struct Sampler {
  const nm_gen_config &c;
  c10::optional<at::Generator> gen;

  // plain: no filter or penalty, so the fused mixture kernel samples.
  bool plain() const {
    return !greedy() && c.top_k <= 0 && c.top_p >= 1.0 && c.min_p <= 0 &&
           (c.repetition_penalty == 1.0 || c.repetition_penalty <= 0);
  }
  bool greedy() const { return c.greedy || c.temperature <= 0; }

  // RepetitionPenaltyLogitsProcessor: tokens seen so far (seen (N, V) bool)
  // get logit·p when negative, logit/p otherwise.
  at::Tensor penalise(const at::Tensor &logits, const at::Tensor &seen) const {
    if (c.repetition_penalty == 1.0 || c.repetition_penalty <= 0 || !seen.defined()) return logits;
    const double p = c.repetition_penalty;
    at::Tensor pen = at::where(logits < 0, logits * p, logits / p);
    return at::where(seen, pen, logits);
  }

  // Rows of policy logits (N, V) mixed with ref rows by beta (beta = 0: the
  // policy alone), penalised, filtered and sampled → token ids (N).
  at::Tensor operator()(const at::Tensor &policy, const at::Tensor &ref, double beta,
                        const at::Tensor &seen) const {
#if NASHMD_CUDA
    // On a GPU the fused kernel also takes top-k/top-p (as a threshold).
    if (policy.is_cuda() && !greedy() && c.min_p <= 0 &&
        (c.repetition_penalty == 1.0 || c.repetition_penalty <= 0))
      return cuda_mixture_sample(policy, beta > 0 ? ref : policy, beta, c.temperature, c.top_k,
                                 c.top_p, gen, false)
          .first;
#endif
    if (plain()) {
      at::Tensor u = at::rand({policy.size(0)}, gen, policy.options().dtype(at::kFloat)); // (N)
      return mixture_sample(policy, beta > 0 ? ref : policy, beta, c.temperature, u);
    }
    at::Tensor logits = beta > 0 ? policy * (1 - beta) + ref * beta : policy;
    logits = penalise(logits, seen);
    if (greedy()) return logits.argmax(-1);
    const int64_t V = logits.size(-1);
    const float ninf = -std::numeric_limits<float>::infinity();
    logits = logits / c.temperature;
    if (c.top_k > 0 && c.top_k < V) { // TopKLogitsWarper
      at::Tensor kth = std::get<0>(logits.topk(c.top_k, -1)).narrow(-1, c.top_k - 1, 1);
      logits = logits.masked_fill(logits < kth, ninf);
    }
    if (c.top_p < 1.0) { // TopPLogitsWarper: drop the tail whose mass is <= 1 - top_p
      auto sorted = logits.sort(-1, false);
      at::Tensor cum = std::get<0>(sorted).softmax(-1).cumsum(-1);
      at::Tensor drop = cum <= (1.0 - c.top_p);
      drop.narrow(-1, V - 1, 1).fill_(false); // keep at least one
      logits = logits.masked_fill(drop.scatter(-1, std::get<1>(sorted), drop), ninf);
    }
    if (c.min_p > 0) { // MinPLogitsWarper: drop tokens below min_p · the top probability
      at::Tensor probs = logits.softmax(-1);
      at::Tensor top = std::get<0>(probs.max(-1, true));
      logits = logits.masked_fill(probs < top * c.min_p, ninf);
    }
    return at::multinomial(logits.softmax(-1), 1, false, gen).squeeze(-1);
  }
};

// seen_tokens marks the ids of (N, L) in an (N, V) bool mask (for the
// repetition penalty; undefined when there is none).
static at::Tensor seen_tokens(const nm_gen_config &c, const at::Tensor &ids, int64_t V) {
  if (c.repetition_penalty == 1.0 || c.repetition_penalty <= 0) return at::Tensor();
  at::Tensor seen = at::zeros({ids.size(0), V}, ids.options().dtype(at::kBool));
  return seen.scatter_(1, ids, true);
}

static void mark_seen(at::Tensor &seen, const at::Tensor &tok) {
  if (seen.defined()) seen.scatter_(1, tok.unsqueeze(1), true);
}

#if NASHMD_CUDA && NASHMD_TORCH2
// ---- CUDA-graph decode (CUDA build on libtorch 2.x only) ----------------------
//
// A decode step (B rows, one token each) is captured once per (B, Lmax)
// bucket of a model and replayed per token. Its shapes are static: it
// attends to all Lmax cache slots, the mask hiding unfilled ones; it writes
// the new key/value at a GPU-side slot index (KV::slot, index_copy_) and
// advances slot and positions on the GPU, so nothing in it reads a host
// value. Buckets round Lmax up to a multiple of kGraphSlots, and a model
// keeps at most kGraphBuckets of them. Each bucket owns its static cache; a
// call copies its prefilled cache in (one copy per call). Sampling stays
// outside the graph (its Philox offset is taken per call).
// NASHMD_CUDA_GRAPHS=0 turns it off.

constexpr int64_t kGraphSlots = 128;
constexpr size_t kGraphBuckets = 4;

struct DecodeGraph {
  at::cuda::CUDAGraph graph;
  KV kv;             // static cache (B, nkv, Lmax, hd) per layer; kv.slot (1)
  at::Tensor tok;    // (B, 1) int64: the token fed in
  at::Tensor pos;    // (B, 1) int64: its position id
  at::Tensor logits; // (B, V) float32: the next token's logits
  bool captured = false;
};

struct LlamaModel::DecodeGraphs {
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<DecodeGraph>> buckets;
};

// graph_body is the captured step: tok at slot → logits; slot, pos += 1.
static void graph_body(const LlamaModel &m, DecodeGraph &g) {
  const int64_t B = g.tok.size(0), L = g.kv.mask.size(1);
  g.kv.mask.index_fill_(1, g.kv.slot, 1);
  at::Tensor x = at::embedding(m.embed, g.tok);                    // (B, 1, H)
  auto cs = m.rope(g.pos, x.scalar_type());                        // (B, 1, 1, hd) each
  at::Tensor allowed = g.kv.mask.to(at::kBool).view({B, 1, 1, L}); // (B, 1, 1, Lmax)
  for (size_t i = 0; i < m.layers.size(); i++)
    x = m.layer(i, x, cs.first, cs.second, allowed, &g.kv);
  g.logits.copy_(at::linear(m.final_norm(x.squeeze(1)), m.head).to(at::kFloat)); // (B, V)
  g.kv.slot.add_(1);
  g.pos.add_(1);
}

// GraphDecoder steps a model through its bucket's graph for one generation
// call, or is !ok() (the caller steps eagerly): graphs off, not on a GPU, or
// the model's graphs in use by another call (or the other stream of this one).
class GraphDecoder {
public:
  GraphDecoder(const LlamaModel &m, const KV &prefilled) : m_(m) {
    const char *env = std::getenv("NASHMD_CUDA_GRAPHS");
    if ((env != nullptr && std::string(env) == "0") || !prefilled.mask.is_cuda()) return;
    bool idle = false;
    if (!m.graphs_busy.compare_exchange_strong(idle, true)) return;
    const int64_t B = prefilled.mask.size(0);
    const int64_t L = (prefilled.mask.size(1) + kGraphSlots - 1) / kGraphSlots * kGraphSlots;
    try {
      c10::cuda::CUDAGuard dg(prefilled.mask.device());
      if (!m.graphs) m.graphs = std::make_shared<LlamaModel::DecodeGraphs>();
      auto &buckets = m.graphs->buckets;
      if (buckets.count({B, L}) == 0 && buckets.size() >= kGraphBuckets)
        buckets.erase(buckets.begin()); // free another bucket's cache and graph
      auto &b = buckets[{B, L}];
      if (!b) {
        b = std::make_unique<DecodeGraph>();
        b->kv = m.new_cache(B, L);
        auto lo = prefilled.mask.options().dtype(at::kLong);
        b->kv.slot = at::zeros({1}, lo);
        b->tok = at::zeros({B, 1}, lo);
        b->pos = at::zeros({B, 1}, lo);
        b->logits = at::empty({B, m.cfg.vocab_size}, lo.dtype(at::kFloat));
      }
      g_ = b.get();
      load(prefilled);
      if (!g_->captured) capture(prefilled);
    } catch (const std::exception &e) {
      if (m.graphs) m.graphs->buckets.erase({B, L}); // never keep a half-captured graph
      g_ = nullptr;
      m.graphs_busy = false;
      fail(NM_ERR_TORCH,
           std::string("CUDA-graph decode (NASHMD_CUDA_GRAPHS=0 turns it off): ") + e.what());
    }
  }
  ~GraphDecoder() {
    if (g_ != nullptr) m_.graphs_busy = false;
  }
  GraphDecoder(const GraphDecoder &) = delete;
  GraphDecoder &operator=(const GraphDecoder &) = delete;

  bool ok() const { return g_ != nullptr; }

  // The logits (B, V) float32 after tok (B); valid until the next step.
  at::Tensor step(const at::Tensor &tok) {
    c10::cuda::CUDAGuard dg(g_->tok.device());
    g_->tok.copy_(tok.view({-1, 1}));
    g_->graph.replay();
    return g_->logits;
  }

private:
  // load copies the prefilled cache into the bucket's first slots and sets
  // slot and positions; the slots after it are masked.
  void load(const KV &src) {
    const int64_t L = src.mask.size(1);
    for (size_t i = 0; i < src.k.size(); i++) {
      g_->kv.k[i].narrow(2, 0, L).copy_(src.k[i]);
      g_->kv.v[i].narrow(2, 0, L).copy_(src.v[i]);
    }
    g_->kv.mask.zero_();
    g_->kv.mask.narrow(1, 0, L).copy_(src.mask);
    g_->kv.slot.fill_(src.len);
    // The next token's position: the real tokens so far (positions_from_mask).
    g_->pos.copy_(src.mask.narrow(1, 0, src.len).sum(1, true));
  }

  // capture warms up on a side stream (lazy cuBLAS and allocator set-up
  // must not happen inside a capture), restores the state, then captures.
  void capture(const KV &src) {
    at::cuda::CUDAStream cur = at::cuda::getCurrentCUDAStream();
    at::cuda::CUDAStream side = at::cuda::getStreamFromPool();
    at::cuda::CUDAEvent before, after;
    before.record(cur);
    before.block(side);
    {
      at::cuda::CUDAStreamGuard sg(side);
      graph_body(m_, *g_);
      load(src);
      g_->graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
      graph_body(m_, *g_);
      g_->graph.capture_end();
    }
    after.record(side);
    after.block(cur);
    g_->captured = true;
  }

  const LlamaModel &m_;
  DecodeGraph *g_ = nullptr;
};
#endif

// Stream bookkeeping: tokens written per step, EOS → pad afterwards.
struct Stream {
  std::vector<at::Tensor> tokens; // T × (N)
  std::vector<at::Tensor> live;   // T × (N) int64: 1 while the completion runs (EOS included)
  at::Tensor running;             // (N) bool

  at::Tensor push(at::Tensor tok, const nm_gen_config &c, const at::Tensor &eos) {
    if (!running.defined()) running = at::ones_like(tok, tok.options().dtype(at::kBool));
    tok = tok.masked_fill(running.logical_not(), c.pad_id);
    live.push_back(running.to(at::kLong));
    tokens.push_back(tok);
    if (eos.numel() > 0) running = running & at::isin(tok, eos).logical_not();
    return tok;
  }
  bool done() const { return running.defined() && !running.any().item<bool>(); }
};

static void check_gen(const nm_gen_config *c, const at::Tensor &ids, const at::Tensor &mask) {
  if (c == nullptr) fail(NM_ERR_ARG, "generation config is NULL");
  if (c->max_new_tokens <= 0) fail(NM_ERR_ARG, "max_new_tokens must be positive");
  if (c->n_eos > 0 && c->eos_ids == nullptr) fail(NM_ERR_ARG, "eos_ids is NULL");
  if (ids.dim() != 2 || ids.scalar_type() != at::kLong)
    fail(NM_ERR_SHAPE, "prompt ids must be (B, P) int64, got " + c10::str(ids.sizes()));
  if (mask.defined() && mask.sizes() != ids.sizes())
    fail(NM_ERR_SHAPE,
         "prompt mask " + c10::str(mask.sizes()) + " must match ids " + c10::str(ids.sizes()));
  if (!c->greedy && c->temperature > 0 && !(c->top_p > 0))
    fail(NM_ERR_ARG, "top_p must be in (0, 1]");
}

static at::Tensor eos_tensor(const nm_gen_config &c, at::Device d) {
  std::vector<int64_t> v(c.eos_ids, c.eos_ids + c.n_eos);
  return at::tensor(v, at::TensorOptions().dtype(at::kLong)).to(d);
}

// Logits of the next token for rows `ids` (B, Lcur) without a cache.
static at::Tensor full_step(const LlamaModel &m, const at::Tensor &ids, const at::Tensor &mask) {
  at::Tensor h = m.hidden(ids, mask);
  return at::linear(h.narrow(1, h.size(1) - 1, 1).squeeze(1), m.head).to(at::kFloat);
}

static std::pair<at::Tensor, at::Tensor> finish(const Stream &s) {
  return {at::stack(s.tokens, 1), at::stack(s.live, 1)}; // (N, T) each
}

} // namespace nm

using namespace nm;

static const LlamaModel &Mdl(const nm_model *m) {
  if (m == nullptr || !m->llama) fail(NM_ERR_ARG, "model is NULL");
  if (m->llama->cfg.num_labels > 0) fail(NM_ERR_ARG, "cannot generate from a sequence classifier");
  return *m->llama;
}

nm_error *nm_generate(const nm_model *model, const nm_tensor *ids, const nm_tensor *mask,
                      const nm_gen_config *cfg, nm_generator *gen, nm_tensor **tokens,
                      nm_tensor **completion_mask) {
  NM_PROTECT({
    need_out(tokens);
    need_out(completion_mask);
    const LlamaModel &m = Mdl(model);
    const at::Tensor &x = T(ids, "ids");
    at::Tensor msk = mask ? mask->t : at::ones_like(x);
    check_gen(cfg, x, msk);
    c10::NoGradGuard ng;
    const int64_t B = x.size(0), P = x.size(1), Tn = cfg->max_new_tokens;
    Sampler sample{*cfg, gen ? c10::optional<at::Generator>(gen->g) : c10::nullopt};
    at::Tensor eos = eos_tensor(*cfg, x.device());
    at::Tensor seen = seen_tokens(*cfg, x, m.cfg.vocab_size);
    Stream s;
    KV kv;
    at::Tensor cur = x, cm = msk.to(at::kLong), logits;
    if (cfg->use_cache) {
      kv = m.new_cache(B, P + Tn);
      kv.mask.narrow(1, 0, P).copy_(msk);
      logits = m.step(x, kv); // prefill
    } else {
      logits = full_step(m, cur, cm);
    }
#if NASHMD_CUDA && NASHMD_TORCH2
    std::unique_ptr<GraphDecoder> gd;
    if (cfg->use_cache && Tn > 1) gd = std::make_unique<GraphDecoder>(m, kv);
#endif
    for (int64_t t = 0; t < Tn; t++) {
      at::Tensor tok = s.push(sample(logits, logits, 0, seen), *cfg, eos);
      mark_seen(seen, tok);
      if (s.done() || t == Tn - 1) break;
#if NASHMD_CUDA && NASHMD_TORCH2
      if (gd && gd->ok()) {
        logits = gd->step(tok);
        continue;
      }
#endif
      if (cfg->use_cache) {
        kv.mask.narrow(1, kv.len, 1).fill_(1);
        logits = m.step(tok.unsqueeze(1), kv);
      } else {
        cur = at::cat({cur, tok.unsqueeze(1)}, 1);
        cm = at::cat({cm, at::ones({B, 1}, cm.options())}, 1);
        logits = full_step(m, cur, cm);
      }
    }
    auto out = finish(s);
    give(tokens, out.first);
    give(completion_mask, out.second);
  });
}

nm_error *nm_generate_mixture(const nm_model *policy, const nm_model *ref, double mixture_coef,
                              const nm_tensor *ids, const nm_tensor *mask, const nm_gen_config *cfg,
                              nm_generator *gen, nm_tensor **tokens, nm_tensor **completion_mask,
                              nm_tensor **mix_tokens, nm_tensor **mix_completion_mask) {
  NM_PROTECT({
    need_out(tokens);
    need_out(completion_mask);
    need_out(mix_tokens);
    need_out(mix_completion_mask);
    const LlamaModel &pm = Mdl(policy);
    const LlamaModel &rm = Mdl(ref);
    if (pm.cfg.vocab_size != rm.cfg.vocab_size)
      fail(NM_ERR_SHAPE,
           "policy and reference vocab sizes differ: " + std::to_string(pm.cfg.vocab_size) +
               " vs " + std::to_string(rm.cfg.vocab_size));
    if (!(mixture_coef >= 0 && mixture_coef <= 1))
      fail(NM_ERR_ARG, "mixture_coef must be in [0, 1]");
    const at::Tensor &x = T(ids, "ids");
    at::Tensor msk = mask ? mask->t : at::ones_like(x);
    check_gen(cfg, x, msk);
    c10::NoGradGuard ng;
    const int64_t B = x.size(0), P = x.size(1), Tn = cfg->max_new_tokens;
    Sampler sample{*cfg, gen ? c10::optional<at::Generator>(gen->g) : c10::nullopt};
    at::Tensor eos = eos_tensor(*cfg, x.device());
    at::Tensor seenY = seen_tokens(*cfg, x, pm.cfg.vocab_size),
               seenM = seen_tokens(*cfg, x, pm.cfg.vocab_size);
    const bool cache = cfg->use_cache != 0;

    // Prefill: the policy once on B rows, its cache then copied for the
    // 2B rows of both streams (rows [0, B): y; [B, 2B): y'); the reference
    // on B rows with its own cache. Without a cache (TRL's way) every step
    // re-runs the whole prefix of both streams.
    KV pkv, rkv;
    at::Tensor pl, rl;
    at::Tensor curY = x, curM = x, cm = msk.to(at::kLong);
    if (cache) {
      KV pkv1 = pm.new_cache(B, P + Tn);
      pkv1.mask.narrow(1, 0, P).copy_(msk);
      at::Tensor p1 = pm.step(x, pkv1); // (B, V)
      pkv = repeat_cache(pkv1, 2);
      rkv = rm.new_cache(B, P + Tn);
      rkv.mask.narrow(1, 0, P).copy_(msk);
      rl = rm.step(x, rkv);      // (B, V)
      pl = at::cat({p1, p1}, 0); // (2B, V)
    } else {
      pl = full_step(pm, at::cat({curY, curM}, 0), at::cat({cm, cm}, 0));
      rl = full_step(rm, curM, cm);
    }

    Stream ys, ms;
#if NASHMD_CUDA && NASHMD_TORCH2
    // Policy (2B rows) and reference (B rows) each replay their own graph; a
    // model used as both gets one graph (the reference then steps eagerly).
    std::unique_ptr<GraphDecoder> pgd, rgd;
    if (cache && Tn > 1) {
      pgd = std::make_unique<GraphDecoder>(pm, pkv);
      rgd = std::make_unique<GraphDecoder>(rm, rkv);
    }
#endif
    for (int64_t t = 0; t < Tn; t++) {
      at::Tensor ty = ys.push(sample(pl.narrow(0, 0, B), pl.narrow(0, 0, B), 0, seenY), *cfg, eos);
      at::Tensor tm = ms.push(sample(pl.narrow(0, B, B), rl, mixture_coef, seenM), *cfg, eos);
      mark_seen(seenY, ty);
      mark_seen(seenM, tm);
      if ((ys.done() && ms.done()) || t == Tn - 1) break;
      if (cache) {
#if NASHMD_CUDA && NASHMD_TORCH2
        if (pgd && pgd->ok() && rgd && rgd->ok()) {
          pl = pgd->step(at::cat({ty, tm}, 0));
          rl = rgd->step(tm);
          continue;
        }
        if (pgd && pgd->ok()) { // the reference is the policy's model: it steps eagerly
          rkv.mask.narrow(1, rkv.len, 1).fill_(1);
          rl = rm.step(tm.unsqueeze(1), rkv);
          pl = pgd->step(at::cat({ty, tm}, 0));
          continue;
        }
#endif
        pkv.mask.narrow(1, pkv.len, 1).fill_(1);
        rkv.mask.narrow(1, rkv.len, 1).fill_(1);
        pl = pm.step(at::cat({ty, tm}, 0).unsqueeze(1), pkv);
        rl = rm.step(tm.unsqueeze(1), rkv);
      } else {
        curY = at::cat({curY, ty.unsqueeze(1)}, 1);
        curM = at::cat({curM, tm.unsqueeze(1)}, 1);
        cm = at::cat({cm, at::ones({B, 1}, cm.options())}, 1);
        pl = full_step(pm, at::cat({curY, curM}, 0), at::cat({cm, cm}, 0));
        rl = full_step(rm, curM, cm);
      }
    }
    auto y = finish(ys), ym = finish(ms);
    give(tokens, y.first);
    give(completion_mask, y.second);
    give(mix_tokens, ym.first);
    give(mix_completion_mask, ym.second);
  });
}
