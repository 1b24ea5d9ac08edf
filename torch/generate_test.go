package torch_test

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nashmd/nashmd/hf/safetensors"
	"github.com/nashmd/nashmd/torch"
)

func int64s(t *testing.T, x *torch.Tensor) []int64 {
	t.Helper()
	v, err := x.Int64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGreedyMatchesTransformers: greedy decoding with and without the KV
// cache equals transformers' generate, token for token, with left padding
// and with a per-row EOS.
func TestGreedyMatchesTransformers(t *testing.T) {
	for _, name := range []string{"qwen2_tiny", "llama_tiny_tied", "llama_rope3_headdim"} {
		for _, noCache := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/nocache=%v", name, noCache), func(t *testing.T) {
				s := torch.NewScope()
				defer s.Close()
				m, g := modelGolden(t, s, name)
				want := int64s(t, g["greedy"])
				tok, cm := s.Generate(m, g["ids"], g["mask"], torch.GenConfig{MaxNewTokens: 12, Greedy: true, NoCache: noCache}, nil)
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				if got := int64s(t, tok); !slices.Equal(got, want) {
					t.Fatalf("greedy tokens\n got %v\nwant %v", got, want)
				}
				if slices.Contains(int64s(t, cm), 0) {
					t.Fatal("completion mask has zeros without EOS")
				}
				// With EOS: the stopped row is padded, its mask ends after EOS.
				eos := int64s(t, g["greedy_eos_id"])[0]
				tok, cm = s.Generate(m, g["ids"], g["mask"], torch.GenConfig{MaxNewTokens: 12, Greedy: true, EOS: []int64{eos}, PadID: 0, NoCache: noCache}, nil)
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				if got, want := int64s(t, tok), int64s(t, g["greedy_eos"]); !slices.Equal(got, want) {
					t.Fatalf("greedy tokens with EOS %d\n got %v\nwant %v", eos, got, want)
				}
				mask := int64s(t, cm)
				T := tok.Shape()[1]
				for j := range T { // row 1 stopped at step 4 (EOS included)
					if w := int64(1); j > 4 {
						w = 0
						if mask[T+j] != w {
							t.Fatalf("row 1 completion mask %v, want ones through step 4", mask[T:2*T])
						}
					}
				}
			})
		}
	}
}

// TestSamplingSeeded: the same generator seed gives the same samples, another
// seed different ones; top-k 1 equals greedy.
func TestSamplingSeeded(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	m, g := modelGolden(t, s, "qwen2_tiny")
	sample := func(seed uint64, c torch.GenConfig) []int64 {
		gen, err := torch.NewGenerator(seed, torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer gen.Close()
		tok, _ := s.Generate(m, g["ids"], g["mask"], c, gen)
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		return int64s(t, tok)
	}
	c := torch.GenConfig{MaxNewTokens: 12, Temperature: 0.9, TopP: 0.95}
	a, b, d := sample(1, c), sample(1, c), sample(2, c)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different samples")
	}
	if slices.Equal(a, d) {
		t.Fatal("different seeds, same samples")
	}
	if got := sample(3, torch.GenConfig{MaxNewTokens: 12, Temperature: 1.3, TopK: 1}); !slices.Equal(got, int64s(t, g["greedy"])) {
		t.Fatalf("top_k=1 sampling %v != greedy", got)
	}
}

