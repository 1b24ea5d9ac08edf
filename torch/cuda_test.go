package torch_test

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nashmd/nashmd/torch"
)

// GPU tests: the CUDA kernels (make cuda) against the CPU versions, at
// several sizes and dtypes, printing the max difference, and chi-square
// tests for the CUDA sampler. Every test skips without a GPU; a CPU build
// sees none. Run them with `make cuda-test` (go test ./torch -run CUDA -v).

var cudaDev = torch.CUDA(0)

// needCUDA skips t without a GPU and reports whether the fused kernels
// (rather than plain libtorch ops) are what runs on it.
func needCUDA(t *testing.T) {
	t.Helper()
	if !torch.CUDAAvailable() {
		t.Skip("CUDA is not available: no GPU, or libnashmd built without CUDA (make cuda); GPU test not run")
	}
	if !torch.CUDAKernels() {
		t.Log("libnashmd has no CUDA kernels (not built with make cuda): testing libtorch's own ops on the GPU")
	}
	before := torch.LiveTensors()
	t.Cleanup(func() {
		if after := torch.LiveTensors(); after != before && !t.Failed() {
			t.Errorf("live tensors %d -> %d: a handle leaked", before, after)
		}
	})
}

// maxDiff is max |a − b| and max |a − b| / (atol + rtol·|b|) over two float32 slices.
func maxDiff(a, b []float32, atol, rtol float64) (abs, scaled float64) {
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.NaN(), math.NaN()
		}
		abs = math.Max(abs, d)
		scaled = math.Max(scaled, d/(atol+rtol*math.Abs(float64(b[i]))))
	}
	return abs, scaled
}

func f32s(t *testing.T, s *torch.Scope, x *torch.Tensor) []float32 {
	t.Helper()
	v, err := s.To(x, torch.Float32, torch.CPU).Float32s()
	if err != nil {
		t.Fatal(err, s.Err())
	}
	return v
}

