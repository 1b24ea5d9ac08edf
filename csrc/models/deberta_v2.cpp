// deberta_v2.cpp — the DeBERTa-v2/v3 encoder (DebertaV2Model), as
// transformers 4.46.3's modeling_deberta_v2.py computes it: the encoder
// behind PairRM (deberta-v3-large).
//
// Legend: B batch, L sequence length, H hidden size, E embedding size, nh
// heads, hd head dim (H / nh), I intermediate size, S attention span
// (position_buckets, or max_relative_positions without buckets).
//
// Weights are plain at::Tensors named by their checkpoint names relative to
// DebertaV2Model ("encoder.layer.3.attention.self.query_proj.weight"); the
// caller strips any prefix such as "deberta." or "pretrained_model.".
// Padding is on the RIGHT; position ids are 0..L-1. Dropout is absent (eval).
//
// Disentangled attention, per head, with q, k content projections and
// Pq, Pk the projections of the (layer-normed) relative-position embeddings:
//   A[i,j] = q_i·k_j / √(hd·f)                               content
//          + q_i·Pk[δ(i,j)] / √(hd·f)                        c2p
//          + k_j·Pq[δ(j,i)] / √(hd·f)                        p2c
// with δ(i,j) = clamp(bucket(i-j) + S, 0, 2S-1) and f = 1 + |pos_att_type|.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "../internal.h"

namespace nm {

struct DebertaModel : ParamTable {
  struct Layer {
    at::Tensor wq, bq, wk, bk, wv, bv; // attention.self.{query,key,value}_proj
    at::Tensor wpk, bpk, wpq, bpq;     // pos_key_proj (c2p), pos_query_proj (p2c); unshared only
    at::Tensor wao, bao, ln1w, ln1b;   // attention.output.{dense,LayerNorm}
    at::Tensor wi, bi, wo, bo, ln2w, ln2b; // intermediate.dense, output.{dense,LayerNorm}
  };
  nm_deberta_config cfg;
  at::TensorOptions opts;
  int64_t nh = 0, hd = 0, E = 0, S = 0, max_rel = 0;
  bool c2p = false, p2c = false;
  at::Tensor word, pos, type, proj, lnw, lnb; // embeddings
  at::Tensor rel, rel_lnw, rel_lnb;           // encoder.rel_embeddings, encoder.LayerNorm
  std::vector<Layer> layers;

  DebertaModel(const nm_deberta_config &c, at::TensorOptions o);
  DebertaModel(const DebertaModel &) = delete;
  DebertaModel &operator=(const DebertaModel &) = delete;

  at::Tensor hidden(const at::Tensor &ids, const at::Tensor &mask, const at::Tensor &types) const;

private:
  void add(const std::string &name, at::Tensor *slot, at::IntArrayRef shape);
  at::Tensor embed(const at::Tensor &ids, const at::Tensor &mask, const at::Tensor &types) const;
  at::Tensor layer(size_t i, const at::Tensor &x, const at::Tensor &allowed,
                   const at::Tensor &relpos, const at::Tensor &relemb) const;
  at::Tensor rel_bias(const Layer &l, const at::Tensor &q, const at::Tensor &k,
                      const at::Tensor &relpos, const at::Tensor &relemb, int64_t B) const;
  at::Tensor heads(const at::Tensor &x) const;
  double scale_factor() const { return 1.0 + (c2p ? 1 : 0) + (p2c ? 1 : 0); }
};

static void check_buckets(int64_t buckets, int64_t max_position);

// ---- construction ------------------------------------------------------------

DebertaModel::DebertaModel(const nm_deberta_config &c, at::TensorOptions o) : cfg(c), opts(o) {
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_hidden_layers <= 0 ||
      c.num_attention_heads <= 0 || c.intermediate_size <= 0 || c.max_position_embeddings <= 0)
    fail(NM_ERR_ARG, "deberta config: sizes must be positive");
  if (c.hidden_size % c.num_attention_heads != 0)
    fail(NM_ERR_ARG, "deberta config: hidden_size (" + std::to_string(c.hidden_size) +
                         ") is not a multiple of num_attention_heads (" +
                         std::to_string(c.num_attention_heads) + ")");
  if (c.conv_kernel_size > 0)
    fail(NM_ERR_ARG, "deberta config: conv_kernel_size = " + std::to_string(c.conv_kernel_size) +
                         " (the ConvLayer of deberta-v2-xlarge/xxlarge) is unsupported; "
                         "deberta-v3 and PairRM have none");
  if (c.type_vocab_size < 0) fail(NM_ERR_ARG, "deberta config: type_vocab_size < 0");
  if (c.pos_att_type & ~(NM_DEBERTA_C2P | NM_DEBERTA_P2C))
    fail(NM_ERR_ARG, "deberta config: unknown pos_att_type bits " + std::to_string(c.pos_att_type));
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  nh = c.num_attention_heads;
  hd = H / nh;
  E = c.embedding_size > 0 ? c.embedding_size : H;
  c2p = (c.pos_att_type & NM_DEBERTA_C2P) != 0;
  p2c = (c.pos_att_type & NM_DEBERTA_P2C) != 0;
  if (c.relative_attention) {
    max_rel = c.max_relative_positions < 1 ? c.max_position_embeddings : c.max_relative_positions;
    S = c.position_buckets > 0 ? c.position_buckets : max_rel;
    check_buckets(c.position_buckets, max_rel);
  }

