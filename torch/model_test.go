package torch_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nashmd/nashmd/hf/safetensors"
	"github.com/nashmd/nashmd/torch"
)

// modelGolden loads a tiny model from testdata/models/<name> (written by
// testdata/gen_models.py with transformers) and its golden tensors.
func modelGolden(t *testing.T, s *torch.Scope, name string) (*torch.Model, map[string]*torch.Tensor) {
	t.Helper()
	dir := filepath.Join("testdata", "models", name)
	m, err := torch.LoadLlama(dir, torch.Float32, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f, err := safetensors.Open(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := map[string]*torch.Tensor{}
	for _, n := range f.Names() {
		st, err := f.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		g[n] = s.FromSafetensors(st, torch.CPU)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return m, g
}

// maxAbsDiffMasked is max |a-b| over positions where mask (B, L) is 1; a and
// b are (B, L, …) float tensors.
func maxAbsDiffMasked(t *testing.T, s *torch.Scope, a, b, mask *torch.Tensor) float64 {
	t.Helper()
	d := s.Abs(s.Sub(a, b))
	for d.Dim() > 2 {
		d = s.MaxDim(d, -1, false)
	}
	d = s.Mul(d, s.To(mask, torch.Float32, torch.CPU))
	v, err := s.Max(d).Item()
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	return v
}

func TestModelGoldenLogits(t *testing.T) {
	for _, name := range []string{"qwen2_tiny", "llama_tiny_tied", "llama_rope3_headdim"} {
		t.Run(name, func(t *testing.T) {
			s := torch.NewScope()
			defer s.Close()
			m, g := modelGolden(t, s, name)
			logits := s.Logits(m, g["ids"], g["mask"])
			if d := maxAbsDiffMasked(t, s, logits, g["logits"], g["mask"]); d > 1e-4 || math.IsNaN(d) {
				t.Errorf("logits max abs diff %.3g > 1e-4", d)
			} else {
				t.Logf("logits max abs diff %.3g", d)
			}
			// Without padding, row 0 alone gives the same logits as in the batch.
			row := s.Narrow(g["ids"], 0, 0, 1)
			alone := s.Logits(m, row, nil)
			if d := maxAbsDiffMasked(t, s, alone, s.Narrow(g["logits"], 0, 0, 1), s.Narrow(g["mask"], 0, 0, 1)); d > 1e-4 {
				t.Errorf("unpadded row: max abs diff %.3g", d)
			}
			lp := s.TokenLogprobs(m, g["ids"], g["mask"], g["targets"], 0, 0.7, 5)
			if d := maxAbsDiffMasked(t, s, lp, g["logprobs_t0.7"], g["mask"]); d > 1e-4 || math.IsNaN(d) {
				t.Errorf("log-probs max abs diff %.3g > 1e-4", d)
			} else {
				t.Logf("log-probs (T=0.7) max abs diff %.3g", d)
			}
			// Only the last 4 positions: the same values.
			L := g["ids"].Shape()[1]
			tail := s.TokenLogprobs(m, g["ids"], g["mask"], s.Narrow(g["targets"], 1, L-4, 4), L-4, 0.7, 0)
			if d := maxAbsDiffMasked(t, s, tail, s.Narrow(g["logprobs_t0.7"], 1, L-4, 4), s.Narrow(g["mask"], 1, L-4, 4)); d > 1e-4 {
				t.Errorf("log-probs from start %d: max abs diff %.3g", L-4, d)
			}
		})
	}
}

func TestModelGoldenReward(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	m, g := modelGolden(t, s, "qwen2_reward")
	score := s.Score(m, g["ids"], g["mask"])
	d, err := s.Max(s.Abs(s.Sub(score, g["score"]))).Item()
	if err != nil || d > 1e-4 {
		t.Fatalf("score max abs diff %.3g (%v)", d, err)
	}
	t.Logf("score max abs diff %.3g", d)
	if s.Logits(m, g["ids"], g["mask"]); !errors.Is(s.Err(), torch.ErrArg) {
		t.Fatalf("Logits on a classifier: %v, want ErrArg", s.Err())
	}
}

// TestModelGradients: log-probs are differentiable down to the embeddings.
func TestModelGradients(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	m, g := modelGolden(t, s, "qwen2_tiny")
	for _, p := range m.Params() {
		if err := p.Tensor.SetRequiresGrad(true); err != nil {
			t.Fatal(err)
		}
	}
	lp := s.TokenLogprobs(m, g["ids"], g["mask"], g["targets"], 0, 1, 0)
	loss := s.Neg(s.Sum(s.Mul(lp, s.To(g["mask"], torch.Float32, torch.CPU))))
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if err := loss.Backward(nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		gr := s.Grad(p.Tensor)
		if gr == nil {
			t.Fatalf("%s has no gradient", p.Name)
		}
		n, _ := s.Sum(s.Abs(gr)).Item()
		if !(n > 0) {
			t.Errorf("%s: gradient norm %v", p.Name, n)
		}
	}
}

func TestModelLoadErrors(t *testing.T) {
	src := filepath.Join("testdata", "models", "qwen2_tiny")
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Write a checkpoint with one weight renamed: one missing, one unexpected.
	f, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []safetensors.Tensor
	for _, n := range f.Names() {
		x, _ := f.Tensor(n)
		if n == "model.layers.1.mlp.up_proj.weight" {
			x.Name = "model.layers.1.mlp.upp_proj.weight"
		}
		ts = append(ts, x)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = torch.LoadLlama(dir, torch.Float32, torch.CPU)
	if err == nil || !strings.Contains(err.Error(), "1 missing weights: model.layers.1.mlp.up_proj.weight") ||
		!strings.Contains(err.Error(), "1 unexpected weights: model.layers.1.mlp.upp_proj.weight") {
		t.Fatalf("err = %v, want missing and unexpected weights by name", err)
	}
	// A config whose shapes do not fit the weights.
	bad := strings.Replace(string(cfg), `"intermediate_size": 64`, `"intermediate_size": 65`, 1)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), mustRead(t, filepath.Join(src, "model.safetensors")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = torch.LoadLlama(dir, torch.Float32, torch.CPU)
	if !errors.Is(err, torch.ErrShape) || !strings.Contains(err.Error(), "mlp.") || !strings.Contains(err.Error(), "model expects") {
		t.Fatalf("err = %v, want a shape error naming the parameter", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSaveLoad: a saved model (single file and sharded) loads back with the
// same logits. Set NASHMD_KEEP_SAVED=DIR to keep the single-file save for
// testdata/check_saved.py, which loads it with transformers.
func TestSaveLoad(t *testing.T) {
	for _, name := range []string{"qwen2_tiny", "llama_tiny_tied"} {
		for _, shard := range []int64{0, 20_000} {
			s := torch.NewScope()
			m, g := modelGolden(t, s, name)
			dir := filepath.Join(t.TempDir(), "out")
			if keep := os.Getenv("NASHMD_KEEP_SAVED"); keep != "" && shard == 0 {
				dir = filepath.Join(keep, name)
			}
			if err := m.Save(dir, torch.SaveOptions{MaxShardBytes: shard, CopyFrom: filepath.Join("testdata", "models", name)}); err != nil {
				t.Fatal(err)
			}
			_, indexErr := os.Stat(filepath.Join(dir, "model.safetensors.index.json"))
			if (shard > 0) != (indexErr == nil) {
				t.Fatalf("%s shard=%d: index present = %v", name, shard, indexErr == nil)
			}
			m2, err := torch.LoadLlama(dir, torch.Float32, torch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			d := maxAbsDiffMasked(t, s, s.Logits(m2, g["ids"], g["mask"]), g["logits"], g["mask"])
			if d > 1e-4 {
				t.Errorf("%s shard=%d: reloaded logits differ by %.3g", name, shard, d)
			}
			m2.Close()
			s.Close()
		}
	}
}

// TestModelBFloat16: the same model in bfloat16 (RMSNorm and softmax in
// float32, as transformers) stays close to the float32 golden logits.
func TestModelBFloat16(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	_, g := modelGolden(t, s, "qwen2_tiny")
	m, err := torch.LoadLlama(filepath.Join("testdata", "models", "qwen2_tiny"), torch.BFloat16, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	logits := s.Logits(m, g["ids"], g["mask"])
	if logits.DType() != torch.BFloat16 {
		t.Fatalf("logits are %v", logits.DType())
	}
	scale, _ := s.Max(s.Abs(g["logits"])).Item()
	d := maxAbsDiffMasked(t, s, s.To(logits, torch.Float32, torch.CPU), g["logits"], g["mask"])
	// bfloat16 keeps 8 bits of mantissa: allow 3% of the logit scale.
	if d > 0.03*scale {
		t.Fatalf("bf16 logits max abs diff %.3g (scale %.3g)", d, scale)
	}
	t.Logf("bf16 logits max abs diff %.3g (logit scale %.3g)", d, scale)
	tok, _ := s.Generate(m, g["ids"], g["mask"], torch.GenConfig{MaxNewTokens: 4, Greedy: true}, nil)
	if err := s.Err(); err != nil || tok == nil {
		t.Fatal(err)
	}
}
