package gguf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// HFModel is a GGUF model seen as a Hugging Face checkpoint: the files that
// go beside the weights, and the weights by their Hugging Face names.
//
// It supports general.architecture "llama" (LlamaForCausalLM; SmolLM2 and
// Llama 2/3-style models) and "qwen2" (Qwen2ForCausalLM), with a byte-level
// BPE tokenizer (tokenizer.ggml.model "gpt2").
type HFModel struct {
	// Arch is the GGUF architecture, "llama" or "qwen2".
	Arch string
	// Config, GenerationConfig, Tokenizer and TokenizerConfig are the
	// contents of config.json, generation_config.json, tokenizer.json and
	// tokenizer_config.json.
	Config, GenerationConfig, Tokenizer, TokenizerConfig []byte
	// Tensors lists the weights in GGUF order. A tied lm_head (no
	// output.weight in the GGUF) is not listed, as save_pretrained omits it.
	Tensors []HFTensor

	file *File
}

// HFTensor is one Hugging Face weight and the GGUF tensor it comes from.
type HFTensor struct {
	Name  string  // e.g. "model.layers.0.self_attn.q_proj.weight"
	Shape []int64 // row-major, the GGUF dims reversed
	// GGUFName is the source tensor, e.g. "blk.0.attn_q.weight".
	GGUFName string
	// Heads is the head count of llama.cpp's q/k row permutation, which
	// [HFModel.Float32] undoes; 0 when the tensor is not permuted.
	Heads int
}

// Numel returns the number of elements.
func (t HFTensor) Numel() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 returns the tensor's values in row-major order of t.Shape:
// dequantised and, for Llama q/k projections, un-permuted. The slice is new.
func (m *HFModel) Float32(t HFTensor) ([]float32, error) {
	v, err := m.file.Dequantize(t.GGUFName)
	if err != nil {
		return nil, err
	}
	if t.Heads == 0 {
		return v, nil
	}
	rowLen := int(t.Shape[len(t.Shape)-1])
	if len(t.Shape) == 1 {
		rowLen = 1
	}
	out := make([]float32, len(v))
	unpermuteRows(out, v, t.Heads, rowLen)
	return out, nil
}

// hfArch holds what differs between the supported architectures.
type hfArch struct {
	class, modelType string
	permuteQK        bool     // llama.cpp permutes q/k rows for this architecture
	biases           []string // per-layer tensors that always have a bias
}

var hfArchs = map[string]hfArch{
	"llama": {"LlamaForCausalLM", "llama", true, nil},
	"qwen2": {"Qwen2ForCausalLM", "qwen2", false, []string{"attn_q", "attn_k", "attn_v"}},
}

// llamaBiases are the biases of a Llama with attention_bias = true.
var llamaBiases = []string{"attn_q", "attn_k", "attn_v", "attn_output"}

// layerTensorNames maps a GGUF per-layer tensor (blk.N.<name>.<kind>) to the
// Hugging Face module under model.layers.N.
var layerTensorNames = map[string]string{
	"attn_norm":   "input_layernorm",
	"ffn_norm":    "post_attention_layernorm",
	"attn_q":      "self_attn.q_proj",
	"attn_k":      "self_attn.k_proj",
	"attn_v":      "self_attn.v_proj",
	"attn_output": "self_attn.o_proj",
	"ffn_gate":    "mlp.gate_proj",
	"ffn_up":      "mlp.up_proj",
	"ffn_down":    "mlp.down_proj",
}

// requiredLayerTensors must be present in every block.
var requiredLayerTensors = []string{"attn_norm", "ffn_norm", "attn_q", "attn_k", "attn_v",
	"attn_output", "ffn_gate", "ffn_up", "ffn_down"}

var blkName = regexp.MustCompile(`^blk\.(0|[1-9][0-9]*)\.([a-z_]+)\.(weight|bias)$`)

// hfParams are the model hyperparameters read from the GGUF metadata.
type hfParams struct {
	layers, hidden, ffn, heads, kvHeads, ctx int64
	headDim                                  int64
	headDimKnown                             bool // from attention.key_length or rope.dimension_count
	eps, ropeTheta                           float64
	ropeScaling                              map[string]any
}

