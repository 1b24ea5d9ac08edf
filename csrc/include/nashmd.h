/*
 * nashmd.h — the whole C ABI of libnashmd (C99).
 *
 * Rules (see DESIGN.md, "The C boundary"):
 *   - No libtorch type crosses this header; every handle is opaque.
 *   - Every function returns nm_error* (NULL on success). The error carries
 *     the caught exception's message and a code; the caller frees it with
 *     nm_err_free. There is no thread-local "last error".
 *   - Results come back through out-parameters. A function that fails leaves
 *     its out-parameters untouched.
 *   - Caller memory (host buffers, shape arrays) is read or written only for
 *     the duration of the call; nothing the caller passes is retained.
 *   - Every nm_tensor* returned is a new handle owned by the caller, freed
 *     with nm_tensor_free. nm_rt_live_tensors counts the live ones.
 *
 * Sub-prefixes: nm_err_ errors, nm_rt_ runtime, nm_gen_ random generators,
 * nm_tensor_ handles/creation/host copies/queries, nm_op_ math,
 * nm_ag_ autograd, nm_k_ fused kernels, nm_dist_ data parallelism (c10d).
 */
#ifndef NASHMD_H
#define NASHMD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------ */

typedef struct nm_error nm_error;

typedef enum {
  NM_ERR_TORCH = 1,    /* an error raised by libtorch that fits no other code */
  NM_ERR_SHAPE = 2,    /* sizes, dimensions or indices do not fit */
  NM_ERR_DTYPE = 3,    /* wrong or unsupported element type */
  NM_ERR_DEVICE = 4,   /* wrong device, or the device is unavailable */
  NM_ERR_IO = 5,       /* file or stream failure */
  NM_ERR_OOM = 6,      /* out of memory */
  NM_ERR_INTERNAL = 7, /* a bug in nashmd or a non-standard exception */
  NM_ERR_ARG = 8,      /* an invalid argument (NULL handle, bad enum value) */
  NM_ERR_DIST = 9      /* a collective failed: a peer process is lost or the timeout passed */
} nm_error_code;

int nm_err_code(const nm_error *err);
/* The message stays valid until nm_err_free. */
const char *nm_err_message(const nm_error *err);
/* NULL-safe. */
void nm_err_free(nm_error *err);

/* ---- element types and devices ----------------------------------------- */

typedef enum {
  NM_FLOAT32 = 0,
  NM_BFLOAT16 = 1,
  NM_FLOAT16 = 2,
  NM_INT64 = 3,
  NM_INT32 = 4,
  NM_BOOL = 5,
  NM_UINT8 = 6,
  NM_FLOAT64 = 7
} nm_dtype;

typedef enum { NM_CPU = 0, NM_CUDA = 1 } nm_device_type;

typedef struct {
  int32_t type;  /* nm_device_type */
  int32_t index; /* -1 = current/default */
} nm_device;

/* ---- runtime ----------------------------------------------------------- */

/* Seeds libtorch's default generators (CPU and, when present, CUDA). */
nm_error *nm_rt_manual_seed(uint64_t seed);
/* Intra-op threads; n <= 0 is an error. */
nm_error *nm_rt_set_num_threads(int32_t n);
nm_error *nm_rt_num_threads(int32_t *out);
/* Number of nm_tensor handles not yet freed, process-wide. */
nm_error *nm_rt_live_tensors(int64_t *out);
/* "1.13.0" etc.: the libtorch this library was compiled against. Static string. */
nm_error *nm_rt_version(const char **out);
/* 1 when this library was built with its CUDA kernels (make cuda), else 0. */
nm_error *nm_rt_cuda_kernels(int32_t *out);
nm_error *nm_rt_cuda_available(int32_t *out);
nm_error *nm_rt_cuda_device_count(int32_t *out);
/* Hands freed heap memory back to the OS (glibc malloc_trim; a no-op
 * elsewhere). *released is 1 when some was. Call between phases, e.g. after
 * backward, so the next phase's allocations do not stack on retained pages. */
nm_error *nm_rt_release_memory(int32_t *released);
/* Grad mode is per OS thread; Go callers lock the OS thread around its use. */
nm_error *nm_rt_set_grad_enabled(int32_t enabled, int32_t *previous);
nm_error *nm_rt_grad_enabled(int32_t *out);