  add("embeddings.word_embeddings.weight", &word, {c.vocab_size, E});
  if (c.position_biased_input)
    add("embeddings.position_embeddings.weight", &pos, {c.max_position_embeddings, E});
  if (c.type_vocab_size > 0)
    add("embeddings.token_type_embeddings.weight", &type, {c.type_vocab_size, E});
  if (E != H) add("embeddings.embed_proj.weight", &proj, {H, E});
  add("embeddings.LayerNorm.weight", &lnw, {H});
  add("embeddings.LayerNorm.bias", &lnb, {H});
  layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t i = 0; i < c.num_hidden_layers; i++) {
    Layer &l = layers[static_cast<size_t>(i)];
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    add(p + "attention.self.query_proj.weight", &l.wq, {H, H});
    add(p + "attention.self.query_proj.bias", &l.bq, {H});
    add(p + "attention.self.key_proj.weight", &l.wk, {H, H});
    add(p + "attention.self.key_proj.bias", &l.bk, {H});
    add(p + "attention.self.value_proj.weight", &l.wv, {H, H});
    add(p + "attention.self.value_proj.bias", &l.bv, {H});
    if (c.relative_attention && !c.share_att_key) {
      if (c2p) {
        add(p + "attention.self.pos_key_proj.weight", &l.wpk, {H, H});
        add(p + "attention.self.pos_key_proj.bias", &l.bpk, {H});
      }
      if (p2c) {
        add(p + "attention.self.pos_query_proj.weight", &l.wpq, {H, H});
        add(p + "attention.self.pos_query_proj.bias", &l.bpq, {H});
      }
    }
    add(p + "attention.output.dense.weight", &l.wao, {H, H});
    add(p + "attention.output.dense.bias", &l.bao, {H});
    add(p + "attention.output.LayerNorm.weight", &l.ln1w, {H});
    add(p + "attention.output.LayerNorm.bias", &l.ln1b, {H});
    add(p + "intermediate.dense.weight", &l.wi, {I, H});
    add(p + "intermediate.dense.bias", &l.bi, {I});
    add(p + "output.dense.weight", &l.wo, {H, I});
    add(p + "output.dense.bias", &l.bo, {H});
    add(p + "output.LayerNorm.weight", &l.ln2w, {H});
    add(p + "output.LayerNorm.bias", &l.ln2b, {H});
  }
  if (c.relative_attention) add("encoder.rel_embeddings.weight", &rel, {2 * S, H});
  if (c.norm_rel_ebd_layer_norm) {
    add("encoder.LayerNorm.weight", &rel_lnw, {H});
    add("encoder.LayerNorm.bias", &rel_lnb, {H});
  }
}

void DebertaModel::add(const std::string &name, at::Tensor *slot, at::IntArrayRef shape) {
  make(name, slot, shape, opts);
}

// ---- relative positions ----------------------------------------------------------

// Log buckets need mid = buckets/2 >= 2 and max_position - 1 > mid, else
// transformers' formula divides by log(1) = 0 or takes log(0).
static void check_buckets(int64_t buckets, int64_t max_position) {
  if (buckets > 0 && max_position > 0 && (buckets / 2 < 2 || max_position - 1 <= buckets / 2))
    fail(NM_ERR_ARG, "position_buckets " + std::to_string(buckets) + " with max position " +
                         std::to_string(max_position) +
                         ": need position_buckets >= 4 and max_relative_positions > "
                         "position_buckets/2 + 1");
}