// ToHF maps f to a Hugging Face checkpoint. It reads metadata only; weights
// are decoded on demand by [HFModel.Float32]. The HFModel uses f, which must
// stay open while it is in use. Errors name the offending key or tensor.
func ToHF(f *File) (*HFModel, error) {
	arch, ok := f.Str("general.architecture")
	if !ok {
		return nil, fmt.Errorf("gguf: no general.architecture string")
	}
	spec, ok := hfArchs[arch]
	if !ok {
		return nil, fmt.Errorf("gguf: architecture %q is not supported (supported: llama, qwen2)", arch)
	}
	p, err := readParams(f, arch)
	if err != nil {
		return nil, err
	}
	m := &HFModel{Arch: arch, file: f}
	if m.Tensors, err = mapTensors(f, arch, spec, p); err != nil {
		return nil, err
	}
	emb, _ := f.Tensor("token_embd.weight")
	vocab := emb.Dims[1]
	_, hasOutput := f.Tensor("output.weight")
	_, hasQBias := f.Tensor("blk.0.attn_q.bias")

	tok, err := buildTokenizer(f, p.ctx)
	if err != nil {
		return nil, err
	}
	m.Tokenizer, m.TokenizerConfig = tok.json, tok.config

	cfg := map[string]any{
		"architectures":           []string{spec.class},
		"model_type":              spec.modelType,
		"attention_dropout":       pyFloat(0),
		"hidden_act":              "silu",
		"hidden_size":             p.hidden,
		"initializer_range":       pyFloat(0.02),
		"intermediate_size":       p.ffn,
		"max_position_embeddings": p.ctx,
		"num_attention_heads":     p.heads,
		"num_hidden_layers":       p.layers,
		"num_key_value_heads":     p.kvHeads,
		"rms_norm_eps":            pyFloat(p.eps),
		"rope_scaling":            p.ropeScaling,
		"rope_theta":              pyFloat(p.ropeTheta),
		"tie_word_embeddings":     !hasOutput,
		"torch_dtype":             "float32",
		"use_cache":               true,
		"vocab_size":              vocab,
	}
	switch arch {
	case "llama":
		cfg["attention_bias"] = hasQBias
		cfg["mlp_bias"] = false
		cfg["pretraining_tp"] = 1
		if p.headDimKnown {
			cfg["head_dim"] = p.headDim
		}
	case "qwen2":
		cfg["use_sliding_window"] = false
		cfg["sliding_window"] = p.ctx
		cfg["max_window_layers"] = p.layers
	}
	gen := map[string]any{"_from_model_config": true}
	for _, k := range []string{"bos", "eos", "pad"} {
		if id, ok := tok.ids[k]; ok {
			cfg[k+"_token_id"] = id
			gen[k+"_token_id"] = id
		}
	}
	if m.Config, err = marshalIndent(cfg); err != nil {
		return nil, err
	}
	if m.GenerationConfig, err = marshalIndent(gen); err != nil {
		return nil, err
	}
	return m, nil
}

// readParams reads and checks the hyperparameters of a llama/qwen2 model.
func readParams(f *File, arch string) (hfParams, error) {
	var p hfParams
	var err error
	req := func(dst *int64, key string) {
		if err == nil {
			*dst, err = metaInt(f, arch+"."+key, true, 0)
		}
	}
	req(&p.layers, "block_count")
	req(&p.hidden, "embedding_length")
	req(&p.ffn, "feed_forward_length")
	req(&p.heads, "attention.head_count")
	req(&p.ctx, "context_length")
	if err != nil {
		return p, err
	}
	if p.kvHeads, err = metaInt(f, arch+".attention.head_count_kv", false, p.heads); err != nil {
		return p, err
	}
	for _, c := range []struct {
		v    int64
		what string
	}{{p.layers, "block_count"}, {p.hidden, "embedding_length"}, {p.ffn, "feed_forward_length"},
		{p.heads, "attention.head_count"}, {p.kvHeads, "attention.head_count_kv"}, {p.ctx, "context_length"}} {
		if c.v <= 0 || c.v > 1<<31 {
			return p, fmt.Errorf("gguf: %s.%s = %d is out of range", arch, c.what, c.v)
		}
	}
	if p.heads%p.kvHeads != 0 {
		return p, fmt.Errorf("gguf: %s.attention.head_count %d is not a multiple of head_count_kv %d", arch, p.heads, p.kvHeads)
	}
	if p.eps, err = metaFloat(f, arch+".attention.layer_norm_rms_epsilon", true, 0); err != nil {
		return p, err
	}
	if p.ropeTheta, err = metaFloat(f, arch+".rope.freq_base", false, 10000); err != nil {
		return p, err
	}
	p.headDim = p.hidden / p.heads
	keyLen, err := metaInt(f, arch+".attention.key_length", false, 0)
	if err != nil {
		return p, err
	}
	ropeDims, err := metaInt(f, arch+".rope.dimension_count", false, 0)
	if err != nil {
		return p, err
	}
	if keyLen > 0 {
		p.headDim, p.headDimKnown = keyLen, true
	}
	if valLen, err := metaInt(f, arch+".attention.value_length", false, p.headDim); err != nil {
		return p, err
	} else if valLen != p.headDim {
		return p, fmt.Errorf("gguf: %s.attention.value_length %d differs from key_length %d: not supported", arch, valLen, p.headDim)
	}
	if ropeDims > 0 {
		if ropeDims != p.headDim {
			return p, fmt.Errorf("gguf: %s.rope.dimension_count %d differs from the head size %d (partial rotary): not supported", arch, ropeDims, p.headDim)
		}
		p.headDimKnown = true
	}
	if arch == "qwen2" && p.headDim*p.heads != p.hidden {
		return p, fmt.Errorf("gguf: qwen2 head size %d * %d heads != embedding_length %d: not supported", p.headDim, p.heads, p.hidden)
	}
	if p.headDim <= 0 || p.headDim%2 != 0 {
		return p, fmt.Errorf("gguf: head size %d must be positive and even", p.headDim)
	}
	p.ropeScaling, err = ropeScaling(f, arch)
	return p, err
}

