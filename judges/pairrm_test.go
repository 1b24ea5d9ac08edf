package judges

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"

	"github.com/nashmd/nashmd/torch"
)

type pairrmGolden struct {
	SourceMax    int       `json:"source_max_length"`
	CandidateMax int       `json:"candidate_max_length"`
	Temperature  float64   `json:"temperature"`
	Prompts      []string  `json:"prompts"`
	A            []string  `json:"a"`
	B            []string  `json:"b"`
	LogitsAB     []float64 `json:"logits_ab"`
	Prob         []float64 `json:"prob"`
	IDsAB        [][]int64 `json:"input_ids_ab"`
}

// TestPairRMGolden: on a tiny random PairRM-shaped directory, the inputs, the
// pair logits and P(a ≻ b) equal an independent PyTorch re-typing of
// llm-blender's DebertaV2PairRM with PairRM-hf's tokenize_pair and TRL's
// probability (testdata/gen_pairrm.py).
func TestPairRMGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/pairrm_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g pairrmGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPairRM("testdata/pairrm", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SourceMax, p.CandidateMax, p.Temperature = g.SourceMax, g.CandidateMax, g.Temperature
	for i := range g.Prompts {
		ids := p.pair(g.Prompts[i], g.A[i], g.B[i])
		want := g.IDsAB[i]
		for len(want) > 0 && want[len(want)-1] == p.pad && len(want) > len(ids) {
			want = want[:len(want)-1]
		}
		if len(ids) != len(want) {
			t.Fatalf("pair %d: %d ids, want %d\n got %v\nwant %v", i, len(ids), len(want), ids, want)
		}
		for j := range ids {
			if ids[j] != want[j] {
				t.Fatalf("pair %d: ids differ at %d\n got %v\nwant %v", i, j, ids, want)
			}
		}
	}
	var rows [][]int64
	for i := range g.Prompts {
		rows = append(rows, p.pair(g.Prompts[i], g.A[i], g.B[i]))
	}
	f, err := p.logits(rows)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f {
		if math.Abs(f[i]-g.LogitsAB[i]) > 1e-5 {
			t.Errorf("pair %d: logit %.7f, want %.7f", i, f[i], g.LogitsAB[i])
		}
	}
	prob, err := p.Prefer(context.Background(), g.Prompts, g.A, g.B)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range prob {
		worst = math.Max(worst, math.Abs(prob[i]-g.Prob[i]))
	}
	if worst > 1e-5 {
		t.Fatalf("P(a ≻ b) = %v, want %v (max diff %.3g)", prob, g.Prob, worst)
	}
	t.Logf("P(a ≻ b) max diff %.3g over %d pairs", worst, len(prob))

	// Swap makes the two orders sum to 1 exactly.
	sw := Swap{Judge: p}
	ab, err := sw.Prefer(context.Background(), g.Prompts, g.A, g.B)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := sw.Prefer(context.Background(), g.Prompts, g.B, g.A)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ab {
		if ab[i]+ba[i] != 1 {
			t.Fatalf("pair %d: Swap P(a≻b) + P(b≻a) = %.17g", i, ab[i]+ba[i])
		}
	}
	// A leak check over repeated calls.
	before := torch.LiveTensors()
	for range 5 {
		if _, err := p.Prefer(context.Background(), g.Prompts, g.A, g.B); err != nil {
			t.Fatal(err)
		}
	}
	if after := torch.LiveTensors(); after != before {
		t.Fatalf("live tensors %d -> %d", before, after)
	}
}

// BenchmarkPairRM reports pairs/s of the tiny PairRM-shaped model.
func BenchmarkPairRM(b *testing.B) {
	p, err := LoadPairRM("testdata/pairrm", false, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	prompts := []string{"What is the capital of France?", "Write a haiku about the sea."}
	a := []string{"Paris is the capital of France.", "Waves fold in silence."}
	c := []string{"Lyon, I believe.", "The sea."}
	for range 3 {
		prompts, a, c = append(prompts, prompts...), append(a, a...), append(c, c...)
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		if _, err := p.Prefer(context.Background(), prompts, a, c); err != nil {
			b.Fatal(err)
		}
		n += len(prompts)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "pairs/s")
}