/* ---- random generators -------------------------------------------------- */

typedef struct nm_generator nm_generator;
typedef struct nm_tensor nm_tensor;

/* A generator seeded with seed on device (CPU or CUDA). Thread-safe in use. */
nm_error *nm_gen_new(uint64_t seed, nm_device device, nm_generator **out);
nm_error *nm_gen_free(nm_generator *g);
/* The generator's full state as a uint8 tensor (for checkpoints), and back. */
nm_error *nm_gen_get_state(nm_generator *g, nm_tensor **out);
nm_error *nm_gen_set_state(nm_generator *g, const nm_tensor *state);

/* ---- tensors: lifecycle, creation, host copies, queries ------------------ */

/* NULL-safe; freeing drops this handle's reference to the storage. */
nm_error *nm_tensor_free(nm_tensor *t);
/* A new handle to the same tensor (shares storage and autograd identity). */
nm_error *nm_tensor_share(const nm_tensor *t, nm_tensor **out);

/* Copies nbytes from data (which must equal numel * element size) into a new
 * contiguous tensor of the given dtype, shape and device. data may be NULL
 * only when nbytes is 0. */
nm_error *nm_tensor_from_host(const void *data, int64_t nbytes, int32_t dtype, const int64_t *shape,
                              int32_t ndim, nm_device device, nm_tensor **out);
/* Copies the tensor's elements (row-major) into dst; nbytes must equal
 * numel * element size. Works from any device. */
nm_error *nm_tensor_to_host(const nm_tensor *t, void *dst, int64_t nbytes);
/* The value of a one-element tensor as a double. */
nm_error *nm_tensor_item(const nm_tensor *t, double *out);

nm_error *nm_tensor_zeros(const int64_t *shape, int32_t ndim, int32_t dtype, nm_device device,
                          nm_tensor **out);
nm_error *nm_tensor_ones(const int64_t *shape, int32_t ndim, int32_t dtype, nm_device device,
                         nm_tensor **out);
nm_error *nm_tensor_full(const int64_t *shape, int32_t ndim, double value, int32_t dtype,
                         nm_device device, nm_tensor **out);
/* [start, end) with step, like torch.arange. */
nm_error *nm_tensor_arange(double start, double end, double step, int32_t dtype, nm_device device,
                           nm_tensor **out);
/* Standard normal; gen may be NULL for the default generator. */
nm_error *nm_tensor_randn(const int64_t *shape, int32_t ndim, int32_t dtype, nm_device device,
                          nm_generator *gen, nm_tensor **out);
/* Uniform in [0, 1); gen may be NULL. */
nm_error *nm_tensor_rand(const int64_t *shape, int32_t ndim, int32_t dtype, nm_device device,
                         nm_generator *gen, nm_tensor **out);

nm_error *nm_tensor_ndim(const nm_tensor *t, int32_t *out);
/* Writes min(ndim, cap) sizes into shape. */
nm_error *nm_tensor_shape(const nm_tensor *t, int64_t *shape, int32_t cap);
nm_error *nm_tensor_numel(const nm_tensor *t, int64_t *out);
nm_error *nm_tensor_dtype(const nm_tensor *t, int32_t *out);
nm_error *nm_tensor_device(const nm_tensor *t, nm_device *out);

nm_error *nm_tensor_to(const nm_tensor *t, int32_t dtype, nm_device device, nm_tensor **out);
nm_error *nm_tensor_contiguous(const nm_tensor *t, nm_tensor **out);
nm_error *nm_tensor_clone(const nm_tensor *t, nm_tensor **out);
nm_error *nm_tensor_detach(const nm_tensor *t, nm_tensor **out);
/* In place: dst <- src (broadcast, dtype/device converted). */
nm_error *nm_tensor_copy_(nm_tensor *dst, const nm_tensor *src);

/* ---- math ---------------------------------------------------------------- */

typedef enum {
  NM_UN_NEG = 0,
  NM_UN_EXP = 1,
  NM_UN_LOG = 2,
  NM_UN_SIGMOID = 3,
  NM_UN_ABS = 4,
  NM_UN_SQRT = 5,
  NM_UN_LOGICAL_NOT = 6
} nm_unary_op;

