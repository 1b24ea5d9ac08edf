// Package config reads a Hugging Face model's config.json for the
// architectures nashmd runs (the Llama family: Llama, SmolLM2, Qwen2, Mistral).
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Llama is a resolved Llama-family config: every default filled in as
// transformers' LlamaConfig / Qwen2Config / MistralConfig would.
type Llama struct {
	Architecture          string // e.g. "Qwen2ForCausalLM"
	ModelType             string // "llama", "qwen2", "mistral"
	VocabSize             int64
	HiddenSize            int64
	IntermediateSize      int64
	NumHiddenLayers       int64
	NumAttentionHeads     int64
	NumKeyValueHeads      int64
	HeadDim               int64 // hidden_size / num_attention_heads unless given
	MaxPositionEmbeddings int64
	RMSNormEps            float64
	RopeTheta             float64
	RopeScaling           *RopeScaling // nil: none
	AttentionBias         bool         // q/k/v biases (always for Qwen2)
	TieWordEmbeddings     bool
	TorchDType            string // "float32", "bfloat16", "float16" or ""
	BOSTokenIDs           []int64
	EOSTokenIDs           []int64
	PadTokenID            *int64
	NumLabels             int64 // > 0 for ...ForSequenceClassification
	// Raw is the file as read, for writing it back with changes.
	Raw map[string]any
}

// RopeScaling is rope_scaling of type "llama3" (the only one supported).
type RopeScaling struct {
	Type                          string
	Factor                        float64
	LowFreqFactor                 float64
	HighFreqFactor                float64
	OriginalMaxPositionEmbeddings int64
}

// IsClassifier reports whether the model is a sequence classifier (reward model).
func (c *Llama) IsClassifier() bool { return c.NumLabels > 0 }

// Load reads config.json from dir (or the file itself when path names one).
func Load(path string) (*Llama, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

// raw is config.json as transformers writes it; pointers tell absent from zero.
type raw struct {
	Architectures         []string        `json:"architectures"`
	ModelType             string          `json:"model_type"`
	VocabSize             *int64          `json:"vocab_size"`
	HiddenSize            *int64          `json:"hidden_size"`
	IntermediateSize      *int64          `json:"intermediate_size"`
	NumHiddenLayers       *int64          `json:"num_hidden_layers"`
	NumAttentionHeads     *int64          `json:"num_attention_heads"`
	NumKeyValueHeads      *int64          `json:"num_key_value_heads"`
	HeadDim               *int64          `json:"head_dim"`
	MaxPositionEmbeddings *int64          `json:"max_position_embeddings"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           map[string]any  `json:"rope_scaling"`
	AttentionBias         *bool           `json:"attention_bias"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	TorchDType            string          `json:"torch_dtype"`
	BOSTokenID            json.RawMessage `json:"bos_token_id"`
	EOSTokenID            json.RawMessage `json:"eos_token_id"`
	PadTokenID            json.RawMessage `json:"pad_token_id"`
	NumLabels             *int64          `json:"num_labels"`
	ID2Label              map[string]any  `json:"id2label"`
}

// Parse resolves a config.json document.
func Parse(data []byte) (*Llama, error) {
	var r raw
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	c := &Llama{ModelType: r.ModelType, TorchDType: r.TorchDType}
	if err := json.Unmarshal(data, &c.Raw); err != nil {
		return nil, err
	}
	if len(r.Architectures) > 0 {
		c.Architecture = r.Architectures[0]
	}
	switch r.ModelType {
	case "llama", "qwen2", "mistral":
	default:
		return nil, fmt.Errorf("model_type %q is not supported (want llama, qwen2 or mistral)", r.ModelType)
	}
	req := func(key string, p *int64) (int64, error) {
		if p == nil {
			return 0, fmt.Errorf("missing %q", key)
		}
		if *p <= 0 {
			return 0, fmt.Errorf("%q must be positive, got %d", key, *p)
		}
		return *p, nil
	}
	var err error
	for _, f := range []struct {
		key string
		p   *int64
		dst *int64
	}{
		{"vocab_size", r.VocabSize, &c.VocabSize},
		{"hidden_size", r.HiddenSize, &c.HiddenSize},
		{"intermediate_size", r.IntermediateSize, &c.IntermediateSize},
		{"num_hidden_layers", r.NumHiddenLayers, &c.NumHiddenLayers},
		{"num_attention_heads", r.NumAttentionHeads, &c.NumAttentionHeads},
	} {
		if *f.dst, err = req(f.key, f.p); err != nil {
			return nil, err
		}
	}
	c.NumKeyValueHeads = c.NumAttentionHeads
	if r.NumKeyValueHeads != nil {
		c.NumKeyValueHeads = *r.NumKeyValueHeads
	}
	if c.NumKeyValueHeads <= 0 || c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return nil, fmt.Errorf("num_key_value_heads %d must divide num_attention_heads %d", c.NumKeyValueHeads, c.NumAttentionHeads)
	}
	c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	if r.HeadDim != nil && *r.HeadDim > 0 {
		c.HeadDim = *r.HeadDim
	}
	// Per-class defaults, as transformers 4.46's config classes.
	c.MaxPositionEmbeddings = map[string]int64{"llama": 2048, "qwen2": 32768, "mistral": 4096 * 32}[r.ModelType]
	if r.MaxPositionEmbeddings != nil {
		c.MaxPositionEmbeddings = *r.MaxPositionEmbeddings
	}
	c.RMSNormEps = 1e-6
	if r.RMSNormEps != nil {
		c.RMSNormEps = *r.RMSNormEps
	}
	c.RopeTheta = 10000
	if r.RopeTheta != nil {
		c.RopeTheta = *r.RopeTheta
	}
	if c.RopeScaling, err = ropeScaling(r.RopeScaling); err != nil {
		return nil, err
	}
	c.AttentionBias = r.ModelType == "qwen2" // Qwen2 always has q/k/v biases
	if r.AttentionBias != nil && r.ModelType != "qwen2" {
		c.AttentionBias = *r.AttentionBias
	}
	// LlamaConfig, Qwen2Config and MistralConfig all default to untied.
	if r.TieWordEmbeddings != nil {
		c.TieWordEmbeddings = *r.TieWordEmbeddings
	}
	if c.BOSTokenIDs, err = ids("bos_token_id", r.BOSTokenID); err != nil {
		return nil, err
	}
	if c.EOSTokenIDs, err = ids("eos_token_id", r.EOSTokenID); err != nil {
		return nil, err
	}
	// LlamaConfig and MistralConfig default to bos 1, eos 2 when the keys are
	// absent (not when they are null); Qwen2Config has no default.
	if r.ModelType != "qwen2" {
		if r.BOSTokenID == nil {
			c.BOSTokenIDs = []int64{1}
		}
		if r.EOSTokenID == nil {
			c.EOSTokenIDs = []int64{2}
		}
	}
	pad, err := ids("pad_token_id", r.PadTokenID)
	if err != nil {
		return nil, err
	}
	if len(pad) > 0 {
		c.PadTokenID = &pad[0]
	}
	if strings.HasSuffix(c.Architecture, "ForSequenceClassification") {
		c.NumLabels = 2 // transformers' default
		if len(r.ID2Label) > 0 {
			c.NumLabels = int64(len(r.ID2Label))
		}
		if r.NumLabels != nil {
			c.NumLabels = *r.NumLabels
		}
	}
	return c, nil
}

