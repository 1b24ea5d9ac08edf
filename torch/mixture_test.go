package torch_test

import (
	"math"
	"slices"
	"testing"

	"github.com/nashmd/nashmd/torch"
)

// softmaxMix is softmax(((1-beta)·lp + beta·lr) / temp) in float64, typed here
// independently of the kernel.
func softmaxMix(lp, lr []float32, beta, temp float64) []float64 {
	out := make([]float64, len(lp))
	mx := math.Inf(-1)
	for i := range lp {
		out[i] = ((1-beta)*float64(lp[i]) + beta*float64(lr[i])) / temp
		mx = math.Max(mx, out[i])
	}
	z := 0.0
	for i := range out {
		out[i] = math.Exp(out[i] - mx)
		z += out[i]
	}
	for i := range out {
		out[i] /= z
	}
	return out
}

var (
	mixLP = []float32{2.0, 0.5, -1.0, 1.5, 0.0, -3.0}
	mixLR = []float32{-1.0, 1.0, 2.5, 0.0, 0.5, 1.0}
)

// TestMixtureProbs: the kernel's distribution is the policy's at β = 0 and
// the reference's at β = 1 (and the mixture in between).
func TestMixtureProbs(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	lp, lr := s.FromFloat32(mixLP, 1, 6), s.FromFloat32(mixLR, 1, 6)
	for _, beta := range []float64{0, 1, 0.3} {
		got, err := s.MixtureProbs(lp, lr, beta, 0.8).Float32s()
		if err != nil {
			t.Fatal(err)
		}
		want := softmaxMix(mixLP, mixLR, beta, 0.8)
		for i := range want {
			if math.Abs(float64(got[i])-want[i]) > 1e-6 {
				t.Fatalf("beta %v: probs %v, want %v", beta, got, want)
			}
		}
	}
}

// TestMixtureSampleChiSquare: tokens drawn by the fused kernel from a fixed
// logit pair follow softmax(((1-β)l_θ + βl_ref)/T).
func TestMixtureSampleChiSquare(t *testing.T) {
	const n, beta, temp = 20000, 0.4, 0.9
	s := torch.NewScope()
	defer s.Close()
	rows := func(x []float32) *torch.Tensor {
		return s.Reshape(s.Stack(0, slices.Repeat([]*torch.Tensor{s.FromFloat32(x)}, n)...), n, 6)
	}
	g, _ := torch.NewGenerator(3, torch.CPU)
	defer g.Close()
	tok, err := s.MixtureSample(rows(mixLP), rows(mixLR), beta, temp, g).Int64s()
	if err != nil {
		t.Fatal(err, s.Err())
	}
	want := softmaxMix(mixLP, mixLR, beta, temp)
	counts := make([]float64, 6)
	for _, v := range tok {
		counts[v]++
	}
	chi2 := 0.0
	for i := range want {
		e := n * want[i]
		chi2 += (counts[i] - e) * (counts[i] - e) / e
	}
	if chi2 > 20.52 { // 5 dof, p = 0.001
		t.Fatalf("chi-square %.2f: counts %v, expected %v", chi2, counts, want)
	}
	t.Logf("chi2 %.2f over 5 dof", chi2)
}

// TestMixtureCachedEqualsUncached: KV-cached mixture decoding gives the same
// tokens as re-running the whole prefix each step (TRL's way) for the same
// random draws, with the fused sampler and with filters.
func TestMixtureCachedEqualsUncached(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	pol, g := modelGolden(t, s, "qwen2_tiny")
	ref, _ := modelGolden(t, s, "llama_tiny_tied")
	for _, c := range []torch.GenConfig{
		{MaxNewTokens: 10, Temperature: 0.9},
		{MaxNewTokens: 10, Temperature: 1.2, TopK: 20, TopP: 0.9, MinP: 0.02, RepetitionPenalty: 1.3, EOS: []int64{5}},
	} {
		var got [2][]int64
		for i, noCache := range []bool{false, true} {
			c.NoCache = noCache
			gen, _ := torch.NewGenerator(9, torch.CPU)
			y, _, ym, _ := s.GenerateMixture(pol, ref, 0.5, g["ids"], g["mask"], c, gen)
			gen.Close()
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			got[i] = append(int64s(t, y), int64s(t, ym)...)
		}
		if !slices.Equal(got[0], got[1]) {
			t.Fatalf("%+v: cached %v != uncached %v", c, got[0], got[1])
		}
	}
}