typedef enum {
  NM_BIN_ADD = 0,
  NM_BIN_SUB = 1,
  NM_BIN_MUL = 2,
  NM_BIN_DIV = 3,
  NM_BIN_EQ = 4, /* comparisons give NM_BOOL */
  NM_BIN_NE = 5,
  NM_BIN_LT = 6,
  NM_BIN_LE = 7,
  NM_BIN_GT = 8,
  NM_BIN_GE = 9,
  NM_BIN_MAXIMUM = 10,
  NM_BIN_MINIMUM = 11,
  NM_BIN_LOGICAL_AND = 12,
  NM_BIN_LOGICAL_OR = 13
} nm_binary_op;

typedef enum {
  NM_RED_SUM = 0,
  NM_RED_MEAN = 1,
  NM_RED_MAX = 2,    /* values only */
  NM_RED_MIN = 3,    /* values only */
  NM_RED_ANY = 4,    /* NM_BOOL */
  NM_RED_ALL = 5,    /* NM_BOOL */
  NM_RED_ARGMAX = 6, /* NM_INT64 */
  NM_RED_LOGSUMEXP = 7
} nm_reduce_op;

nm_error *nm_op_unary(int32_t op, const nm_tensor *x, nm_tensor **out);
/* Broadcasting elementwise a op b, with PyTorch's type promotion. */
nm_error *nm_op_binary(int32_t op, const nm_tensor *a, const nm_tensor *b, nm_tensor **out);
/* a op s, where s is a scalar. */
nm_error *nm_op_binary_scalar(int32_t op, const nm_tensor *a, double s, nm_tensor **out);
/* all != 0: reduce every element to a 0-d tensor (dim, keepdim ignored);
 * otherwise reduce along dim (negative counts from the end). */
nm_error *nm_op_reduce(int32_t op, const nm_tensor *x, int32_t all, int64_t dim, int32_t keepdim,
                       nm_tensor **out);

nm_error *nm_op_matmul(const nm_tensor *a, const nm_tensor *b, nm_tensor **out);
/* Cumulative sum along dim (flip != 0: from the end, i.e. a reverse cumsum). */
nm_error *nm_op_cumsum(const nm_tensor *x, int64_t dim, int32_t flip, nm_tensor **out);
nm_error *nm_op_log_softmax(const nm_tensor *x, int64_t dim, nm_tensor **out);
nm_error *nm_op_softmax(const nm_tensor *x, int64_t dim, nm_tensor **out);
nm_error *nm_op_gather(const nm_tensor *x, int64_t dim, const nm_tensor *index, nm_tensor **out);
nm_error *nm_op_index_select(const nm_tensor *x, int64_t dim, const nm_tensor *index,
                             nm_tensor **out);
nm_error *nm_op_masked_fill(const nm_tensor *x, const nm_tensor *mask, double value,
                            nm_tensor **out);
nm_error *nm_op_where(const nm_tensor *cond, const nm_tensor *a, const nm_tensor *b,
                      nm_tensor **out);
nm_error *nm_op_cat(const nm_tensor *const *xs, int32_t n, int64_t dim, nm_tensor **out);
nm_error *nm_op_stack(const nm_tensor *const *xs, int32_t n, int64_t dim, nm_tensor **out);
/* x.narrow(dim, start, length): a view. */
nm_error *nm_op_narrow(const nm_tensor *x, int64_t dim, int64_t start, int64_t length,
                       nm_tensor **out);
/* x[..., start:end:step, ...] along dim: a view. */
nm_error *nm_op_slice(const nm_tensor *x, int64_t dim, int64_t start, int64_t end, int64_t step,
                      nm_tensor **out);
/* reshape may copy; view never does (fails when it would have to). */
nm_error *nm_op_reshape(const nm_tensor *x, const int64_t *shape, int32_t ndim, nm_tensor **out);
nm_error *nm_op_view(const nm_tensor *x, const int64_t *shape, int32_t ndim, nm_tensor **out);
nm_error *nm_op_transpose(const nm_tensor *x, int64_t dim0, int64_t dim1, nm_tensor **out);
/* n samples per row of probs (1-D or 2-D, non-negative); NM_INT64. gen may
 * be NULL. */
