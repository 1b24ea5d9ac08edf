// llama.cpp — the Llama-family decoder (Llama, SmolLM2, Qwen2, Mistral), as
// transformers' modeling_llama.py / modeling_qwen2.py compute it.
//
// Legend: B batch, L sequence length, H hidden size, nh query heads, nkv
// key/value heads (GQA), hd head dim, I intermediate size, V vocab size.
//
// Weights are plain at::Tensors named by their checkpoint names
// ("model.layers.3.self_attn.q_proj.weight"); nm_model_set_param copies
// into them by name. Padding is on the LEFT; position ids come from the mask
// (cumsum - 1, pads get 1) exactly as transformers' generate computes them,
// so a padded row gets the positions it would get alone.
#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "../internal.h"
#include "llama.h"

namespace nm {

// ---- construction ------------------------------------------------------------

LlamaModel::LlamaModel(const nm_llama_config &c, at::TensorOptions o) : cfg(c), opts(o) {
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 ||
      c.num_hidden_layers <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0)
    fail(NM_ERR_ARG, "llama config: sizes must be positive");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail(NM_ERR_ARG, "llama config: num_attention_heads (" + std::to_string(c.num_attention_heads) +
                         ") must be a multiple of num_key_value_heads (" +
                         std::to_string(c.num_key_value_heads) + ")");
  hd = c.head_dim > 0 ? c.head_dim : c.hidden_size / c.num_attention_heads;
  if (hd % 2 != 0) fail(NM_ERR_ARG, "llama config: head_dim must be even for rotary embeddings");
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t nq = c.num_attention_heads * hd, nkv = c.num_key_value_heads * hd;

  add("model.embed_tokens.weight", &embed, {V, H});
  layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t i = 0; i < c.num_hidden_layers; i++) {
    Layer &l = layers[static_cast<size_t>(i)];
    std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", &l.ln1, {H});
    add(p + "self_attn.q_proj.weight", &l.wq, {nq, H});
    add(p + "self_attn.k_proj.weight", &l.wk, {nkv, H});
    add(p + "self_attn.v_proj.weight", &l.wv, {nkv, H});
    if (c.attention_bias) {
      add(p + "self_attn.q_proj.bias", &l.bq, {nq});
      add(p + "self_attn.k_proj.bias", &l.bk, {nkv});
      add(p + "self_attn.v_proj.bias", &l.bv, {nkv});
    }
    add(p + "self_attn.o_proj.weight", &l.wo, {H, nq});
    add(p + "post_attention_layernorm.weight", &l.ln2, {H});
    add(p + "mlp.gate_proj.weight", &l.wgate, {I, H});
    add(p + "mlp.up_proj.weight", &l.wup, {I, H});
    add(p + "mlp.down_proj.weight", &l.wdown, {H, I});
  }
  add("model.norm.weight", &norm, {H});
  if (c.num_labels > 0)
    add("score.weight", &head, {c.num_labels, H});
  else if (!c.tie_word_embeddings)
    add("lm_head.weight", &head, {V, H});
  else
    head = embed; // tied: the same tensor, one parameter

  inv_freq = rope_inv_freq(); // float32 on the model's device
}

void LlamaModel::add(const std::string &name, at::Tensor *slot, at::IntArrayRef shape) {
  make(name, slot, shape, opts);
}

// inv_freq[j] = 1 / theta^(2j / hd), with "llama3" scaling when configured.
at::Tensor LlamaModel::rope_inv_freq() const {
  auto f = at::TensorOptions().dtype(at::kFloat);
  at::Tensor inv =
      1.0 / at::pow(cfg.rope_theta,
                    at::arange(0, hd, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) /
                        static_cast<double>(hd));
  switch (cfg.rope_scaling) {
  case NM_ROPE_NONE: break;
  case NM_ROPE_LLAMA3: {
    // transformers' _compute_llama3_parameters.
    const double factor = cfg.rope_factor, lo = cfg.rope_low_freq_factor,
                 hi = cfg.rope_high_freq_factor, old = cfg.rope_original_max_position_embeddings;
    if (factor <= 0 || lo <= 0 || hi <= lo || old <= 0)
      fail(NM_ERR_ARG, "llama3 rope_scaling needs factor > 0, 0 < low_freq_factor < "
                       "high_freq_factor and original_max_position_embeddings > 0");
    const double lo_wavelen = old / lo, hi_wavelen = old / hi;
    at::Tensor wavelen = 2 * M_PI / inv;
    at::Tensor scaled = at::where(wavelen > lo_wavelen, inv / factor, inv);
    at::Tensor smooth = (old / wavelen - lo) / (hi - lo);
    at::Tensor smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
    at::Tensor medium = (wavelen >= hi_wavelen).logical_and(wavelen <= lo_wavelen);
    inv = at::where(medium, smoothed, scaled);
    break;
  }
  default: fail(NM_ERR_ARG, "unsupported rope_scaling type " + std::to_string(cfg.rope_scaling));
  }
  return inv.to(f.device(opts.device()));
}

