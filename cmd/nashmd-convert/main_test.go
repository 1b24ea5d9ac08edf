package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	tiny      = "../../hf/gguf/testdata/tiny_qwen2.gguf"
	synthetic = "../../hf/gguf/testdata/synthetic.gguf"
)

func TestRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "model")
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string // substrings of stderr
	}{
		{"usage", nil, 2, []string{"usage: nashmd-convert"}},
		{"convert", []string{"--progress-every", "10", tiny, out}, 0, []string{"10/27 tensors", "27/27 tensors", "wrote " + out}},
		{"refuse non-empty", []string{tiny, out}, 1, []string{"not empty", "--force"}},
		{"force", []string{"--force", tiny, out}, 0, []string{"wrote"}},
		{"unsupported", []string{synthetic, filepath.Join(t.TempDir(), "x")}, 1, []string{`architecture "synthetic" is not supported`}},
		{"missing input", []string{"nope.gguf", filepath.Join(t.TempDir(), "y")}, 1, []string{"nope.gguf"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(c.args, &stderr); code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, stderr.String())
			}
			for _, w := range c.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
	for _, f := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}