nm_error *nm_op_multinomial(const nm_tensor *probs, int64_t n, int32_t replacement,
                            nm_generator *gen, nm_tensor **out);

/* ---- fused kernels --------------------------------------------------------- */

/* logp[..] = logits[.., ids[..]] - logsumexp(logits[.., :])
 * logits (N..., V) float; ids (N...) int64; out (N...) float32 (or the
 * logits' dtype when it is float64). Works on chunk_rows rows at a time
 * (chunk_rows <= 0: a default), so the (N, V) log-softmax is never
 * materialised. Differentiable with respect to logits. */
nm_error *nm_k_selective_log_softmax(const nm_tensor *logits, const nm_tensor *ids,
                                     int64_t chunk_rows, nm_tensor **out);

/* ---- models ------------------------------------------------------------------ */

typedef struct nm_model nm_model;

typedef enum { NM_ROPE_NONE = 0, NM_ROPE_LLAMA3 = 1 } nm_rope_scaling;

/* The Llama-family decoder's config.json, resolved by the caller. */
typedef struct {
  int64_t vocab_size;
  int64_t hidden_size;
  int64_t intermediate_size;
  int64_t num_hidden_layers;
  int64_t num_attention_heads;
  int64_t num_key_value_heads;
  int64_t head_dim; /* <= 0: hidden_size / num_attention_heads */
  int64_t max_position_embeddings;
  double rms_norm_eps;
  double rope_theta;
  int32_t rope_scaling; /* nm_rope_scaling */
  double rope_factor;
  double rope_low_freq_factor;
  double rope_high_freq_factor;
  int64_t rope_original_max_position_embeddings;
  int32_t attention_bias;      /* q/k/v projections have biases (Qwen2) */
  int32_t tie_word_embeddings; /* lm_head shares model.embed_tokens.weight */
  int64_t num_labels;          /* > 0: ForSequenceClassification with score.weight */
} nm_llama_config;

typedef enum { NM_OUT_LOGITS = 0, NM_OUT_HIDDEN = 1, NM_OUT_SCORE = 2 } nm_forward_output;

/* A model with zero weights of dtype on device; set them with nm_model_set_param. */
nm_error *nm_model_llama_new(const nm_llama_config *cfg, int32_t dtype, nm_device device,
                             nm_model **out);
nm_error *nm_model_free(nm_model *m);
nm_error *nm_model_num_params(const nm_model *m, int64_t *out);
/* The i-th parameter: its checkpoint name (valid while m lives) and a new
 * handle sharing the parameter (set requires_grad on it to train it). */
nm_error *nm_model_param(const nm_model *m, int64_t i, const char **name, nm_tensor **out);
/* Copies value (same shape, any dtype/device) into the named parameter. */
nm_error *nm_model_set_param(nm_model *m, const char *name, const nm_tensor *value);
/* ids (B, L) int64, mask (B, L) 0/1 with LEFT padding (NULL: all ones).
 * NM_OUT_LOGITS (B, L, V), NM_OUT_HIDDEN (B, L, H) after the final norm,
 * NM_OUT_SCORE (B, num_labels) at each row's last real token. */
nm_error *nm_model_forward(const nm_model *m, const nm_tensor *ids, const nm_tensor *mask,
                           int32_t what, nm_tensor **out);
/* Gradient checkpointing: while grad is enabled, each decoder layer keeps only
 * its input and is re-run in backward (less memory, one more forward). */
nm_error *nm_model_set_gradient_checkpointing(nm_model *m, int32_t on);
/* out[b, t] = log softmax(logits[b, start+t] / temperature)[targets[b, t]],
 * float32 (B, L-start): positions before start are run but not scored.
 * targets is (B, L-start). Computed chunk_rows rows at a time (<= 0: a
 * default) without the (B, L, V) logits. For the log-probs of completion
 * tokens ids[:, P:], pass start = P-1 and targets = ids[:, P:]. */