// TestCUDASelectiveLogSoftmax: forward and backward on the GPU equal the CPU
// version's for float32, bfloat16 and float16 logits, up to the vocabulary
// of Qwen2.
func TestCUDASelectiveLogSoftmax(t *testing.T) {
	needCUDA(t)
	g, err := torch.NewGenerator(5, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// rtol: one rounding of the stored gradient in the dtype.
	rtols := map[torch.DType]float64{torch.Float32: 1e-5, torch.BFloat16: 1.0 / 128, torch.Float16: 1.0 / 1024}
	for _, dt := range []torch.DType{torch.Float32, torch.BFloat16, torch.Float16} {
		for _, nv := range [][2]int64{{3, 5}, {17, 1000}, {64, 32000}, {4, 151936}} {
			N, V := nv[0], nv[1]
			t.Run(fmt.Sprintf("%v/N=%d/V=%d", dt, N, V), func(t *testing.T) {
				s := torch.NewScope()
				defer s.Close()
				x := s.To(s.MulScalar(s.Randn(g, []int64{N, V}, torch.Float32, torch.CPU), 3), dt, torch.CPU)
				ids := s.Reshape(s.Multinomial(s.Ones([]int64{N, V}, torch.Float32, torch.CPU), 1, true, g), N)
				up := s.Randn(g, []int64{N}, torch.Float32, torch.CPU) // upstream gradient
				var logp, grad [2][]float32
				for i, d := range []torch.Device{torch.CPU, cudaDev} {
					xi := s.Detach(s.To(x, dt, d)) // a fresh leaf on d (To may return x itself)
					if err := s.Err(); err != nil {
						t.Fatal(err)
					}
					if err := xi.SetRequiresGrad(true); err != nil {
						t.Fatal(err)
					}
					lp := s.SelectiveLogSoftmax(xi, s.To(ids, torch.Int64, d), 0)
					if err := s.Err(); err != nil {
						t.Fatal(err)
					}
					if lp.DType() != torch.Float32 || lp.Device().Type != d.Type {
						t.Fatalf("%v: logp is %v", d, lp)
					}
					if err := s.Sum(s.Mul(lp, s.To(up, torch.Float32, d))).Backward(nil); err != nil {
						t.Fatal(err)
					}
					logp[i], grad[i] = f32s(t, s, lp), f32s(t, s, s.Grad(xi))
				}
				fa, fs := maxDiff(logp[1], logp[0], 1e-4, 1e-5)
				ga, gs := maxDiff(grad[1], grad[0], 1e-6, rtols[dt])
				t.Logf("max diff CUDA vs CPU: logp %.3g, grad %.3g (%.2f of tolerance)", fa, ga, gs)
				if !(fs <= 1) || !(gs <= 2) {
					t.Fatalf("CUDA differs from CPU: logp %.3g (scaled %.2f), grad %.3g (scaled %.2f)", fa, fs, ga, gs)
				}
			})
		}
	}
}

// chiSquare of counts against probabilities p (zero-probability outcomes
// must have no counts), and the p = 0.001 critical value for its dof.
func chiSquare(counts, p []float64, n float64) (chi2, crit float64, bad float64) {
	dof := -1
	for i := range p {
		if p[i] == 0 {
			bad += counts[i]
			continue
		}
		e := n * p[i]
		chi2 += (counts[i] - e) * (counts[i] - e) / e
		dof++
	}
	k := float64(dof) // Wilson–Hilferty
	crit = k * math.Pow(1-2/(9*k)+3.09*math.Sqrt(2/(9*k)), 3)
	return chi2, crit, bad
}

// filtered is softmaxMix with transformers' TopK then TopP warpers applied.
func filtered(lp, lr []float32, beta, temp float64, topK int, topP float64) []float64 {
	p := softmaxMix(lp, lr, beta, temp)
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { // descending probability
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return 0
	})
	keep := make([]bool, len(p))
	kept := len(p)
	if topK > 0 && topK < kept {
		kept = topK
	}
	z := 0.0
	for _, i := range idx[:kept] {
		z += p[i]
	}
	mass := 0.0
	for _, i := range idx[:kept] { // top-p on the top-k renormalised
		keep[i] = true
		mass += p[i] / z
		if mass >= topP {
			break
		}
	}
	out := make([]float64, len(p))
	z = 0
	for i := range p {
		if keep[i] {
			out[i] = p[i]
			z += p[i]
		}
	}
	for i := range out {
		out[i] /= z
	}
	return out
}