func ropeScaling(m map[string]any) (*RopeScaling, error) {
	if m == nil {
		return nil, nil
	}
	typ, _ := m["rope_type"].(string)
	if typ == "" {
		typ, _ = m["type"].(string)
	}
	if typ == "default" {
		return nil, nil
	}
	if typ != "llama3" {
		return nil, fmt.Errorf("rope_scaling type %q is unsupported (supported: null, \"default\", \"llama3\")", typ)
	}
	num := func(k string) (float64, error) {
		v, ok := m[k].(float64)
		if !ok {
			return 0, fmt.Errorf("rope_scaling: missing number %q", k)
		}
		return v, nil
	}
	rs := &RopeScaling{Type: typ}
	var err error
	if rs.Factor, err = num("factor"); err != nil {
		return nil, err
	}
	if rs.LowFreqFactor, err = num("low_freq_factor"); err != nil {
		return nil, err
	}
	if rs.HighFreqFactor, err = num("high_freq_factor"); err != nil {
		return nil, err
	}
	o, err := num("original_max_position_embeddings")
	if err != nil {
		return nil, err
	}
	rs.OriginalMaxPositionEmbeddings = int64(o)
	return rs, nil
}

// ids decodes a token id field that may be null, an int or a list of ints.
func ids(key string, m json.RawMessage) ([]int64, error) {
	m = bytes.TrimSpace(m)
	if len(m) == 0 || string(m) == "null" {
		return nil, nil
	}
	var one int64
	if err := json.Unmarshal(m, &one); err == nil {
		return []int64{one}, nil
	}
	var list []int64
	if err := json.Unmarshal(m, &list); err != nil {
		return nil, fmt.Errorf("%q must be an int or a list of ints, got %s", key, m)
	}
	return list, nil
}