nm_error *nm_model_token_logprobs(const nm_model *m, const nm_tensor *ids, const nm_tensor *mask,
                                  const nm_tensor *targets, int64_t start, double temperature,
                                  int64_t chunk_rows, nm_tensor **out);

/* ---- generation ---------------------------------------------------------------- */

typedef struct {
  int64_t max_new_tokens;
  double temperature; /* <= 0 (or greedy): argmax */
  int64_t top_k;      /* <= 0: off */
  double top_p;       /* 1: off; else in (0, 1) */
  int32_t greedy;
  const int64_t *eos_ids; /* a row stops after any of these; read during the call only */
  int32_t n_eos;
  int64_t pad_id;            /* written after a row's EOS */
  int32_t use_cache;         /* 0: recompute the whole prefix each step (tests, benchmarks) */
  double min_p;              /* <= 0: off; else drop tokens below min_p · top probability */
  double repetition_penalty; /* 1: off; seen tokens' logits ·p if < 0, /p otherwise */
} nm_gen_config;

/* Samples up to max_new_tokens after left-padded prompts ids (B, P) with
 * mask (NULL: no padding). tokens (B, T) int64 with T <= max_new_tokens (the
 * loop stops when every row has ended); completion_mask (B, T) int64 is 1
 * up to and including each row's EOS. gen may be NULL. No gradients. */
nm_error *nm_generate(const nm_model *m, const nm_tensor *ids, const nm_tensor *mask,
                      const nm_gen_config *cfg, nm_generator *gen, nm_tensor **tokens,
                      nm_tensor **completion_mask);
/* Nash-MD's two streams from one prefill of the policy: y ~ policy and
 * y' ~ softmax(((1-mixture_coef)·l_policy + mixture_coef·l_ref) / temperature).
 * Both (B, T) with T the longer stream's length. Without use_cache every
 * step re-runs both models on the whole prefix (TRL's way); the random draws
 * are the same, so the tokens are too. */
nm_error *nm_generate_mixture(const nm_model *policy, const nm_model *ref, double mixture_coef,
                              const nm_tensor *ids, const nm_tensor *mask, const nm_gen_config *cfg,
                              nm_generator *gen, nm_tensor **tokens, nm_tensor **completion_mask,
                              nm_tensor **mix_tokens, nm_tensor **mix_completion_mask);

/* ---- optimisation ---------------------------------------------------------------- */

typedef struct nm_optimizer nm_optimizer;

/* AdamW over params (handles are shared, not taken), as torch.optim.AdamW. */
nm_error *nm_adamw_new(const nm_tensor *const *params, int32_t n, double beta1, double beta2,
                       double eps, double weight_decay, nm_optimizer **out);
nm_error *nm_adamw_free(nm_optimizer *o);
/* One update with learning rate lr; parameters without a gradient are skipped. */
nm_error *nm_adamw_step(nm_optimizer *o, double lr);
/* State of parameter i: new handles to its moments (NULL before its first
 * step) and its step count. */
nm_error *nm_adamw_get_state(const nm_optimizer *o, int32_t i, nm_tensor **exp_avg,
                             nm_tensor **exp_avg_sq, int64_t *step);
nm_error *nm_adamw_set_state(nm_optimizer *o, int32_t i, const nm_tensor *exp_avg,
                             const nm_tensor *exp_avg_sq, int64_t step);
/* Total 2-norm of the gradients (before clipping); clips to max_norm when > 0
 * and the norm is finite (torch.nn.utils.clip_grad_norm_). */
nm_error *nm_grad_clip(const nm_tensor *const *params, int32_t n, double max_norm,
                       double *total_norm);
nm_error *nm_grad_scale(const nm_tensor *const *params, int32_t n, double factor);
/* Drops every gradient (zero_grad(set_to_none=True)). */
nm_error *nm_grad_zero(const nm_tensor *const *params, int32_t n);

/* Nash-MD's fused mixture-sampling step: per row, a sample of
 * softmax(((1-beta)·policy + beta·ref) / temperature) by inverse-CDF sampling with
 * one uniform per row. policy, ref (N, V) float; out (N) int64. gen may be NULL. */
nm_error *nm_k_mixture_sample(const nm_tensor *policy, const nm_tensor *ref, double beta,
                              double temperature, nm_generator *gen, nm_tensor **out);