// TestMixtureSampleExChiSquare: the filtered sampler with log-probs on the
// CPU, the reference the CUDA test below is held to as well.
func TestMixtureSampleExChiSquare(t *testing.T) {
	g, err := torch.NewGenerator(7, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	mixtureExChiSquare(t, torch.CPU, g)
}

// TestCUDAMixtureSampleChiSquare: tokens from the CUDA sampler follow the
// (filtered) mixture, and logp is the policy's log-prob of each token.
func TestCUDAMixtureSampleChiSquare(t *testing.T) {
	needCUDA(t)
	g, err := torch.NewGenerator(7, cudaDev)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	mixtureExChiSquare(t, cudaDev, g)
}

func mixtureExChiSquare(t *testing.T, d torch.Device, g *torch.Generator) {
	const n, temp = 50000, 0.9
	for _, c := range []struct {
		beta float64
		topK int64
		topP float64
	}{{0, 0, 1}, {0.4, 0, 1}, {1, 0, 1}, {0.4, 3, 1}, {0.4, 0, 0.8}, {0.5, 4, 0.7}} {
		t.Run(fmt.Sprintf("beta=%v/topk=%d/topp=%v", c.beta, c.topK, c.topP), func(t *testing.T) {
			s := torch.NewScope()
			defer s.Close()
			rows := func(x []float32) *torch.Tensor {
				r := s.Reshape(s.Stack(0, slices.Repeat([]*torch.Tensor{s.FromFloat32(x)}, n)...), n, 6)
				return s.To(r, torch.Float32, d)
			}
			tok, logp := s.MixtureSampleEx(rows(mixLP), rows(mixLR), c.beta, temp, c.topK, c.topP, g)
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			toks, err := s.To(tok, torch.Int64, torch.CPU).Int64s()
			if err != nil {
				t.Fatal(err)
			}
			lps := f32s(t, s, logp)
			want := filtered(mixLP, mixLR, c.beta, temp, int(c.topK), c.topP)
			pol := softmaxMix(mixLP, mixLR, 0, temp)
			counts := make([]float64, 6)
			worst := 0.0
			for i, v := range toks {
				if v < 0 || v >= 6 {
					t.Fatalf("token %d out of range", v)
				}
				counts[v]++
				worst = math.Max(worst, math.Abs(float64(lps[i])-math.Log(pol[v])))
			}
			chi2, crit, bad := chiSquare(counts, want, n)
			t.Logf("%v: chi2 %.2f (p=0.001 critical %.2f), logp max diff %.3g, counts %v", d, chi2, crit, worst, counts)
			if chi2 > crit || bad > 0 {
				t.Fatalf("chi-square %.2f > %.2f or %v tokens outside the kept set: counts %v, want %v", chi2, crit, bad, counts, want)
			}
			if worst > 1e-5 {
				t.Fatalf("logp differs from log softmax(policy/T) by %.3g", worst)
			}
		})
	}
}

// TestCUDAMixtureSampleVocab: at Qwen2's vocabulary in every dtype, a
// dominant logit is always drawn (the kernel reads the whole row), and logp
// equals the CPU's log softmax at the drawn token.
func TestCUDAMixtureSampleVocab(t *testing.T) {
	needCUDA(t)
	const N, V = 8, 151936
	g, err := torch.NewGenerator(11, cudaDev)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	cg, _ := torch.NewGenerator(12, torch.CPU)
	defer cg.Close()
	for _, dt := range []torch.DType{torch.Float32, torch.BFloat16, torch.Float16} {
		t.Run(dt.String(), func(t *testing.T) {
			s := torch.NewScope()
			defer s.Close()
			pol := s.Randn(cg, []int64{N, V}, torch.Float32, torch.CPU)
			ref := s.Randn(cg, []int64{N, V}, torch.Float32, torch.CPU)
			// Row r's token V-1-r·997 gets +40 in both models: it must win.
			bump := make([]float32, N*V)
			for r := int64(0); r < N; r++ {
				bump[r*V+V-1-r*997] = 40
			}
			b := s.FromFloat32(bump, N, V)
			pol, ref = s.To(s.Add(pol, b), dt, torch.CPU), s.To(s.Add(ref, b), dt, torch.CPU)
			tok, logp := s.MixtureSampleEx(s.To(pol, dt, cudaDev), s.To(ref, dt, cudaDev), 0.5, 1.0, 0, 1, g)
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			toks := int64s(t, s.To(tok, torch.Int64, torch.CPU))
			for r, v := range toks {
				if v != V-1-int64(r)*997 {
					t.Fatalf("row %d: token %d, want the dominant %d", r, v, V-1-int64(r)*997)
				}
			}
			want := s.Reshape(s.Gather(s.LogSoftmax(s.To(pol, torch.Float32, torch.CPU), -1), -1,
				s.Reshape(s.FromInt64(toks), N, 1)), N)
			d, _ := maxDiff(f32s(t, s, logp), f32s(t, s, want), 1e-4, 0)
			t.Logf("logp max diff CUDA vs CPU %.3g", d)
			if d > 1e-4 {
				t.Fatalf("logp differs from the CPU's by %.3g", d)
			}
		})
	}
}

// TestCUDAGenerate: greedy decoding of a small checkpoint on the GPU gives
// the CPU's tokens, and sampled decoding (policy and mixture, through the
// fused sampler and the CUDA-graph decode where built) gives in-range
// tokens with the KV cache and without the same shapes.
func TestCUDAGenerate(t *testing.T) {
	needCUDA(t)
	s := torch.NewScope()
	defer s.Close()
	_, gold := modelGolden(t, s, "qwen2_tiny")
	var ms [2]*torch.Model
	for i, d := range []torch.Device{torch.CPU, cudaDev} {
		m, err := torch.LoadLlama(filepath.Join("testdata", "models", "qwen2_tiny"), torch.Float32, d)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		ms[i] = m
	}
	ids, mask := gold["ids"], gold["mask"]
	cids, cmask := s.To(ids, torch.Int64, cudaDev), s.To(mask, torch.Int64, cudaDev)
	c := torch.GenConfig{MaxNewTokens: 12, Greedy: true}
	y0, _ := s.Generate(ms[0], ids, mask, c, nil)
	y1, _ := s.Generate(ms[1], cids, cmask, c, nil)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	a, b := int64s(t, y0), int64s(t, s.To(y1, torch.Int64, torch.CPU))
	if !slices.Equal(a, b) {
		t.Fatalf("greedy tokens: CPU %v, CUDA %v", a, b)
	}
	g, _ := torch.NewGenerator(3, cudaDev)
	defer g.Close()
	for _, sc := range []torch.GenConfig{
		{MaxNewTokens: 12, Temperature: 0.9},
		{MaxNewTokens: 12, Temperature: 1.1, TopK: 20, TopP: 0.9},
		{MaxNewTokens: 12, Temperature: 0.9, NoCache: true},
	} {
		y, ym, x, xm := s.GenerateMixture(ms[1], ms[1], 0.5, cids, cmask, sc, g)
		if err := s.Err(); err != nil {
			t.Fatalf("%+v: %v", sc, err)
		}
		_, _ = ym, xm
		for _, z := range []*torch.Tensor{y, x} {
			for _, v := range int64s(t, s.To(z, torch.Int64, torch.CPU)) {
				if v < 0 || v >= 96 { // qwen2_tiny's vocab_size
					t.Fatalf("%+v: token %d", sc, v)
				}
			}
		}
	}
}

// TestParseDevice: "cpu" always parses; "cuda" parses only where a GPU is
// usable and otherwise wraps ErrNoCUDA; anything else is an argument error.
func TestParseDevice(t *testing.T) {
	if d, err := torch.ParseDevice("cpu"); err != nil || d != torch.CPU {
		t.Fatalf("cpu: %v, %v", d, err)
	}
	for _, bad := range []string{"", "gpu", "cuda:", "cuda:-1", "cuda:x", "CPU"} {
		if _, err := torch.ParseDevice(bad); !errors.Is(err, torch.ErrArg) {
			t.Errorf("%q: err = %v, want ErrArg", bad, err)
		}
	}
	d, err := torch.ParseDevice("cuda:0")
	switch {
	case torch.CUDAAvailable() && (err != nil || d != torch.CUDA(0)):
		t.Fatalf("cuda:0 with a GPU: %v, %v", d, err)
	case !torch.CUDAAvailable() && !errors.Is(err, torch.ErrNoCUDA):
		t.Fatalf("cuda:0 without a GPU: err = %v, want ErrNoCUDA", err)
	}
	if _, err := torch.ParseDevice("cuda:999"); !errors.Is(err, torch.ErrNoCUDA) {
		t.Fatalf("cuda:999: err = %v, want ErrNoCUDA", err)
	}
}

// TestMixtureSampleExBadArgs: bad shapes and arguments are errors that say
// what was expected, and nothing is returned.
func TestMixtureSampleExBadArgs(t *testing.T) {
	for _, c := range []struct {
		name        string
		v           int64
		temp, topP  float64
		want        error
		wantMessage string
	}{
		{"shape", 5, 1, 1, torch.ErrShape, "must both be (N, V)"},
		{"temperature", 6, 0, 1, torch.ErrArg, "temperature must be positive"},
		{"top_p", 6, 1, 0, torch.ErrArg, "top_p must be in (0, 1]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := torch.NewScope()
			defer s.Close()
			tok, logp := s.MixtureSampleEx(s.FromFloat32(mixLP, 1, 6), s.Zeros([]int64{1, c.v}, torch.Float32, torch.CPU), 0.5, c.temp, 0, c.topP, nil)
			err := s.Err()
			if tok != nil || logp != nil || !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.wantMessage) {
				t.Fatalf("got %v, %v, err %v; want %v containing %q", tok, logp, err, c.want, c.wantMessage)
			}
		})
	}
}