// ---- the pieces ----------------------------------------------------------------

// RMSNorm in float32, weight applied in the input dtype (LlamaRMSNorm).
static at::Tensor rms_norm(const at::Tensor &x, const at::Tensor &w, double eps) {
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, true) + eps);
  return w * h.to(x.scalar_type());
}

static at::Tensor linear(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

static at::Tensor rotate_half(const at::Tensor &x) {
  int64_t h = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

// Position ids from a left-padded mask: cumsum - 1, pads set to 1.
at::Tensor positions_from_mask(const at::Tensor &mask) {
  at::Tensor m = mask.to(at::kLong);
  return (m.cumsum(-1) - 1).masked_fill(m == 0, 1); // (B, L)
}

// cos, sin: (B, 1, L, hd) in dtype dt, for position ids pos (B, L).
std::pair<at::Tensor, at::Tensor> LlamaModel::rope(const at::Tensor &pos, at::ScalarType dt) const {
  at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1) * inv_freq; // (B, L, hd/2)
  at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(1);      // (B, 1, L, hd)
  return {emb.cos().to(dt), emb.sin().to(dt)};
}

// allowed[b, i, j]: query i may attend key j. Keys are the cache (past) then
// the new tokens; kmask (B, Lk) marks real keys; queries sit at the last Lq
// slots. Rows with no allowed key (pad queries) attend everything, as
// transformers' _unmask_unattended does, so no NaN can arise.
at::Tensor attention_mask(const at::Tensor &kmask, int64_t Lq) {
  const int64_t Lk = kmask.size(1);
  auto o = at::TensorOptions().dtype(at::kLong).device(kmask.device());
  at::Tensor qi = at::arange(Lk - Lq, Lk, o).unsqueeze(1);                         // (Lq, 1)
  at::Tensor kj = at::arange(0, Lk, o).unsqueeze(0);                               // (1, Lk)
  at::Tensor allowed = (kj <= qi).unsqueeze(0) & kmask.to(at::kBool).unsqueeze(1); // (B, Lq, Lk)
  allowed = allowed | allowed.any(-1, true).logical_not();
  return allowed.unsqueeze(1); // (B, 1, Lq, Lk)
}

// softmax(q kᵀ / √hd + mask) v with GQA. q (B, nh, Lq, hd), k/v (B, nkv, Lk, hd),
// allowed (B, 1, Lq, Lk). Query head h uses key/value head h / groups.
static at::Tensor attend(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v,
                         const at::Tensor &allowed, int64_t groups) {
#if NASHMD_TORCH2
  at::Tensor kk = groups > 1 ? k.repeat_interleave(groups, 1) : k; // (B, nh, Lk, hd)
  at::Tensor vv = groups > 1 ? v.repeat_interleave(groups, 1) : v;
  return at::scaled_dot_product_attention(q, kk, vv, allowed);
#else
  // The groups query heads of one key/value head are stacked along the query
  // axis, so k and v are used in place: no (B, nh, Lk, hd) copies, which in
  // decode would re-read the whole cache once more per layer and step.
  const int64_t B = q.size(0), nh = q.size(1), Lq = q.size(2), hd = q.size(3), Lk = k.size(2);
  const int64_t nkv = nh / groups;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  at::Tensor qg = q.reshape({B, nkv, groups * Lq, hd});       // (B, nkv, g·Lq, hd)
  at::Tensor s = at::matmul(qg, k.transpose(-1, -2)) * scale; // (B, nkv, g·Lq, Lk)
  s = s.to(at::kFloat).view({B, nkv, groups, Lq, Lk});        // (B, nkv, g, Lq, Lk)
  s = s.masked_fill(allowed.unsqueeze(2).logical_not(), -std::numeric_limits<float>::infinity());
  at::Tensor p = at::softmax(s, -1).to(q.scalar_type()).view({B, nkv, groups * Lq, Lk});
  return at::matmul(p, v).view({B, nh, Lq, hd}); // (B, nh, Lq, hd)
#endif
}

// ---- forward --------------------------------------------------------------------

// One decoder layer. x (B, Lq, H); cache, when given, holds this layer's past
// keys/values and receives the new ones.
at::Tensor LlamaModel::layer(size_t i, const at::Tensor &x, const at::Tensor &cos,
                             const at::Tensor &sin, const at::Tensor &allowed, KV *cache) const {
  const Layer &l = layers[i];
  const int64_t B = x.size(0), Lq = x.size(1);
  const int64_t nh = cfg.num_attention_heads, nkv = cfg.num_key_value_heads;

  at::Tensor h = rms_norm(x, l.ln1, cfg.rms_norm_eps);
  at::Tensor q = linear(h, l.wq, l.bq).view({B, Lq, nh, hd}).transpose(1, 2);  // (B, nh, Lq, hd)
  at::Tensor k = linear(h, l.wk, l.bk).view({B, Lq, nkv, hd}).transpose(1, 2); // (B, nkv, Lq, hd)
  at::Tensor v = linear(h, l.wv, l.bv).view({B, Lq, nkv, hd}).transpose(1, 2);
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;
  if (cache != nullptr) {
    k = cache->append_k(i, k); // (B, nkv, Lk, hd)
    v = cache->append_v(i, v);
  }
  at::Tensor a = attend(q, k, v, allowed, nh / nkv); // (B, nh, Lq, hd)
  at::Tensor x2 = x + at::linear(a.transpose(1, 2).reshape({B, Lq, nh * hd}), l.wo);

  h = rms_norm(x2, l.ln2, cfg.rms_norm_eps);
  return x2 + at::linear(at::silu(at::linear(h, l.wgate)) * at::linear(h, l.wup), l.wdown);
}

// Gradient checkpointing (transformers' gradient_checkpointing, reentrant
// form): the forward runs a layer without recording and keeps its input x;
// backward re-runs the layer with recording on a detached copy of x and
// backpropagates the incoming gradient through it, which accumulates the
// layer's weight gradients and yields ∂x. Layers are deterministic (no
// dropout), so the re-run equals the first run.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &x,
                            int64_t model, int64_t i, const at::Tensor &cos, const at::Tensor &sin,
                            const at::Tensor &allowed) {
    ctx->save_for_backward({x, cos, sin, allowed});
    ctx->saved_data["model"] = model;
    ctx->saved_data["layer"] = i;
    return reinterpret_cast<const LlamaModel *>(model)->layer(i, x, cos, sin, allowed, nullptr);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    auto sv = ctx->get_saved_variables();
    const auto *m = reinterpret_cast<const LlamaModel *>(ctx->saved_data["model"].toInt());
    const auto i = static_cast<size_t>(ctx->saved_data["layer"].toInt());
    at::Tensor x = sv[0].detach().requires_grad_(true);
    at::Tensor y;
    {
      at::AutoGradMode on(true);
      y = m->layer(i, x, sv[1], sv[2], sv[3], nullptr);
    }
    torch::autograd::backward({y}, {grads[0]});
    return {x.grad(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Final hidden states (B, L, H) after model.norm.
at::Tensor LlamaModel::hidden(const at::Tensor &ids, const at::Tensor &mask) const {
  if (ids.dim() != 2) fail(NM_ERR_SHAPE, "ids must be (B, L), got " + c10::str(ids.sizes()));
  if (ids.scalar_type() != at::kLong) fail(NM_ERR_DTYPE, "ids must be int64");
  at::Tensor m = mask.defined() ? mask : at::ones_like(ids);
  if (m.sizes() != ids.sizes())
    fail(NM_ERR_SHAPE, "mask " + c10::str(m.sizes()) + " must match ids " + c10::str(ids.sizes()));
  at::Tensor x = at::embedding(embed, ids); // (B, L, H)
  auto cs = rope(positions_from_mask(m), x.scalar_type());
  at::Tensor allowed = attention_mask(m, ids.size(1));
  const bool ckpt = gradient_checkpointing && at::GradMode::is_enabled() && x.requires_grad();
  for (size_t i = 0; i < layers.size(); i++)
    x = ckpt ? CheckpointedLayer::apply(x, reinterpret_cast<int64_t>(this), static_cast<int64_t>(i),
                                        cs.first, cs.second, allowed)
             : layer(i, x, cs.first, cs.second, allowed, nullptr);
  return rms_norm(x, norm, cfg.rms_norm_eps);
}

at::Tensor LlamaModel::final_norm(const at::Tensor &x) const {
  return rms_norm(x, norm, cfg.rms_norm_eps);
}

// Score head value at the last real token of each row: (B, num_labels).
at::Tensor LlamaModel::score(const at::Tensor &h, const at::Tensor &mask) const {
  const int64_t B = h.size(0), L = h.size(1);
  at::Tensor m =
      mask.defined() ? mask.to(at::kLong) : at::ones({B, L}, h.options().dtype(at::kLong));
  // Index of the last 1 in each row (left or right padding alike).
  at::Tensor idx = (m * at::arange(1, L + 1, m.options())).argmax(-1);                     // (B)
  at::Tensor last = h.gather(1, idx.view({B, 1, 1}).expand({B, 1, h.size(2)})).squeeze(1); // (B, H)
  return at::linear(last, head);
}

} // namespace nm

using namespace nm;

// ---- C ABI ---------------------------------------------------------------------

nm_error *nm_model_llama_new(const nm_llama_config *cfg, int32_t dtype, nm_device device,
                             nm_model **out) {
  NM_PROTECT({
    need_out(out);
    if (cfg == nullptr) fail(NM_ERR_ARG, "config is NULL");
    auto o = at::TensorOptions().dtype(scalar_type(dtype)).device(device_of(device));
    if (!at::isFloatingType(o.dtype().toScalarType()))
      fail(NM_ERR_DTYPE, "model dtype must be floating point");
    *out = new nm_model{std::make_unique<LlamaModel>(*cfg, o)};
  });
}

nm_error *nm_model_free(nm_model *m) {
  NM_PROTECT({ delete m; });
}

static LlamaModel &M(const nm_model *m) {
  if (m == nullptr || !m->llama) fail(NM_ERR_ARG, "model is NULL");
  return *m->llama;
}

nm_error *nm_model_num_params(const nm_model *m, int64_t *out) {
  NM_PROTECT({
    need_out(out);
    *out = static_cast<int64_t>(M(m).params.size());
  });
}

nm_error *nm_model_param(const nm_model *m, int64_t i, const char **name, nm_tensor **out) {
  NM_PROTECT({
    need_out(out);
    need_out(name);
    const auto &p = M(m).param(i);
    *name = p.name.c_str();
    give(out, *p.slot);
  });
}

nm_error *nm_model_set_param(nm_model *m, const char *name, const nm_tensor *value) {
  NM_PROTECT({ M(m).set(name, T(value, "value")); });
}

nm_error *nm_model_forward(const nm_model *m, const nm_tensor *ids, const nm_tensor *mask,
                           int32_t what, nm_tensor **out) {
  NM_PROTECT({
    need_out(out);
    const LlamaModel &lm = M(m);
    at::Tensor msk = mask ? mask->t : at::Tensor();
    at::Tensor h = lm.hidden(T(ids, "ids"), msk);
    switch (what) {
    case NM_OUT_HIDDEN: return give(out, h);
    case NM_OUT_LOGITS:
      if (lm.cfg.num_labels > 0) fail(NM_ERR_ARG, "a sequence-classification model has no logits");
      return give(out, at::linear(h, lm.head));
    case NM_OUT_SCORE:
      if (lm.cfg.num_labels <= 0) fail(NM_ERR_ARG, "a causal LM has no score head");
      return give(out, lm.score(h, msk));
    }
    fail(NM_ERR_ARG, "unknown forward output " + std::to_string(what));
  });
}

nm_error *nm_model_set_gradient_checkpointing(nm_model *m, int32_t on) {
  NM_PROTECT({
    if (m == nullptr || !m->llama) fail(NM_ERR_ARG, "model is NULL");
    m->llama->gradient_checkpointing = on != 0;
  });
}

nm_error *nm_model_token_logprobs(const nm_model *m, const nm_tensor *ids, const nm_tensor *mask,
                                  const nm_tensor *targets, int64_t start, double temperature,
                                  int64_t chunk_rows, nm_tensor **out) {
  NM_PROTECT({
    need_out(out);
    const LlamaModel &lm = M(m);
    if (lm.cfg.num_labels > 0) fail(NM_ERR_ARG, "a sequence-classification model has no logits");
    if (!(temperature > 0)) fail(NM_ERR_ARG, "temperature must be positive");
    const at::Tensor &tg = T(targets, "targets");
    at::Tensor h = lm.hidden(T(ids, "ids"), mask ? mask->t : at::Tensor()); // (B, L, H)
    if (start < 0 || start >= h.size(1))
      fail(NM_ERR_SHAPE,
           "start " + std::to_string(start) + " outside [0, " + std::to_string(h.size(1)) + ")");
    h = h.narrow(1, start, h.size(1) - start); // (B, L-start, H)
    if (tg.sizes() != h.sizes().slice(0, 2))
      fail(NM_ERR_SHAPE, "targets " + c10::str(tg.sizes()) +
                             " must be (B, L-start) = " + c10::str(h.sizes().slice(0, 2)));
    give(out, token_logprobs(h, lm.head, tg, temperature, chunk_rows));
  });
}