// make_log_bucket_position: |r| < mid keeps r; farther distances share
// log-spaced buckets up to max_position. Computed in float32 as transformers does.
static at::Tensor log_bucket(const at::Tensor &r, int64_t buckets, int64_t max_position) {
  const int64_t mid = buckets / 2;
  at::Tensor sign = at::sign(r);
  at::Tensor near = (r < mid).logical_and(r > -mid);
  at::Tensor abs_pos = at::where(near, at::scalar_tensor(mid - 1, r.options()), at::abs(r));
  at::Tensor denom = at::log(at::scalar_tensor(static_cast<double>(max_position - 1) / mid,
                                               r.options().dtype(at::kFloat)));
  at::Tensor log_pos = at::ceil(at::log(abs_pos / mid) / denom * (mid - 1)) + mid; // float32
  return at::where(abs_pos <= mid, r.to(log_pos.scalar_type()), log_pos * sign);
}

// build_relative_position: r[i, j] = i - j (bucketed), (q, k) int64.
static at::Tensor relative_positions(int64_t q, int64_t k, int64_t buckets, int64_t max_position,
                                     at::Device dev) {
  auto o = at::TensorOptions().dtype(at::kLong).device(dev);
  at::Tensor r = at::arange(q, o).unsqueeze(1) - at::arange(k, o).unsqueeze(0); // (q, k)
  if (buckets > 0 && max_position > 0) r = log_bucket(r, buckets, max_position);
  return r.to(at::kLong);
}

// ---- the pieces ---------------------------------------------------------------------

// (B', L', H) → (B'·nh, L', hd), as transpose_for_scores.
at::Tensor DebertaModel::heads(const at::Tensor &x) const {
  const int64_t B = x.size(0), L = x.size(1);
  return x.view({B, L, nh, hd}).permute({0, 2, 1, 3}).contiguous().view({B * nh, L, hd});
}

// XSoftmax: masked scores get the dtype's lowest value, and masked
// probabilities are set to 0 (so a fully masked pad row attends nothing).
static at::Tensor xsoftmax(const at::Tensor &s, const at::Tensor &allowed) {
  at::Tensor rmask = allowed.logical_not();
  double lowest = 0;
  switch (s.scalar_type()) {
  case at::kFloat: lowest = std::numeric_limits<float>::lowest(); break;
  case at::kBFloat16:
    lowest = static_cast<float>(std::numeric_limits<c10::BFloat16>::lowest());
    break;
  case at::kHalf: lowest = static_cast<float>(std::numeric_limits<c10::Half>::lowest()); break;
  // torch.tensor(finfo(float64).min) is a float32 tensor: -inf.
  default: lowest = -std::numeric_limits<double>::infinity();
  }
  return at::softmax(s.masked_fill(rmask, lowest), -1).masked_fill(rmask, 0);
}

// The c2p and p2c terms for q, k (B·nh, L, hd); undefined when neither is on.
at::Tensor DebertaModel::rel_bias(const Layer &l, const at::Tensor &q, const at::Tensor &k,
                                  const at::Tensor &relpos, const at::Tensor &relemb,
                                  int64_t B) const {
  const int64_t BH = q.size(0), L = q.size(1);
  at::Tensor re = relemb.narrow(0, 0, 2 * S).unsqueeze(0); // (1, 2S, H)
  at::Tensor pk, pq;                                       // (B·nh, 2S, hd)
  if (cfg.share_att_key) {
    pq = heads(at::linear(re, l.wq, l.bq)).repeat({B, 1, 1});
    pk = heads(at::linear(re, l.wk, l.bk)).repeat({B, 1, 1});
  } else {
    if (c2p) pk = heads(at::linear(re, l.wpk, l.bpk)).repeat({B, 1, 1});
    if (p2c) pq = heads(at::linear(re, l.wpq, l.bpq)).repeat({B, 1, 1});
  }
  at::Tensor scale =
      at::sqrt(at::scalar_tensor(static_cast<double>(hd), at::kFloat) * scale_factor())
          .to(q.scalar_type());
  at::Tensor score;
  if (c2p) {
    at::Tensor att = at::bmm(q, pk.transpose(-1, -2)); // (B·nh, L, 2S)
    at::Tensor idx = at::clamp(relpos + S, 0, 2 * S - 1).expand({BH, L, L});
    score = at::gather(att, -1, idx) / scale; // (B·nh, L, L)
  }
  if (p2c) {
    at::Tensor att = at::bmm(k, pq.transpose(-1, -2)); // (B·nh, L, 2S)
    at::Tensor idx = at::clamp(-relpos + S, 0, 2 * S - 1).expand({BH, L, L});
    at::Tensor t = at::gather(att, -1, idx).transpose(-1, -2) / scale; // (B·nh, L, L)
    score = score.defined() ? score + t : t;
  }
  return score;
}

