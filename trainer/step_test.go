package trainer

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/nashmd/nashmd/hf/safetensors"
	"github.com/nashmd/nashmd/torch"
)

func loadTiny(t *testing.T, name string) *torch.Model { return loadTinyAs(t, name, torch.Float32) }

func loadTinyAs(t *testing.T, name string, dt torch.DType) *torch.Model {
	t.Helper()
	m, err := torch.LoadLlama(filepath.Join("..", "torch", "testdata", "models", name), dt, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

type golden struct {
	f *safetensors.File
	s *torch.Scope
	t *testing.T
}

func (g golden) get(name string) *torch.Tensor {
	st, err := g.f.Tensor(name)
	if err != nil {
		g.t.Fatal(err)
	}
	return g.s.FromSafetensors(st, torch.CPU)
}

func (g golden) floats(name string) []float64 {
	v, err := g.s.To(g.get(name), torch.Float64, torch.CPU).Float64s()
	if err != nil {
		g.t.Fatal(err)
	}
	return v
}

// closeRel reports max |a-b| / max|b| ≤ tol.
func closeRel(a, b []float64, tol float64) (float64, bool) {
	scale, d := 0.0, 0.0
	for i := range b {
		scale = math.Max(scale, math.Abs(b[i]))
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d / scale, d <= tol*scale
}

// TestLossGolden: one Nash-MD loss and its gradients on fixed completions
// and judge probabilities equal a PyTorch re-typing of TRL's
// _compute_logprobs + _compute_losses (testdata/gen_step.py), for both KL
// forms, with and without gradient checkpointing (the same golden values).
func TestLossGolden(t *testing.T) {
	f, err := safetensors.Open("testdata/step_golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref := loadTiny(t, "llama_tiny_tied")
	for _, run := range []struct {
		form string
		ckpt bool
	}{{"trl", false}, {"reward_to_go", false}, {"trl", true}, {"reward_to_go", true}} {
		form, name := run.form, run.form
		if run.ckpt {
			name += "/gradient_checkpointing"
		}
		t.Run(name, func(t *testing.T) {
			s := torch.NewScope()
			defer s.Close()
			g := golden{f, s, t}
			pol := loadTiny(t, "qwen2_tiny")
			if err := pol.SetGradientCheckpointing(run.ckpt); err != nil {
				t.Fatal(err)
			}
			for _, p := range pol.Params() {
				if err := p.Tensor.SetRequiresGrad(true); err != nil {
					t.Fatal(err)
				}
			}
			cfg := Default()
			cfg.Beta = Schedule{0.1}
			cfg.KLEstimator = form
			tr := &Trainer{Config: cfg, Policy: pol, Ref: ref, EOS: []int64{7}}
			r := &Rollout{IDs: g.get("prompt"), Mask: g.get("prompt_mask"), Y: g.get("y"), YMask: g.get("y_mask"),
				YMix: g.get("y"), YMixMask: g.get("y_mask"), Prob: g.floats("prob"), Prompts: make([]string, 3)}
			st, err := tr.Learn(s, r, 1)
			if err != nil {
				t.Fatal(err)
			}
			wantLoss := g.floats(form + ".loss")[0]
			if math.Abs(st["loss"]-wantLoss) > 1e-5*math.Abs(wantLoss) {
				t.Errorf("loss %.9g, want %.9g", st["loss"], wantLoss)
			}
			if d, ok := closeRel([]float64{st["loss/score"]}, []float64{mean(g.floats(form + ".score"))}, 1e-5); !ok {
				t.Errorf("loss/score off by %.3g", d)
			}
			if d, ok := closeRel([]float64{st["loss/kl"]}, []float64{mean(g.floats(form + ".kl"))}, 1e-5); !ok {
				t.Errorf("loss/kl off by %.3g", d)
			}
			for _, name := range []string{"model.layers.1.mlp.down_proj.weight", "model.embed_tokens.weight"} {
				var p *torch.Tensor
				for _, q := range pol.Params() {
					if q.Name == name {
						p = q.Tensor
					}
				}
				got, err := s.To(s.Grad(p), torch.Float64, torch.CPU).Float64s()
				if err != nil {
					t.Fatal(err, s.Err())
				}
				d, ok := closeRel(got, g.floats(form+".grad."+name), 1e-5)
				if !ok {
					t.Errorf("grad %s: relative diff %.3g > 1e-5", name, d)
				}
				t.Logf("grad %s: relative diff %.3g", name, d)
			}
		})
	}
}

func mean(x []float64) float64 { return meanF(x) }

// TestAccumulation: two micro-batches of 4 give the gradient of one batch of 8.
func TestAccumulation(t *testing.T) {
	f, err := safetensors.Open("testdata/step_golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// float64 models: the two orders of summation then agree to ~1e-15, so
	// a real difference (a lost 1/k factor, a mis-sliced row) cannot hide.
	ref := loadTinyAs(t, "llama_tiny_tied", torch.Float64)
	grads := func(split bool) []float64 {
		s := torch.NewScope()
		defer s.Close()
		g := golden{f, s, t}
		pol := loadTinyAs(t, "qwen2_tiny", torch.Float64)
		for _, p := range pol.Params() {
			p.Tensor.SetRequiresGrad(true)
		}
		tr := &Trainer{Config: Default(), Policy: pol, Ref: ref}
		// 8 rows: the 3 golden rows, then again, then 2 of them.
		rows := []int64{0, 1, 2, 0, 1, 2, 1, 0}
		idx := s.FromInt64(rows)
		prob := []float64{0.9, 0.3, 0.5, 0.2, 0.7, 0.5, 0.95, 0.1}
		pick := func(name string, lo, n int64) *torch.Tensor {
			return s.Narrow(s.IndexSelect(g.get(name), 0, idx), 0, lo, n)
		}
		roll := func(lo, n int64) *Rollout {
			return &Rollout{IDs: pick("prompt", lo, n), Mask: pick("prompt_mask", lo, n), Y: pick("y", lo, n), YMask: pick("y_mask", lo, n),
				YMix: pick("y", lo, n), YMixMask: pick("y_mask", lo, n), Prob: prob[lo : lo+n], Prompts: make([]string, n)}
		}
		if split {
			for _, lo := range []int64{0, 4} {
				if _, err := tr.Learn(s, roll(lo, 4), 0.5); err != nil {
					t.Fatal(err)
				}
			}
		} else if _, err := tr.Learn(s, roll(0, 8), 1); err != nil {
			t.Fatal(err)
		}
		var out []float64
		for _, p := range pol.Params() {
			v, err := s.To(s.Grad(p.Tensor), torch.Float64, torch.CPU).Float64s()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v...)
		}
		return out
	}
	a, b := grads(true), grads(false)
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	// The relative L2 distance of the whole gradient (float32 sums in a
	// different order differ by rounding only).
	rel := math.Sqrt(num / den)
	maxRel, _ := closeRel(a, b, 0)
	if rel > 1e-6 || den == 0 {
		t.Fatalf("2×4 vs 1×8: relative L2 gradient difference %.3g > 1e-6", rel)
	}
	t.Logf("2×4 vs 1×8: relative L2 difference %.3g (max element difference / max |g|: %.3g)", rel, maxRel)
}
