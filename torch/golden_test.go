package torch_test

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/nashmd/nashmd/hf/safetensors"
	"github.com/nashmd/nashmd/torch"
)

// Golden tolerance for float32 results: |got-want| <= rtol*|want| + atol.
// The atol floor only matters for values near zero.
const (
	rtol = 1e-6
	atol = 1e-7
)

// goldenCase computes one case's output (and, for gradient cases, the
// gradients named in the file) from its inputs.
type goldenCase func(s *torch.Scope, in map[string]*torch.Tensor) (want *torch.Tensor, grads map[string]*torch.Tensor)

func out(t *torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) { return t, nil }

var goldenCases = map[string]goldenCase{
	"log_softmax": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.LogSoftmax(in["x"], -1))
	},
	"softmax": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Softmax(in["x"], -1))
	},
	"selective_log_softmax": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		// 4 rows per chunk over 15 rows: several chunks and a ragged last one.
		return out(s.SelectiveLogSoftmax(in["logits"], in["ids"], 4))
	},
	"selective_log_softmax_bf16": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.SelectiveLogSoftmax(in["logits"], in["ids"], 0))
	},
	"selective_log_softmax_grad": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		lg := in["logits"]
		if err := lg.SetRequiresGrad(true); err != nil {
			panic(err)
		}
		lp := s.SelectiveLogSoftmax(lg, in["ids"], 3)
		loss := s.Sum(s.Mul(lp, in["w"]))
		if s.Err() == nil {
			if err := loss.Backward(nil); err != nil {
				panic(err)
			}
		}
		return s.Detach(lp), map[string]*torch.Tensor{"logits": s.Grad(lg)}
	},
	"matmul": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Matmul(in["a"], in["b"]))
	},
	"matmul_batched": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Matmul(in["a"], in["b"]))
	},
	"sigmoid": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Sigmoid(in["x"]))
	},
	"exp": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Exp(in["x"]))
	},
	"log": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Log(in["x"]))
	},
	"add": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Add(in["a"], in["b"]))
	},
	"div": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Div(in["a"], in["b"]))
	},
	"sum_dim": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.SumDim(in["x"], 1, false))
	},
	"mean_dim_keep": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.MeanDim(in["x"], 0, true))
	},
	"max_dim": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.MaxDim(in["x"], 1, false))
	},
	"argmax": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Argmax(in["x"], 1, false))
	},
	"logsumexp": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.LogSumExp(in["x"], 1, false))
	},
	"masked_fill": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.MaskedFill(in["x"], in["mask"], -1e4))
	},
	"where": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Where(in["c"], in["a"], in["b"]))
	},
	"gather": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Gather(in["x"], 1, in["index"]))
	},
	"index_select": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.IndexSelect(in["x"], 0, in["index"]))
	},
	"cat": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Cat(1, in["a"], in["b"]))
	},
	"stack": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Stack(0, in["a"], in["b"]))
	},
	"transpose": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		return out(s.Contiguous(s.Transpose(in["x"], 0, 1)))
	},
	"mlp_grad": func(s *torch.Scope, in map[string]*torch.Tensor) (*torch.Tensor, map[string]*torch.Tensor) {
		w := in["w"]
		if err := w.SetRequiresGrad(true); err != nil {
			panic(err)
		}
		loss := s.Mean(s.Sigmoid(s.Matmul(in["x"], w)))
		if s.Err() == nil {
			if err := loss.Backward(nil); err != nil {
				panic(err)
			}
		}
		return s.Detach(loss), map[string]*torch.Tensor{"w": s.Grad(w)}
	},
}

// goldenFile groups golden.safetensors by case.
type goldenEntry struct {
	inputs map[string]safetensors.Tensor
	want   safetensors.Tensor
	grads  map[string]safetensors.Tensor
}

func loadGolden(t *testing.T) (map[string]*goldenEntry, func()) {
	t.Helper()
	f, err := safetensors.Open("testdata/golden.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]*goldenEntry{}
	for _, name := range f.Names() {
		parts := strings.SplitN(name, ".", 3)
		ten, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		e := cases[parts[0]]
		if e == nil {
			e = &goldenEntry{inputs: map[string]safetensors.Tensor{}, grads: map[string]safetensors.Tensor{}}
			cases[parts[0]] = e
		}
		switch {
		case len(parts) == 2 && parts[1] == "want":
			e.want = ten
		case len(parts) == 3 && parts[1] == "in":
			e.inputs[parts[2]] = ten
		case len(parts) == 3 && parts[1] == "grad":
			e.grads[parts[2]] = ten
		default:
			t.Fatalf("golden.safetensors: unexpected tensor name %q", name)
		}
	}
	return cases, func() { f.Close() }
}

// TestGolden runs every op case against PyTorch's outputs in testdata
// (written by testdata/gen_golden.py; regenerate with `make golden`).
func TestGolden(t *testing.T) {
	cases, done := loadGolden(t)
	defer done()
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if goldenCases[n] == nil {
			t.Errorf("case %q is in golden.safetensors but has no Go computation", n)
		}
	}
	for n := range goldenCases {
		if cases[n] == nil {
			t.Errorf("case %q has a Go computation but no golden data (run make golden)", n)
		}
	}
	for _, n := range names {
		e, run := cases[n], goldenCases[n]
		if run == nil {
			continue
		}
		t.Run(n, func(t *testing.T) {
			s := torch.NewScope()
			defer s.Close()
			in := map[string]*torch.Tensor{}
			for k, v := range e.inputs {
				in[k] = s.FromSafetensors(v, torch.CPU)
			}
			got, grads := run(s, in)
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			compare(t, s, "output", got, e.want)
			for k, want := range e.grads {
				compare(t, s, "grad "+k, grads[k], want)
			}
			if len(grads) != len(e.grads) {
				t.Errorf("computed %d gradients, golden has %d", len(grads), len(e.grads))
			}
		})
	}
}

// compare checks got against want: exact for integer and bool tensors,
// within rtol/atol (after upcasting both to float64) for float tensors.
func compare(t *testing.T, s *torch.Scope, what string, got *torch.Tensor, want safetensors.Tensor) {
	t.Helper()
	w := s.FromSafetensors(want, torch.CPU)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatalf("%s: no tensor", what)
	}
	if fmt.Sprint(got.Shape()) != fmt.Sprint(w.Shape()) || got.DType() != w.DType() {
		t.Fatalf("%s: got %v, want %v", what, got, w)
	}
	if !got.DType().IsFloat() {
		g, err1 := got.Bytes()
		x, err2 := w.Bytes()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if string(g) != string(x) {
			t.Errorf("%s: integer tensors differ", what)
		}
		return
	}
	g, err1 := s.To(got, torch.Float64, torch.CPU).Float64s()
	x, err2 := s.To(w, torch.Float64, torch.CPU).Float64s()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	worst, at := 0.0, -1
	for i := range g {
		d := math.Abs(g[i] - x[i])
		if d > rtol*math.Abs(x[i])+atol || math.IsNaN(g[i]) != math.IsNaN(x[i]) {
			t.Errorf("%s[%d] = %.9g, want %.9g (diff %.3g)", what, i, g[i], x[i], d)
			return
		}
		if rel := d / math.Max(math.Abs(x[i]), 1e-30); rel > worst {
			worst, at = rel, i
		}
	}
	t.Logf("%s: %d values, max relative diff %.3g (at %d)", what, len(g), worst, at)
}