// Word (+ absolute position) (+ token type) embeddings, embed_proj, LayerNorm,
// then zero at padding. (B, L, H).
at::Tensor DebertaModel::embed(const at::Tensor &ids, const at::Tensor &mask,
                               const at::Tensor &types) const {
  const int64_t L = ids.size(1), H = cfg.hidden_size;
  at::Tensor x = at::embedding(word, ids); // (B, L, E)
  if (cfg.position_biased_input) {
    if (L > cfg.max_position_embeddings)
      fail(NM_ERR_SHAPE, "sequence length " + std::to_string(L) + " > max_position_embeddings " +
                             std::to_string(cfg.max_position_embeddings));
    x = x + at::embedding(pos, at::arange(L, ids.options())).unsqueeze(0);
  }
  if (cfg.type_vocab_size > 0)
    x = x + at::embedding(type, types.defined() ? types : at::zeros_like(ids));
  if (E != H) x = at::linear(x, proj); // (B, L, H)
  x = at::layer_norm(x, {H}, lnw, lnb, cfg.layer_norm_eps);
  return x * mask.to(x.scalar_type()).unsqueeze(2);
}

// One DebertaV2Layer. x (B, L, H); allowed (B, 1, L, L) bool.
at::Tensor DebertaModel::layer(size_t i, const at::Tensor &x, const at::Tensor &allowed,
                               const at::Tensor &relpos, const at::Tensor &relemb) const {
  const Layer &l = layers[i];
  const int64_t B = x.size(0), L = x.size(1), H = cfg.hidden_size;
  at::Tensor q = heads(at::linear(x, l.wq, l.bq)); // (B·nh, L, hd)
  at::Tensor k = heads(at::linear(x, l.wk, l.bk));
  at::Tensor v = heads(at::linear(x, l.wv, l.bv));
  at::Tensor scale =
      at::sqrt(at::scalar_tensor(static_cast<double>(hd), at::kFloat) * scale_factor())
          .to(q.scalar_type());
  at::Tensor s = at::bmm(q, k.transpose(-1, -2) / scale); // (B·nh, L, L)
  if (cfg.relative_attention) {
    at::Tensor r = rel_bias(l, q, k, relpos, relemb, B);
    if (r.defined()) s = s + r;
  }
  at::Tensor p = xsoftmax(s.view({B, nh, L, L}), allowed);
  at::Tensor ctx = at::bmm(p.view({B * nh, L, L}), v) // (B·nh, L, hd)
                       .view({B, nh, L, hd})
                       .permute({0, 2, 1, 3})
                       .contiguous()
                       .view({B, L, H});
  at::Tensor a =
      at::layer_norm(at::linear(ctx, l.wao, l.bao) + x, {H}, l.ln1w, l.ln1b, cfg.layer_norm_eps);
  at::Tensor h = at::gelu(at::linear(a, l.wi, l.bi)); // (B, L, I)
  return at::layer_norm(at::linear(h, l.wo, l.bo) + a, {H}, l.ln2w, l.ln2b, cfg.layer_norm_eps);
}

// ---- forward ----------------------------------------------------------------------------

