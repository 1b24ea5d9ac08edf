package judges

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nashmd/nashmd/hf/chat"
	"github.com/nashmd/nashmd/hf/tokenizer"
	"github.com/nashmd/nashmd/internal/tiny"
	"github.com/nashmd/nashmd/torch"
)

func TestRule(t *testing.T) {
	ctx := context.Background()
	p := []string{"q", "q", "q"}
	for _, c := range []struct {
		mode, word string
		a, b       []string
		want       []float64
	}{
		{"shorter", "", []string{"ab", "abc", "xy<e>"}, []string{"abc", "ab", "zw"}, []float64{1, 0, 0.5}},
		{"longer", "", []string{"ab", "abc", "xy"}, []string{"abc", "ab", "zw"}, []float64{0, 1, 0.5}},
		{"contains", "Paris", []string{"Paris!", "Lyon", "Paris"}, []string{"Rome", "Paris", "in Paris"}, []float64{1, 0, 0.5}},
	} {
		r, err := NewRule(c.mode, c.word, []string{"<e>"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Prefer(ctx, p, c.a, c.b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.mode, got, c.want)
				break
			}
		}
	}
	if _, err := NewRule("wiser", "", nil); err == nil || !strings.Contains(err.Error(), "wiser") {
		t.Errorf("unknown rule: %v", err)
	}
	if _, err := NewRule("contains", "", nil); err == nil {
		t.Error("contains without a word accepted")
	}
	r, _ := NewRule("shorter", "", nil)
	if _, err := r.Prefer(ctx, p, []string{"a"}, []string{"b", "c"}); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

// TestRewardModel: batched, left-padded scoring equals scoring each text
// alone; P = σ(r_a − r_b) with the missing-EOS penalty on scores first.
func TestRewardModel(t *testing.T) {
	dir := t.TempDir()
	if err := tiny.Write(dir); err != nil {
		t.Fatal(err)
	}
	rm, err := torch.LoadLlama(filepath.Join(dir, "reward"), torch.Float32, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	tok, err := tokenizer.Load(filepath.Join(dir, "reward"))
	if err != nil {
		t.Fatal(err)
	}
	penalty := 0.75
	j, err := NewRewardModel(rm, tok, []string{"<|im_end|>"}, &penalty)
	if err != nil {
		t.Fatal(err)
	}
	prompts := []string{"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>user\nA much longer question about the sea?<|im_end|>\n<|im_start|>assistant\n"}
	a := []string{"Hello there.<|im_end|>", "The sea is wide"}
	b := []string{"Hi", "Waves.<|im_end|>"}
	prob, sa, sb, err := j.PreferScores(context.Background(), prompts, a, b)
	if err != nil {
		t.Fatal(err)
	}
	alone := func(text string) float64 {
		s := torch.NewScope()
		defer s.Close()
		ids := tok.Encode(text, false)
		x := make([]int64, len(ids))
		for i, id := range ids {
			x[i] = int64(id)
		}
		v, err := s.Score(rm, s.FromInt64(x, 1, int64(len(x))), nil).Float32s()
		if err != nil {
			t.Fatal(err, s.Err())
		}
		return float64(v[0])
	}
	for i := range prompts {
		ra, rb := alone(prompts[i]+a[i]), alone(prompts[i]+b[i])
		if !strings.HasSuffix(a[i], "<|im_end|>") {
			ra -= penalty
		}
		if !strings.HasSuffix(b[i], "<|im_end|>") {
			rb -= penalty
		}
		want := 1 / (1 + math.Exp(-(ra - rb)))
		if math.Abs(sa[i]-ra) > 1e-5 || math.Abs(sb[i]-rb) > 1e-5 || math.Abs(prob[i]-want) > 1e-6 {
			t.Errorf("row %d: scores %.6f %.6f prob %.6f, want %.6f %.6f %.6f", i, sa[i], sb[i], prob[i], ra, rb, want)
		}
	}
	// Conversations are rendered with the reward model's own template,
	// the completion as the assistant turn without its EOS text.
	tmpl, err := chat.Load(filepath.Join(dir, "reward"))
	if err != nil {
		t.Fatal(err)
	}
	j.Template = tmpl
	convs := [][]chat.Message{{{Role: "user", Content: "Hi"}}}
	cp, ca, _, err := j.PreferConversations(context.Background(), prompts[:1], convs, a[:1], b[:1])
	if err != nil {
		t.Fatal(err)
	}
	rendered, _ := tmpl.Render([]chat.Message{{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello there."}}, false)
	if want := alone(rendered); math.Abs(ca[0]-want) > 1e-5 || !(cp[0] >= 0 && cp[0] <= 1) {
		t.Errorf("conversation score %.6f, want %.6f", ca[0], want)
	}
	// A causal LM is not a reward model.
	pol, err := torch.LoadLlama(filepath.Join(dir, "policy"), torch.Float32, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer pol.Close()
	if _, err := NewRewardModel(pol, tok, nil, nil); err == nil || !strings.Contains(err.Error(), "ForSequenceClassification") {
		t.Errorf("policy as reward model: %v", err)
	}
}

// BenchmarkRewardModel reports pairs/s of the tiny example's reward model
// (2 layers, hidden 64, vocabulary 49,152) on 16 pairs per call.
func BenchmarkRewardModel(b *testing.B) {
	dir := b.TempDir()
	if err := tiny.Write(dir); err != nil {
		b.Fatal(err)
	}
	rm, err := torch.LoadLlama(filepath.Join(dir, "reward"), torch.Float32, torch.CPU)
	if err != nil {
		b.Fatal(err)
	}
	defer rm.Close()
	tok, err := tokenizer.Load(filepath.Join(dir, "reward"))
	if err != nil {
		b.Fatal(err)
	}
	j, err := NewRewardModel(rm, tok, []string{"<|im_end|>"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var prompts, a, c []string
	for i := range 16 {
		prompts = append(prompts, fmt.Sprintf("<|im_start|>user\nQuestion %d about the sea?<|im_end|>\n<|im_start|>assistant\n", i))
		a = append(a, "The sea is wide and deep, and it covers most of the planet.<|im_end|>")
		c = append(c, "Waves.<|im_end|>")
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		if _, err := j.Prefer(context.Background(), prompts, a, c); err != nil {
			b.Fatal(err)
		}
		n += len(prompts)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "pairs/s")
}