// ropeScaling maps {arch}.rope.scaling.* to a Hugging Face rope_scaling
// object (nil when there is none).
func ropeScaling(f *File, arch string) (map[string]any, error) {
	key := arch + ".rope.scaling.type"
	typ, ok := f.Str(key)
	if _, present := f.Lookup(key); present && !ok {
		return nil, fmt.Errorf("gguf: %s is not a string", key)
	}
	if !ok || typ == "none" {
		return nil, nil
	}
	if typ != "linear" && typ != "yarn" {
		return nil, fmt.Errorf("gguf: %s %q is not supported (linear, yarn, none)", key, typ)
	}
	factor, err := metaFloat(f, arch+".rope.scaling.factor", true, 0)
	if err != nil {
		return nil, err
	}
	if typ == "linear" {
		return map[string]any{"rope_type": "linear", "factor": pyFloat(factor)}, nil
	}
	orig, err := metaInt(f, arch+".rope.scaling.original_context_length", true, 0)
	if err != nil {
		return nil, err
	}
	return map[string]any{"rope_type": "yarn", "factor": pyFloat(factor), "original_max_position_embeddings": orig}, nil
}

// mapTensors names every GGUF tensor in Hugging Face terms and checks shapes
// and completeness.
func mapTensors(f *File, arch string, spec hfArch, p hfParams) ([]HFTensor, error) {
	hd := p.headDim
	want := map[string][]int64{ // GGUF dims (innermost first) by role
		"attn_norm":   {p.hidden},
		"ffn_norm":    {p.hidden},
		"attn_q":      {p.hidden, p.heads * hd},
		"attn_k":      {p.hidden, p.kvHeads * hd},
		"attn_v":      {p.hidden, p.kvHeads * hd},
		"attn_output": {p.heads * hd, p.hidden},
		"ffn_gate":    {p.hidden, p.ffn},
		"ffn_up":      {p.hidden, p.ffn},
		"ffn_down":    {p.ffn, p.hidden},
	}
	seen := make(map[string]bool)
	var out []HFTensor
	for _, t := range f.Tensors {
		if !CanDequantize(t.Type) {
			return nil, &UnsupportedTypeError{Tensor: t.Name, Type: t.Type}
		}
		hf := HFTensor{GGUFName: t.Name, Shape: t.Shape()}
		var wantDims []int64
		switch t.Name {
		case "token_embd.weight":
			hf.Name = "model.embed_tokens.weight"
			if len(t.Dims) != 2 || t.Dims[0] != p.hidden {
				return nil, shapeErr(t, fmt.Sprintf("[%d, vocab]", p.hidden))
			}
		case "output.weight":
			hf.Name = "lm_head.weight"
			if e, ok := f.Tensor("token_embd.weight"); ok {
				wantDims = e.Dims
			}
		case "output_norm.weight":
			hf.Name, wantDims = "model.norm.weight", []int64{p.hidden}
		case "rope_freqs.weight":
			return nil, fmt.Errorf("gguf: tensor %q (Llama 3.1-style rope scaling factors) is not supported", t.Name)
		default:
			sub := blkName.FindStringSubmatch(t.Name)
			if sub == nil || layerTensorNames[sub[2]] == "" {
				return nil, fmt.Errorf("gguf: tensor %q has no Hugging Face name for architecture %q", t.Name, arch)
			}
			layer, err := strconv.ParseInt(sub[1], 10, 64)
			if err != nil || layer >= p.layers {
				return nil, fmt.Errorf("gguf: tensor %q: layer index beyond %s.block_count = %d", t.Name, arch, p.layers)
			}
			role, kind := sub[2], sub[3]
			hf.Name = fmt.Sprintf("model.layers.%d.%s.%s", layer, layerTensorNames[role], kind)
			wantDims = want[role]
			if kind == "bias" {
				if !slices.Contains(spec.biases, role) && !(arch == "llama" && slices.Contains(llamaBiases, role)) {
					return nil, fmt.Errorf("gguf: tensor %q: a bias on %s is not supported for %s", t.Name, role, arch)
				}
				wantDims = wantDims[1:]
			}
			if spec.permuteQK {
				switch role {
				case "attn_q":
					hf.Heads = int(p.heads)
				case "attn_k":
					hf.Heads = int(p.kvHeads)
				}
			}
		}
		if wantDims != nil && !slices.Equal(t.Dims, wantDims) {
			return nil, shapeErr(t, fmt.Sprint(wantDims))
		}
		seen[t.Name] = true
		out = append(out, hf)
	}
	missing := []string{}
	for _, n := range []string{"token_embd.weight", "output_norm.weight"} {
		if !seen[n] {
			missing = append(missing, n)
		}
	}
	// Biases: those the architecture always has; for llama, all four
	// attention biases (attention_bias = true) or none.
	biases := spec.biases
	if _, ok := f.Tensor("blk.0.attn_q.bias"); ok && arch == "llama" {
		biases = llamaBiases
	}
	for l := int64(0); l < p.layers; l++ {
		for _, r := range requiredLayerTensors {
			if n := fmt.Sprintf("blk.%d.%s.weight", l, r); !seen[n] {
				missing = append(missing, n)
			}
		}
		for _, r := range biases {
			if n := fmt.Sprintf("blk.%d.%s.bias", l, r); !seen[n] {
				missing = append(missing, n)
			}
		}
	}
	for n := range seen {
		if sub := blkName.FindStringSubmatch(n); sub != nil && sub[3] == "bias" && !slices.Contains(biases, sub[2]) {
			return nil, fmt.Errorf("gguf: tensor %q: %s has biases only on %v", n, arch, biases)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 5 {
			missing = append(missing[:5], fmt.Sprintf("and %d more", len(missing)-5))
		}
		return nil, fmt.Errorf("gguf: missing tensors: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func shapeErr(t TensorInfo, want string) error {
	return fmt.Errorf("gguf: tensor %q has dims %v (ggml order), want %s", t.Name, t.Dims, want)
}

// metaInt reads an integer metadata value. An absent key yields def, or an
// error when required.
func metaInt(f *File, key string, required bool, def int64) (int64, error) {
	kv, ok := f.Lookup(key)
	if !ok {
		if required {
			return 0, fmt.Errorf("gguf: missing metadata key %s", key)
		}
		return def, nil
	}
	if _, isArr := kv.Value.(Array); isArr {
		return 0, fmt.Errorf("gguf: %s is an array (per-layer values are not supported)", key)
	}
	u, ok := asUint(kv.Value)
	if !ok || u > math.MaxInt64 {
		return 0, fmt.Errorf("gguf: %s has type %s value %v, want a non-negative integer", key, kv.Type, kv.Value)
	}
	return int64(u), nil
}

// metaFloat reads a float metadata value. A float32 is turned into the
// shortest decimal that rounds back to it (1e-05, not 9.999999747378752e-06),
// which is what the Hugging Face config held before llama.cpp stored it.
func metaFloat(f *File, key string, required bool, def float64) (float64, error) {
	kv, ok := f.Lookup(key)
	if !ok {
		if required {
			return 0, fmt.Errorf("gguf: missing metadata key %s", key)
		}
		return def, nil
	}
	var v float64
	switch x := kv.Value.(type) {
	case float32:
		v, _ = strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
	case float64:
		v = x
	default:
		return 0, fmt.Errorf("gguf: %s has type %s, want a float", key, kv.Type)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("gguf: %s = %v is out of range", key, v)
	}
	return v, nil
}

// pyFloat is a float64 that marshals the way Python's json does: always with
// a decimal point or an exponent (100000.0, 1000000.0, 1e-05).
type pyFloat float64

func (x pyFloat) MarshalJSON() ([]byte, error) {
	f := float64(x)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("gguf: cannot encode %v in JSON", f)
	}
	// Python's repr: positional for 1e-4 <= |f| < 1e16, else exponent with
	// at least two digits (1e-05), which strconv's 'e' also writes.
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return []byte(strconv.FormatFloat(f, 'e', -1, 64)), nil
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return []byte(s), nil
}

// marshal encodes v as compact JSON without HTML escaping (chat templates
// keep their < and >).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// marshalIndent encodes v with two-space indentation and a final newline,
// like transformers' save_pretrained (map keys sorted).
func marshalIndent(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("gguf: encoding JSON: %w", err)
	}
	return b.Bytes(), nil
}

// ordered is a JSON object that keeps its keys in the given order.
type ordered []member

type member struct {
	k string
	v any
}

func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(m.k)
		if err != nil {
			return nil, err
		}
		v, err := marshal(m.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