/* As nm_k_mixture_sample, with filters on the mixture m: top_k (<= 0 or >= V:
 * off) then top_p (1: off; else in (0, 1)), as transformers' warpers (values
 * tied with the cut-off are all kept). tokens (N) int64; logp, when not NULL,
 * gets (N) float32 log softmax(policy / temperature)[token], the token's
 * log-prob under the unfiltered policy. On a CUDA tensor in a CUDA build this
 * is the fused CUDA kernel (gen must then be a CUDA generator or NULL). */
nm_error *nm_k_mixture_sample_ex(const nm_tensor *policy, const nm_tensor *ref, double beta,
                                 double temperature, int64_t top_k, double top_p, nm_generator *gen,
                                 nm_tensor **tokens, nm_tensor **logp);
/* The distribution nm_k_mixture_sample draws from, (N, V) float32 (for tests). */
nm_error *nm_k_mixture_probs(const nm_tensor *policy, const nm_tensor *ref, double beta,
                             double temperature, nm_tensor **out);

/* ---- autograd ---------------------------------------------------------------- */

nm_error *nm_ag_set_requires_grad(nm_tensor *t, int32_t requires_grad);
nm_error *nm_ag_requires_grad(const nm_tensor *t, int32_t *out);
/* grad may be NULL for a scalar t. */
nm_error *nm_ag_backward(const nm_tensor *t, const nm_tensor *grad);
/* *out is NULL when t has no gradient yet. */
nm_error *nm_ag_grad(const nm_tensor *t, nm_tensor **out);
/* Sets t's gradient to undefined (like zero_grad(set_to_none=True)). */
nm_error *nm_ag_zero_grad(nm_tensor *t);

/* ---- DeBERTa-v2/v3 encoder ------------------------------------------------------ */

typedef struct nm_deberta nm_deberta;

/* Bit flags of nm_deberta_config.pos_att_type. */
typedef enum { NM_DEBERTA_C2P = 1, NM_DEBERTA_P2C = 2 } nm_deberta_pos_att;

/* DebertaV2Config's config.json, resolved by the caller (hidden_act must be
 * "gelu"). */
typedef struct {
  int64_t vocab_size;
  int64_t hidden_size;
  int64_t num_hidden_layers;
  int64_t num_attention_heads;
  int64_t intermediate_size;
  int64_t max_position_embeddings;
  int64_t type_vocab_size; /* 0: no token_type_embeddings */
  double layer_norm_eps;
  int32_t relative_attention;
  int64_t max_relative_positions;  /* < 1: max_position_embeddings */
  int64_t position_buckets;        /* <= 0: relative positions are not bucketed */
  int32_t share_att_key;           /* c2p/p2c reuse key_proj/query_proj */
  int32_t pos_att_type;            /* nm_deberta_pos_att flags */
  int32_t position_biased_input;   /* absolute position embeddings are added */
  int32_t norm_rel_ebd_layer_norm; /* norm_rel_ebd contains "layer_norm" */
  int64_t embedding_size;          /* <= 0: hidden_size; else embed_proj maps it */
  int64_t pad_token_id;
  int64_t conv_kernel_size; /* > 0 (ConvLayer) is unsupported: an error */
} nm_deberta_config;

/* A DebertaV2Model with zero weights of dtype on device. Its parameters are
 * named as in DebertaV2Model's state_dict ("embeddings.word_embeddings.weight",
 * "encoder.layer.0.attention.self.query_proj.weight", ...), without any
 * prefix. */
nm_error *nm_deberta_new(const nm_deberta_config *cfg, int32_t dtype, nm_device device,
                         nm_deberta **out);
nm_error *nm_deberta_free(nm_deberta *m);
nm_error *nm_deberta_num_params(const nm_deberta *m, int64_t *out);
/* As nm_model_param: the name stays valid while m lives. */
nm_error *nm_deberta_param(const nm_deberta *m, int64_t i, const char **name, nm_tensor **out);
/* Copies value (same shape, any dtype/device) into the named parameter. */
nm_error *nm_deberta_set_param(nm_deberta *m, const char *name, const nm_tensor *value);
/* last_hidden_state (B, L, H) in the model's dtype. ids (B, L) int64; mask
 * (B, L) 0/1 with RIGHT padding (NULL: all ones); token_type_ids (B, L)
 * int64 or NULL (zeros). Position ids are 0..L-1. */