// last_hidden_state (B, L, H).
at::Tensor DebertaModel::hidden(const at::Tensor &ids, const at::Tensor &mask,
                                const at::Tensor &types) const {
  if (ids.dim() != 2) fail(NM_ERR_SHAPE, "ids must be (B, L), got " + c10::str(ids.sizes()));
  if (ids.scalar_type() != at::kLong) fail(NM_ERR_DTYPE, "ids must be int64");
  if (ids.size(1) == 0) fail(NM_ERR_SHAPE, "ids have no positions");
  at::Tensor m = mask.defined() ? mask : at::ones_like(ids);
  if (m.sizes() != ids.sizes())
    fail(NM_ERR_SHAPE, "mask " + c10::str(m.sizes()) + " must match ids " + c10::str(ids.sizes()));
  if (types.defined()) {
    if (types.sizes() != ids.sizes())
      fail(NM_ERR_SHAPE,
           "token types " + c10::str(types.sizes()) + " must match ids " + c10::str(ids.sizes()));
    if (types.scalar_type() != at::kLong) fail(NM_ERR_DTYPE, "token types must be int64");
    if (cfg.type_vocab_size == 0)
      fail(NM_ERR_ARG, "token types given to a model with type_vocab_size = 0");
  }
  const int64_t L = ids.size(1);
  at::Tensor x = embed(ids, m, types); // (B, L, H)
  at::Tensor real = m != 0;            // (B, L)
  at::Tensor allowed = real.unsqueeze(1).unsqueeze(2).logical_and(real.unsqueeze(1).unsqueeze(3));
  at::Tensor relpos, relemb; // (L, L) int64, (2S, H)
  if (cfg.relative_attention) {
    relpos = relative_positions(L, L, cfg.position_buckets, max_rel, ids.device());
    relemb = cfg.norm_rel_ebd_layer_norm
                 ? at::layer_norm(rel, {cfg.hidden_size}, rel_lnw, rel_lnb, cfg.layer_norm_eps)
                 : rel;
  }
  for (size_t i = 0; i < layers.size(); i++)
    x = layer(i, x, allowed, relpos, relemb);
  return x;
}

} // namespace nm

struct nm_deberta {
  std::unique_ptr<nm::DebertaModel> m;
};

using namespace nm;

// ---- C ABI --------------------------------------------------------------------------------

static DebertaModel &D(const nm_deberta *m) {
  if (m == nullptr || !m->m) fail(NM_ERR_ARG, "deberta model is NULL");
  return *m->m;
}

nm_error *nm_deberta_new(const nm_deberta_config *cfg, int32_t dtype, nm_device device,
                         nm_deberta **out) {
  NM_PROTECT({
    need_out(out);
    if (cfg == nullptr) fail(NM_ERR_ARG, "config is NULL");
    auto o = at::TensorOptions().dtype(scalar_type(dtype)).device(device_of(device));
    if (!at::isFloatingType(o.dtype().toScalarType()))
      fail(NM_ERR_DTYPE, "model dtype must be floating point");
    *out = new nm_deberta{std::make_unique<DebertaModel>(*cfg, o)};
  });
}

nm_error *nm_deberta_free(nm_deberta *m) {
  NM_PROTECT({ delete m; });
}

nm_error *nm_deberta_num_params(const nm_deberta *m, int64_t *out) {
  NM_PROTECT({
    need_out(out);
    *out = static_cast<int64_t>(D(m).params.size());
  });
}

nm_error *nm_deberta_param(const nm_deberta *m, int64_t i, const char **name, nm_tensor **out) {
  NM_PROTECT({
    need_out(out);
    need_out(name);
    const auto &p = D(m).param(i);
    *name = p.name.c_str();
    give(out, *p.slot);
  });
}

nm_error *nm_deberta_set_param(nm_deberta *m, const char *name, const nm_tensor *value) {
  NM_PROTECT({ D(m).set(name, T(value, "value")); });
}

nm_error *nm_deberta_forward(const nm_deberta *m, const nm_tensor *ids, const nm_tensor *mask,
                             const nm_tensor *token_type_ids, nm_tensor **out) {
  NM_PROTECT({
    need_out(out);
    const DebertaModel &dm = D(m);
    give(out, dm.hidden(T(ids, "ids"), mask ? mask->t : at::Tensor(),
                        token_type_ids ? token_type_ids->t : at::Tensor()));
  });
}

nm_error *nm_deberta_relative_positions(int64_t query_len, int64_t key_len, int64_t buckets,
                                        int64_t max_position, nm_device device, nm_tensor **out) {
  NM_PROTECT({
    need_out(out);
    if (query_len <= 0 || key_len <= 0) fail(NM_ERR_ARG, "lengths must be positive");
    check_buckets(buckets, max_position);
    give(out, relative_positions(query_len, key_len, buckets, max_position, device_of(device)));
  });
}