// TestFirstTokenDistribution: sampled first tokens follow softmax(logits/T)
// restricted by top-k (chi-square against our golden-checked logits).
func TestFirstTokenDistribution(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	m, g := modelGolden(t, s, "qwen2_tiny")
	const n, temp, k = 4000, 1.5, 5
	row := s.Narrow(g["ids"], 0, 0, 1)
	ids := s.Reshape(s.Stack(0, slices.Repeat([]*torch.Tensor{row}, n)...), n, -1) // (n, L)
	gen, _ := torch.NewGenerator(11, torch.CPU)
	defer gen.Close()
	tok, _ := s.Generate(m, ids, nil, torch.GenConfig{MaxNewTokens: 1, Temperature: temp, TopK: k}, gen)
	logits := s.Narrow(s.Logits(m, row, nil), 1, 8, 1) // (1, 1, V) at the last position
	lv, err := s.Reshape(logits, -1).Float32s()
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	order := make([]int, len(lv))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return -cmpF(lv[a], lv[b]) })
	z, p := 0.0, map[int]float64{}
	for _, i := range order[:k] {
		p[i] = math.Exp(float64(lv[i]) / temp)
		z += p[i]
	}
	counts := map[int]float64{}
	for _, v := range int64s(t, tok) {
		counts[int(v)]++
	}
	chi2 := 0.0
	for i, pi := range p {
		e := n * pi / z
		chi2 += (counts[i] - e) * (counts[i] - e) / e
		delete(counts, int(i))
	}
	if len(counts) > 0 {
		t.Fatalf("tokens outside the top %d drawn: %v", k, counts)
	}
	if chi2 > 18.47 { // 4 dof, p = 0.001
		t.Fatalf("chi-square %.2f over 4 dof", chi2)
	}
	t.Logf("chi2 %.2f", chi2)
}

func cmpF(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestMixtureGreedy: the mixture stream is argmax((1-β)l_policy + β l_ref):
// β = 0 gives the policy's greedy output, β = 1 the reference's, β = 0.5
// what transformers' models give mixed step by step (gen_models.py).
func TestMixtureGreedy(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	pol, gp := modelGolden(t, s, "qwen2_tiny")
	ref, gr := modelGolden(t, s, "llama_tiny_tied")
	c := torch.GenConfig{MaxNewTokens: 12, Greedy: true}

	y, _, ym, _ := s.GenerateMixture(pol, ref, 0, gp["ids"], gp["mask"], c, nil)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if want := int64s(t, gp["greedy"]); !slices.Equal(int64s(t, y), want) || !slices.Equal(int64s(t, ym), want) {
		t.Fatalf("β=0: y %v, y' %v, want both %v", int64s(t, y), int64s(t, ym), want)
	}
	_, _, ym, _ = s.GenerateMixture(pol, ref, 1, gr["ids"], gr["mask"], c, nil)
	if want := int64s(t, gr["greedy"]); !slices.Equal(int64s(t, ym), want) {
		t.Fatalf("β=1: y' %v, want the reference's greedy %v", int64s(t, ym), want)
	}

	f, err := safetensors.Open(filepath.Join("testdata", "models", "mixture_golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	get := func(n string) *torch.Tensor {
		st, err := f.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		return s.FromSafetensors(st, torch.CPU)
	}
	_, _, ym, _ = s.GenerateMixture(pol, ref, 0.5, get("ids"), get("mask"), torch.GenConfig{MaxNewTokens: 10, Greedy: true}, nil)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := int64s(t, ym), int64s(t, get("mix_greedy_0.5")); !slices.Equal(got, want) {
		t.Fatalf("β=0.5 greedy mixture\n got %v\nwant %v", got, want)
	}
}

// TestGenerateLeaks: 100 generate calls leave the live tensor count flat.
func TestGenerateLeaks(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	pol, g := modelGolden(t, s, "qwen2_tiny")
	ref, _ := modelGolden(t, s, "llama_tiny_tied")
	before := torch.LiveTensors()
	for i := range 100 {
		r := torch.NewScope()
		c := torch.GenConfig{MaxNewTokens: 4, Temperature: 0.9, EOS: []int64{5}}
		if i%2 == 0 {
			r.Generate(pol, g["ids"], g["mask"], c, nil)
		} else {
			r.GenerateMixture(pol, ref, 0.5, g["ids"], g["mask"], c, nil)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if after := torch.LiveTensors(); after != before {
		t.Fatalf("100 generate calls: live tensors %d -> %d", before, after)
	}
}
