package config

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestAgainstTransformers: defaults resolved as transformers' config classes
// resolve them (testdata/cases.json from testdata/gen_golden.py).
func TestAgainstTransformers(t *testing.T) {
	b, err := os.ReadFile("testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			Config json.RawMessage
			Want   struct {
				NumKeyValueHeads      int64    `json:"num_key_value_heads"`
				HeadDim               int64    `json:"head_dim"`
				RMSNormEps            float64  `json:"rms_norm_eps"`
				RopeTheta             float64  `json:"rope_theta"`
				MaxPositionEmbeddings int64    `json:"max_position_embeddings"`
				TieWordEmbeddings     bool     `json:"tie_word_embeddings"`
				AttentionBias         bool     `json:"attention_bias"`
				BOS                   []int64  `json:"bos"`
				EOS                   []int64  `json:"eos"`
				Pad                   *int64   `json:"pad"`
				NumLabels             int64    `json:"num_labels"`
				RopeFactor            *float64 `json:"rope_factor"`
			}
		}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) < 5 {
		t.Fatalf("%d cases", len(f.Cases))
	}
	for i, c := range f.Cases {
		got, err := Parse(c.Config)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		w := c.Want
		if got.NumKeyValueHeads != w.NumKeyValueHeads || got.HeadDim != w.HeadDim || got.RMSNormEps != w.RMSNormEps ||
			got.RopeTheta != w.RopeTheta || got.MaxPositionEmbeddings != w.MaxPositionEmbeddings ||
			got.TieWordEmbeddings != w.TieWordEmbeddings || got.AttentionBias != w.AttentionBias ||
			!slices.Equal(got.BOSTokenIDs, w.BOS) || !slices.Equal(got.EOSTokenIDs, w.EOS) || got.NumLabels != w.NumLabels {
			t.Errorf("case %d (%s): got %+v\nwant %+v", i, got.ModelType, *got, w)
		}
		if (got.PadTokenID == nil) != (w.Pad == nil) || (w.Pad != nil && *got.PadTokenID != *w.Pad) {
			t.Errorf("case %d: pad %v, want %v", i, got.PadTokenID, w.Pad)
		}
		if (got.RopeScaling == nil) != (w.RopeFactor == nil) || (w.RopeFactor != nil && got.RopeScaling.Factor != *w.RopeFactor) {
			t.Errorf("case %d: rope scaling %+v, want factor %v", i, got.RopeScaling, w.RopeFactor)
		}
	}
}

func TestErrors(t *testing.T) {
	base := `"vocab_size": 10, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2`
	for _, c := range []struct{ doc, want string }{
		{`{"model_type": "gpt2", ` + base + `}`, `model_type "gpt2" is not supported`},
		{`{"model_type": "llama", "vocab_size": 10}`, `missing "hidden_size"`},
		{`{"model_type": "llama", ` + base + `, "num_key_value_heads": 3}`, "must divide"},
		{`{"model_type": "llama", ` + base + `, "rope_scaling": {"rope_type": "yarn", "factor": 4}}`, `rope_scaling type "yarn" is unsupported`},
		{`{"model_type": "llama", ` + base + `, "eos_token_id": "x"}`, `"eos_token_id" must be an int or a list of ints`},
		{`{"model_type": "llama", ` + base + `, "hidden_size": -1}`, "must be positive"},
		{`{"model_type": `, "invalid JSON"},
	} {
		_, err := Parse([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%s) = %v, want error containing %q", c.doc, err, c.want)
		}
	}
	if _, err := Load("testdata/nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Load of a missing path: %v", err)
	}
}
