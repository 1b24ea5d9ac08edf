package torch

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nashmd/nashmd/hf/safetensors"
)

// SaveOptions controls Model.Save.
type SaveOptions struct {
	// MaxShardBytes splits the weights into model-0000i-of-0000n.safetensors
	// plus model.safetensors.index.json above this size (0: 5 GB, as
	// transformers' save_pretrained).
	MaxShardBytes int64
	// CopyFrom names a directory whose tokenizer and generation files
	// (tokenizer.json, tokenizer_config.json, special_tokens_map.json,
	// vocab.json, merges.txt, generation_config.json, chat_template.jinja)
	// are copied through when present.
	CopyFrom string
}

var passThrough = []string{
	"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
	"merges.txt", "generation_config.json", "chat_template.jinja", "added_tokens.json",
}

// Save writes a directory that transformers' AutoModelForCausalLM (or
// AutoModelForSequenceClassification) loads: config.json, the weights in
// the model's dtype, generation_config.json and the tokenizer files from
// o.CopyFrom. It writes into a temporary sibling directory and renames it
// into place, so dir never holds a half-written checkpoint; an existing dir
// is replaced.
func (m *Model) Save(dir string, o SaveOptions) (err error) {
	if o.MaxShardBytes <= 0 {
		o.MaxShardBytes = 5_000_000_000
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	dtName, err := m.writeWeights(tmp, o.MaxShardBytes)
	if err != nil {
		return err
	}
	cfg := map[string]any{}
	for k, v := range m.Config.Raw {
		cfg[k] = v
	}
	cfg["torch_dtype"] = dtName
	if err := writeJSON(filepath.Join(tmp, "config.json"), cfg); err != nil {
		return err
	}
	if o.CopyFrom != "" {
		for _, name := range passThrough {
			b, err := os.ReadFile(filepath.Join(o.CopyFrom, name))
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
				return err
			}
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "generation_config.json")); os.IsNotExist(err) && !m.Config.IsClassifier() {
		gc := map[string]any{"_from_model_config": true}
		for _, k := range []string{"bos_token_id", "eos_token_id", "pad_token_id"} {
			if v, ok := m.Config.Raw[k]; ok && v != nil {
				gc[k] = v
			}
		}
		if err := writeJSON(filepath.Join(tmp, "generation_config.json"), gc); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// writeWeights writes the parameters (one file, or shards plus an index)
// and returns the dtype name for config.json. Each parameter is copied to
// host memory only when the writer reaches it, through one reused buffer.
func (m *Model) writeWeights(dir string, maxShard int64) (string, error) {
	var shards [][]safetensors.Source
	var cur []safetensors.Source
	var curBytes, total int64
	var buf HostBuffer
	dtName := ""
	for _, p := range m.params {
		src, err := buf.Source(p.Name, p.Tensor)
		if err != nil {
			return "", err
		}
		dtName = p.Tensor.DType().String()
		n := p.Tensor.Numel() * int64(p.Tensor.DType().Size())
		if len(cur) > 0 && curBytes+n > maxShard {
			shards = append(shards, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, src)
		curBytes += n
		total += n
	}
	shards = append(shards, cur)
	meta := map[string]string{"format": "pt"}
	if len(shards) == 1 {
		return dtName, safetensors.WriteFileStream(filepath.Join(dir, "model.safetensors"), shards[0], meta)
	}
	weightMap := map[string]string{}
	for i, sh := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		if err := safetensors.WriteFileStream(filepath.Join(dir, name), sh, meta); err != nil {
			return "", err
		}
		for _, s := range sh {
			weightMap[s.Name] = name
		}
	}
	index := map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap}
	return dtName, writeJSON(filepath.Join(dir, "model.safetensors.index.json"), index)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
