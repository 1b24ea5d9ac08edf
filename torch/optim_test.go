package torch_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/nashmd/nashmd/hf/safetensors"
	"github.com/nashmd/nashmd/torch"
)

// TestAdamWGolden: AdamW + clipping equal torch.optim.AdamW and
// clip_grad_norm_ over three steps (testdata/gen_optim.py).
func TestAdamWGolden(t *testing.T) {
	f, err := safetensors.Open("testdata/optim_golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := torch.NewScope()
	defer s.Close()
	get := func(n string) *torch.Tensor {
		st, err := f.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		return s.FromSafetensors(st, torch.CPU)
	}
	params := []*torch.Tensor{s.Clone(get("p0")), s.Clone(get("p1"))}
	for _, p := range params {
		if err := p.SetRequiresGrad(true); err != nil {
			t.Fatal(err)
		}
	}
	opt, err := torch.NewAdamW(params, 0.9, 0.999, 1e-8, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	for k := range 3 {
		if err := torch.ZeroGrads(params); err != nil {
			t.Fatal(err)
		}
		loss := s.Add(s.Sum(s.Mul(params[0], get(fmt.Sprintf("step%d.g0", k)))), s.Sum(s.Mul(params[1], get(fmt.Sprintf("step%d.g1", k)))))
		if err := loss.Backward(nil); err != nil {
			t.Fatal(err)
		}
		norm, err := torch.ClipGradNorm(params, 1.0)
		if err != nil {
			t.Fatal(err)
		}
		wantNorm, _ := get(fmt.Sprintf("step%d.norm", k)).Item()
		if math.Abs(norm-wantNorm) > 1e-6*wantNorm {
			t.Errorf("step %d: grad norm %.9g, want %.9g", k, norm, wantNorm)
		}
		lr, _ := get(fmt.Sprintf("step%d.lr", k)).Item()
		if err := opt.Step(lr); err != nil {
			t.Fatal(err)
		}
		for i, p := range params {
			want := get(fmt.Sprintf("step%d.want%d", k, i))
			d, _ := s.Max(s.Abs(s.Sub(s.Detach(p), want))).Item()
			scale, _ := s.Max(s.Abs(want)).Item()
			if d > 1e-6*scale {
				t.Errorf("step %d param %d: max diff %.3g (scale %.3g)", k, i, d, scale)
			}
		}
	}
	// The state after three steps: moments present, step count 3.
	m, v, step, err := opt.State(0)
	if err != nil || step != 3 || m == nil {
		t.Fatalf("state: step %d, %v", step, err)
	}
	m.Close()
	v.Close()
}
