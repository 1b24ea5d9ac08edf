// Package tiny writes the tiny example of examples/tiny.toml: a random
// 2-layer Llama policy and a random reward model sharing SmolLM2's tokenizer
// and chat template, and 64 conversational prompts, all from a fixed seed.
package tiny

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nashmd/nashmd/hf/config"
	"github.com/nashmd/nashmd/torch"
)

// Inputs, relative to the repository root.
const (
	tokenizerJSON = "hf/tokenizer/testdata/smollm2/tokenizer.json"
	templateJSON  = "hf/chat/testdata/smollm2.json"
)

// root is the repository root (this file is internal/tiny/tiny.go).
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Shape is a decoder's architecture and size. Policy and reward model share
// it; the reward model is the ForSequenceClassification variant, untied.
type Shape struct {
	ModelType        string // "llama" or "qwen2"
	Hidden           int
	Intermediate     int
	Layers           int
	Heads, KVHeads   int
	TieWordEmbedding bool // the policy's; the reward model is never tied
}

// Example is the tiny example's shape: a 2-layer Llama, hidden 64.
var Example = Shape{ModelType: "llama", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHeads: 2, TieWordEmbedding: true}

// Write creates dir/policy, dir/reward and dir/prompts.jsonl with the
// Example shape.
func Write(dir string) error { return WriteShape(dir, Example) }

// WriteShape is Write with another shape (the vocabulary stays SmolLM2's,
// 49,152 tokens, so the tokenizer and chat template ship with the repo).
func WriteShape(dir string, sh Shape) error {
	var tmpl struct {
		Template struct {
			Source string `json:"source"`
		} `json:"template"`
	}
	b, err := os.ReadFile(filepath.Join(root(), templateJSON))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		return err
	}
	tokCfg := map[string]any{
		"chat_template": tmpl.Template.Source, "bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
		"pad_token": "<|im_end|>", "unk_token": "<|endoftext|>", "model_max_length": 2048,
		"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": false,
	}
	base := map[string]any{
		"model_type": sh.ModelType, "vocab_size": 49152, "hidden_size": sh.Hidden, "intermediate_size": sh.Intermediate,
		"num_hidden_layers": sh.Layers, "num_attention_heads": sh.Heads, "num_key_value_heads": sh.KVHeads,
		"max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
		"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2, "torch_dtype": "float32",
	}
	arch := map[string][2]string{
		"llama": {"LlamaForCausalLM", "LlamaForSequenceClassification"},
		"qwen2": {"Qwen2ForCausalLM", "Qwen2ForSequenceClassification"},
	}[sh.ModelType]
	if arch[0] == "" {
		return fmt.Errorf("tiny: model type %q: want llama or qwen2", sh.ModelType)
	}
	for i, m := range []struct {
		name string
		arch string
		seed uint64
		tied bool
	}{{"policy", arch[0], 1, sh.TieWordEmbedding}, {"reward", arch[1], 2, false}} {
		cfg := map[string]any{}
		for k, v := range base {
			cfg[k] = v
		}
		cfg["architectures"] = []string{m.arch}
		cfg["tie_word_embeddings"] = m.tied
		if i == 1 {
			cfg["num_labels"] = 1
			cfg["id2label"] = map[string]string{"0": "LABEL_0"}
		}
		if err := writeModel(filepath.Join(dir, m.name), cfg, tokCfg, m.seed); err != nil {
			return err
		}
	}
	return writePrompts(filepath.Join(dir, "prompts.jsonl"))
}

func writeModel(dir string, cfg, tokCfg map[string]any, seed uint64) error {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	c, err := config.Parse(raw)
	if err != nil {
		return err
	}
	m, err := torch.NewLlama(c, torch.Float32, torch.CPU)
	if err != nil {
		return err
	}
	defer m.Close()
	g, err := torch.NewGenerator(seed, torch.CPU)
	if err != nil {
		return err
	}
	defer g.Close()
	for _, p := range m.Params() {
		s := torch.NewScope()
		if len(p.Tensor.Shape()) == 1 { // norms start at one, as transformers initialises them
			s.Copy(p.Tensor, s.Ones(p.Tensor.Shape(), torch.Float32, torch.CPU))
		} else {
			s.Copy(p.Tensor, s.MulScalar(s.Randn(g, p.Tensor.Shape(), torch.Float32, torch.CPU), 0.02))
		}
		err := s.Err()
		s.Close()
		if err != nil {
			return err
		}
	}
	src, err := os.MkdirTemp("", "mktiny-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	tb, err := os.ReadFile(filepath.Join(root(), tokenizerJSON))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "tokenizer.json"), tb, 0o644); err != nil {
		return err
	}
	cb, _ := json.MarshalIndent(tokCfg, "", "  ")
	if err := os.WriteFile(filepath.Join(src, "tokenizer_config.json"), cb, 0o644); err != nil {
		return err
	}
	return m.Save(dir, torch.SaveOptions{CopyFrom: src})
}

// writePrompts writes 64 conversational prompts, one JSON object per line.
func writePrompts(path string) error {
	subjects := []string{"the sea", "a small town", "autumn", "bread", "a lighthouse", "rain", "chess", "a violin",
		"the moon", "a garden", "winter", "a library", "coffee", "a river", "a mountain", "the wind"}
	asks := []string{"Write one sentence about %s.", "Describe %s briefly.", "What do you like about %s?", "Give a short fact about %s."}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, a := range asks {
		for _, s := range subjects {
			row := map[string]any{"prompt": []map[string]string{{"role": "user", "content": fmt.Sprintf(a, s)}}}
			if err := enc.Encode(row); err != nil {
				f.Close()
				return err
			}
		}
	}
	return f.Close()
}