nm_error *nm_deberta_forward(const nm_deberta *m, const nm_tensor *ids, const nm_tensor *mask,
                             const nm_tensor *token_type_ids, nm_tensor **out);
/* build_relative_position: (query_len, key_len) int64 with out[i, j] = i - j,
 * log-bucketed when buckets > 0 and max_position > 0 (for tests). */
nm_error *nm_deberta_relative_positions(int64_t query_len, int64_t key_len, int64_t buckets,
                                        int64_t max_position, nm_device device, nm_tensor **out);

/* ---- data parallelism (c10d) ---------------------------------------------------- */

typedef struct nm_dist nm_dist;

typedef enum { NM_DIST_GLOO = 0, NM_DIST_NCCL = 1 } nm_dist_backend;

/* NM_DIST_AVG is a sum divided by the world size. */
typedef enum { NM_DIST_SUM = 0, NM_DIST_AVG = 1, NM_DIST_MAX = 2, NM_DIST_MIN = 3 } nm_dist_op;

typedef struct {
  const char *master_addr; /* the rendezvous store's host (read during the call only) */
  int32_t master_port;
  int32_t rank;
  int32_t world_size;
  int32_t backend;          /* nm_dist_backend; NCCL needs a CUDA build */
  int32_t device_index;     /* NCCL: this rank's CUDA device */
  int64_t timeout_ms;       /* rendezvous and every collective; > 0 */
  int64_t heartbeat_ms;     /* <= 0: min(1 s, timeout / 10), at least 50 ms */
  int32_t agent_store;      /* != 0: a launcher's agent hosts the store (torchrun) */
  const char *store_prefix; /* NULL or "": none; else every key is under it */
} nm_dist_config;

/* Joins the process group: rank 0 hosts a TCPStore at master_addr:master_port
 * (unless agent_store), every rank connects, and the Gloo (or NCCL) group
 * forms through it within timeout_ms. A failed or timed-out collective is an
 * NM_ERR_DIST error whose message names the lost or lagging rank; the group
 * is then broken and every later call fails. */
nm_error *nm_dist_new(const nm_dist_config *cfg, nm_dist **out);
/* Leaves the group (no collective: call nm_dist_barrier first for an orderly
 * exit). A broken group's threads may wait on a dead peer: it is leaked, not
 * destroyed, and the process is expected to exit. NULL-safe. */
nm_error *nm_dist_free(nm_dist *d);
/* In place over every rank: xs[i] <- op over ranks of xs[i]. Tensors are
 * flattened into buckets of at most bucket_bytes (<= 0: 25 MB) of one dtype,
 * one collective per bucket. Every rank passes the same shapes and dtypes. */
nm_error *nm_dist_all_reduce(nm_dist *d, const nm_tensor *const *xs, int32_t n, int32_t op,
                             int64_t bucket_bytes);
/* Averages the gradients of params over the ranks, bucketed. A parameter
 * with a gradient on some rank gets one on every rank (zeros where it had
 * none before the average); one without a gradient anywhere keeps none.
 * transfer_seconds (may be NULL) receives the time of the bucketed
 * all-reduce once every rank has arrived (waiting for them not counted). */
nm_error *nm_dist_all_reduce_grads(nm_dist *d, const nm_tensor *const *params, int32_t n,
                                   int64_t bucket_bytes, double *transfer_seconds);
/* In place: every rank's xs[i] <- root's, bucketed. */
nm_error *nm_dist_broadcast(nm_dist *d, const nm_tensor *const *xs, int32_t n, int32_t root,
                            int64_t bucket_bytes);
nm_error *nm_dist_barrier(nm_dist *d);
/* out (world_size × nbytes) <- every rank's nbytes of data, in rank order.
 * nbytes must be the same on every rank. */
nm_error *nm_dist_all_gather(nm_dist *d, const void *data, int64_t nbytes, void *out);

#ifdef __cplusplus
}
#endif

#endif /* NASHMD_H */
