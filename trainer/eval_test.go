package trainer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nashmd/nashmd/hf/chat"
	"github.com/nashmd/nashmd/judges"
	"github.com/nashmd/nashmd/torch"
)

// wordDecode writes token id as a two-letter word and a space ("bc "), so
// that rune length is 3 per token and ExactAnswer sees whole words (never an
// article: the first letter is b…e).
func wordDecode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteByte(byte('b' + id/26))
		b.WriteByte(byte('a' + id%26))
		b.WriteByte(' ')
	}
	return b.String()
}

// evalPrompts are 12 prompts of 3 to 7 tokens with distinct texts.
func evalPrompts() []Example {
	var ps []Example
	for i := range 12 {
		ids := []int64{1}
		for j := range 2 + i%5 {
			ids = append(ids, int64(4+(i*37+j*11)%90))
		}
		ps = append(ps, Example{Row: int64(100 + i), Text: fmt.Sprintf("prompt %d", i), IDs: ids})
	}
	return ps
}

// soloGreedy generates for one prompt alone (no batch, no padding) and
// returns the completion's ids through EOS.
func soloGreedy(t *testing.T, m *torch.Model, ids []int64, maxNew int, eos []int64) []int {
	t.Helper()
	s := torch.NewScope()
	defer s.Close()
	var y, ym *torch.Tensor
	if err := torch.NoGrad(func() error {
		y, ym = s.Generate(m, s.FromInt64(ids, 1, int64(len(ids))), nil, torch.GenConfig{MaxNewTokens: maxNew, Greedy: true, EOS: eos}, nil)
		return s.Err()
	}); err != nil {
		t.Fatal(err)
	}
	v, _ := y.Int64s()
	mk, _ := ym.Int64s()
	var out []int
	for j := range v {
		if mk[j] == 1 {
			out = append(out, int(v[j]))
		}
	}
	return out
}

// TestEvaluateTiny: greedy completions of two tiny models judged "shorter
// wins" (EOS text stripped). The expected outcome of every prompt is worked
// out from each prompt generated alone (no batching, no padding) with the
// rule applied by hand; the counts, rates, accuracies and the pairs file
// must agree with it.
func TestEvaluateTiny(t *testing.T) {
	pol, ref := loadTiny(t, "qwen2_tiny"), loadTiny(t, "llama_tiny_tied")
	// Token 60 is frequent in the policy's greedy completions and 95 in the
	// reference's: as EOS they make completion lengths differ.
	eos := []int64{60, 95}
	const maxNew = 12
	prompts := evalPrompts()
	rule, err := judges.NewRule("shorter", "", []string{wordDecode([]int{60}), wordDecode([]int{95})})
	if err != nil {
		t.Fatal(err)
	}

	// By hand: lengths without EOS, and answers = the policy's second word
	// for even prompts (the reference's first word for prompt 3; none for
	// odd prompts otherwise).
	answers := map[string][]string{}
	var wins, losses, ties, withRef, polOK, refOK int
	sumP := 0.0
	type want struct {
		pol, ref string
		p        float64
		pc, rc   *bool
	}
	wants := make([]want, len(prompts))
	for i, x := range prompts {
		a, b := soloGreedy(t, pol, x.IDs, maxNew, eos), soloGreedy(t, ref, x.IDs, maxNew, eos)
		la, lb := len(a), len(b)
		if la > 0 && slices.Contains(eos, int64(a[la-1])) {
			la--
		}
		if lb > 0 && slices.Contains(eos, int64(b[lb-1])) {
			lb--
		}
		w := want{pol: wordDecode(a[:la]), ref: wordDecode(b[:lb])}
		switch {
		case la < lb:
			w.p, wins = 1, wins+1
		case la > lb:
			w.p, losses = 0, losses+1
		default:
			w.p, ties = 0.5, ties+1
		}
		sumP += w.p
		var ans string
		switch {
		case i == 3 && lb > 0:
			ans = wordDecode(b[:1])
		case i%2 == 0 && la > 1:
			ans = wordDecode(a[1:2])
		}
		if ans != "" {
			answers[x.Text] = []string{strings.ToUpper(strings.TrimSpace(ans)) + "."} // normalisation must undo case and punctuation
			has := func(words string) *bool {
				v := slices.Contains(strings.Fields(words), strings.TrimSpace(ans))
				return &v
			}
			w.pc, w.rc = has(w.pol), has(w.ref)
			withRef++
			if *w.pc {
				polOK++
			}
			if *w.rc {
				refOK++
			}
		}
		wants[i] = w
	}
	t.Logf("by hand: %d wins, %d losses, %d ties; accuracy %d/%d vs %d/%d", wins, losses, ties, polOK, withRef, refOK, withRef)
	if wins == 0 || losses == 0 || ties == 0 || polOK == 0 || refOK == withRef {
		t.Fatalf("the fixture no longer exercises every outcome")
	}

	dir := t.TempDir()
	pairsPath := filepath.Join(dir, "sub", "pairs.jsonl")
	var progress [][2]int
	r, err := Evaluate(context.Background(), EvalConfig{
		Policy: pol, Reference: ref, Judge: rule, Swap: true, Prompts: prompts, Answers: answers,
		Decode: wordDecode, MaxNewTokens: maxNew, BatchSize: 5, EOS: eos, PadID: 0, PairsPath: pairsPath,
		Progress: func(done, total int) { progress = append(progress, [2]int{done, total}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 12 || r.Wins != wins || r.Losses != losses || r.Ties != ties {
		t.Errorf("n/wins/losses/ties = %d/%d/%d/%d, want 12/%d/%d/%d", r.N, r.Wins, r.Losses, r.Ties, wins, losses, ties)
	}
	if want := float64(wins) / float64(wins+losses); r.WinRate != want {
		t.Errorf("win rate %v, want %v", r.WinRate, want)
	}
	lo, hi := ClopperPearson(wins, wins+losses, 0.05)
	if r.WinRateCI != (Interval{lo, hi}) {
		t.Errorf("win rate interval %v, want [%v, %v]", r.WinRateCI, lo, hi)
	}
	if math.Abs(r.MeanProb-sumP/12) > 1e-15 {
		t.Errorf("mean probability %v, want %v", r.MeanProb, sumP/12)
	}
	if !r.Swapped {
		t.Errorf("Swapped = false for a Rule judge with Swap")
	}
	if r.Accuracy == nil || r.Accuracy.K != polOK || r.Accuracy.N != withRef || r.RefAccuracy.K != refOK || r.RefAccuracy.N != withRef {
		t.Errorf("accuracy %+v vs ref %+v, want %d/%d vs %d/%d", r.Accuracy, r.RefAccuracy, polOK, withRef, refOK, withRef)
	}
	if slices.Compare(progressDone(progress), []int{5, 10, 12}) != 0 || progress[0][1] != 12 {
		t.Errorf("progress calls %v, want done 5, 10, 12 of 12", progress)
	}
	for i, p := range r.Pairs {
		w := wants[i]
		if p.Row != prompts[i].Row || p.Prompt != prompts[i].Text || p.Policy != w.pol || p.Reference != w.ref || p.P != w.p {
			t.Errorf("pair %d = %+v, want policy %q reference %q p %v", i, p, w.pol, w.ref, w.p)
		}
		if !eqBoolPtr(p.PolicyCorrect, w.pc) || !eqBoolPtr(p.ReferenceCorrect, w.rc) {
			t.Errorf("pair %d correct flags %v/%v, want %v/%v", i, fmtBool(p.PolicyCorrect), fmtBool(p.ReferenceCorrect), fmtBool(w.pc), fmtBool(w.rc))
		}
	}

	// The pairs file holds the same pairs, one JSON object per line.
	f, err := os.Open(pairsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for ; sc.Scan(); n++ {
		var got map[string]any
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		w := wants[n]
		if got["prompt"] != prompts[n].Text || got["policy"] != w.pol || got["reference"] != w.ref || got["p"] != w.p {
			t.Errorf("pairs.jsonl line %d = %v", n+1, got)
		}
		if _, ok := got["policy_correct"]; ok != (w.pc != nil) {
			t.Errorf("pairs.jsonl line %d: policy_correct present = %v, want %v", n+1, ok, w.pc != nil)
		}
	}
	if n != 12 {
		t.Errorf("pairs.jsonl has %d lines, want 12", n)
	}
}

func progressDone(p [][2]int) []int {
	var out []int
	for _, x := range p {
		out = append(out, x[0])
	}
	return out
}

func eqBoolPtr(a, b *bool) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func fmtBool(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}

// TestSummarizeByHand: counts, win rate (ties left out), mean probability
// and accuracies of fixed outcomes against values worked out by hand, with
// the closed-form Clopper–Pearson bounds of n = 2.
func TestSummarizeByHand(t *testing.T) {
	yes, no := true, false
	pairs := []EvalPair{
		{P: 1, PolicyCorrect: &yes, ReferenceCorrect: &no},
		{P: 0.5},
		{P: 0.2, PolicyCorrect: &yes, ReferenceCorrect: &no},
		{P: 0.5},
		{P: 0.5},
	}
	r := summarize(pairs, true)
	if r.N != 5 || r.Wins != 1 || r.Losses != 1 || r.Ties != 3 {
		t.Fatalf("n/wins/losses/ties = %d/%d/%d/%d, want 5/1/1/3", r.N, r.Wins, r.Losses, r.Ties)
	}
	near := func(what string, got, want float64) {
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %.15g, want %.15g", what, got, want)
		}
	}
	near("win rate", r.WinRate, 0.5)
	// k = 1, n = 2: 1−(1−lo)² = 0.025 and 1−hi² = 0.025.
	near("win rate lo", r.WinRateCI.Lo, 1-math.Sqrt(0.975))
	near("win rate hi", r.WinRateCI.Hi, math.Sqrt(0.975))
	near("mean prob", r.MeanProb, (1+0.5+0.2+0.5+0.5)/5)
	// Policy 2/2: lo = 0.025^(1/2), hi = 1. Reference 0/2: lo = 0, hi = 1 − 0.025^(1/2).
	if r.Accuracy.K != 2 || r.Accuracy.N != 2 || r.RefAccuracy.K != 0 || r.RefAccuracy.N != 2 {
		t.Fatalf("accuracies %+v %+v", r.Accuracy, r.RefAccuracy)
	}
	near("accuracy", r.Accuracy.Rate, 1)
	near("accuracy lo", r.Accuracy.CI.Lo, math.Sqrt(0.025))
	near("accuracy hi", r.Accuracy.CI.Hi, 1)
	near("ref accuracy", r.RefAccuracy.Rate, 0)
	near("ref accuracy hi", r.RefAccuracy.CI.Hi, 1-math.Sqrt(0.025))

	// Only ties: no evidence either way.
	r = summarize([]EvalPair{{P: 0.5}, {P: 0.5}}, false)
	if r.WinRate != 0.5 || r.WinRateCI != (Interval{0, 1}) || r.Accuracy != nil {
		t.Errorf("all ties: win rate %v %v, accuracy %v; want 0.5 [0, 1] nil", r.WinRate, r.WinRateCI, r.Accuracy)
	}
	// 3 wins, 0 losses: lo = 0.025^(1/3).
	r = summarize([]EvalPair{{P: 0.9}, {P: 0.51}, {P: 1}}, false)
	near("3/3 lo", r.WinRateCI.Lo, math.Cbrt(0.025))
}

// biased prefers whichever completion it is shown first (P = 0.8) and
// records how it was called.
type biased struct {
	conv, plain atomic.Int64 // Swap calls both orders concurrently
}

func (b *biased) Prefer(ctx context.Context, prompts, x, y []string) ([]float64, error) {
	b.plain.Add(1)
	return fill(len(x), 0.8), nil
}

func (b *biased) PreferConversations(ctx context.Context, prompts []string, convs [][]chat.Message, x, y []string) ([]float64, []float64, []float64, error) {
	b.conv.Add(1)
	if len(convs) != len(x) {
		return nil, nil, nil, fmt.Errorf("%d conversations for %d pairs", len(convs), len(x))
	}
	return fill(len(x), 0.8), nil, nil, nil
}

func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// scoring is a Scorer: P = σ(s_a − s_b) with the score the rune length.
type scoring struct{}

func (scoring) Prefer(ctx context.Context, prompts, x, y []string) ([]float64, error) {
	p, _, _, err := scoring{}.PreferScores(ctx, prompts, x, y)
	return p, err
}

func (scoring) PreferScores(ctx context.Context, prompts, x, y []string) (p, sx, sy []float64, err error) {
	for i := range x {
		a, b := float64(len(x[i])), float64(len(y[i]))
		sx, sy = append(sx, a), append(sy, b)
		p = append(p, 1/(1+math.Exp(b-a)))
	}
	return p, sx, sy, nil
}

// TestEvaluateJudgeCalls: Swap removes a position bias (P = 0.8 both ways
// becomes 0.5), conversations reach a ConversationJudge (also through
// Swap), and a Scorer is not swapped and reports its scores.
func TestEvaluateJudgeCalls(t *testing.T) {
	pol := loadTiny(t, "qwen2_tiny")
	prompts := evalPrompts()[:4]
	base := EvalConfig{Policy: pol, Reference: pol, Prompts: prompts, Decode: wordDecode, MaxNewTokens: 3, EOS: []int64{2}}

	for _, swap := range []bool{false, true} {
		b := &biased{}
		c := base
		c.Judge, c.Swap = b, swap
		r, err := Evaluate(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]float64{false: 0.8, true: 0.5}[swap]
		if r.MeanProb != want || r.Swapped != swap || b.plain.Load() == 0 || b.conv.Load() != 0 {
			t.Errorf("swap=%v: mean P %v (want %v), Swapped %v, calls plain %d conv %d", swap, r.MeanProb, want, r.Swapped, b.plain.Load(), b.conv.Load())
		}
	}

	conv := slices.Clone(prompts)
	for i := range conv {
		conv[i].Messages = []chat.Message{{Role: "user", Content: conv[i].Text}}
	}
	b := &biased{}
	c := base
	c.Judge, c.Swap, c.Prompts = b, true, conv
	if _, err := Evaluate(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if b.conv.Load() != 2 || b.plain.Load() != 0 {
		t.Errorf("conversations: calls conv %d plain %d, want 2 and 0 (one batch, both orders)", b.conv.Load(), b.plain.Load())
	}

	c = base
	c.Judge, c.Swap = scoring{}, true
	r, err := Evaluate(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Swapped || r.MeanPolicyScore == nil || *r.MeanPolicyScore != 9 || *r.MeanRefScore != 9 || r.Ties != 4 {
		t.Errorf("scorer: swapped %v, scores %v %v, ties %d; want false, 9, 9 (3 tokens × 3 runes), 4", r.Swapped, r.MeanPolicyScore, r.MeanRefScore, r.Ties)
	}
}

// TestEvaluateSampling: with temperature > 0 both models get generators
// seeded alike, so a model against itself samples the same completions
// (all ties), and they differ from the greedy ones for some prompt.
func TestEvaluateSampling(t *testing.T) {
	pol := loadTiny(t, "qwen2_tiny")
	rule, _ := judges.NewRule("longer", "", nil)
	c := EvalConfig{Policy: pol, Reference: pol, Judge: rule, Prompts: evalPrompts(), Decode: wordDecode, MaxNewTokens: 6, EOS: []int64{2}, Temperature: 1, Seed: 7, BatchSize: 4}
	r, err := Evaluate(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	c.Temperature = 0
	g, err := Evaluate(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	differ := false
	for i, p := range r.Pairs {
		if p.Policy != p.Reference {
			t.Errorf("prompt %d: the same model sampled %q and %q", i, p.Policy, p.Reference)
		}
		differ = differ || p.Policy != g.Pairs[i].Policy
	}
	if r.Ties != r.N || !differ {
		t.Errorf("ties %d of %d; sampled differ from greedy: %v", r.Ties, r.N, differ)
	}
}

// TestEvaluateBadConfig: each problem is reported, nothing is generated.
func TestEvaluateBadConfig(t *testing.T) {
	pol := loadTiny(t, "qwen2_tiny")
	rule, _ := judges.NewRule("shorter", "", nil)
	ok := EvalConfig{Policy: pol, Reference: pol, Judge: rule, Prompts: evalPrompts()[:2], Decode: wordDecode}
	cases := []struct {
		name string
		edit func(*EvalConfig)
		want string
	}{
		{"no judge", func(c *EvalConfig) { c.Judge = nil }, "a judge is required"},
		{"no models", func(c *EvalConfig) { c.Reference = nil }, "models are required"},
		{"no prompts", func(c *EvalConfig) { c.Prompts = nil }, "no prompts"},
		{"no decoder", func(c *EvalConfig) { c.Decode = nil }, "tokenizer or a Decode"},
		{"batch", func(c *EvalConfig) { c.BatchSize = -1 }, "batch_size -1"},
		{"answers keyed wrongly", func(c *EvalConfig) { c.Answers = map[string][]string{"other": {"x"}} }, "none of the 2 prompts has a reference answer"},
		{"empty answer", func(c *EvalConfig) { c.Answers = map[string][]string{"prompt 0": {"the"}} }, "empty after normalisation"},
	}
	for _, tc := range cases {
		c := ok
		tc.edit(&c)
		if _, err := Evaluate(context.Background(), c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

// TestEvalFile: defaults, a full file, overrides (merged into
// judge.options), strict decoding with positions, and validation.
func TestEvalFile(t *testing.T) {
	d := DefaultEvalFile()
	if d.MaxNewTokens != 64 || d.Temperature != 0 || d.BatchSize != 16 || !d.Swap || d.Output != "pairs.jsonl" || d.Report != "" || d.Dataset.Split != "train" {
		t.Errorf("defaults %+v", d)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	data := write("d.jsonl", `{"prompt": "x"}`+"\n")
	model := filepath.Join("..", "torch", "testdata", "models", "qwen2_tiny")
	path := write("eval.toml", fmt.Sprintf(`model = %q
reference = %q
answers = %q
max_new_tokens = 12
max_length = 100
temperature = 0.7
top_p = 0.9
top_k = 5
seed = 3
batch_size = 4
swap = false
max_prompts = 9
missing_eos_penalty = 1.5
threads = 2
output = "p.jsonl"
report = "r.json"
[judge]
kind = "length"
[judge.options]
prefer = "longer"
[dataset]
path = %q
column = "q"
`, model, model, data, data))
	e, err := ParseEvalFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Set("judge.options.margin", "2"); err != nil {
		t.Fatal(err)
	}
	if err := e.Set("report", "/tmp/x y.json"); err != nil { // not TOML: taken as a string
		t.Fatal(err)
	}
	if e.MaxNewTokens != 12 || e.MaxLength != 100 || e.Temperature != 0.7 || e.TopP != 0.9 || e.TopK != 5 || e.Seed != 3 ||
		e.BatchSize != 4 || e.Swap || e.MaxPrompts != 9 || *e.MissingEOSPenalty != 1.5 || e.Threads != 2 || e.Output != "p.jsonl" ||
		e.Report != "/tmp/x y.json" || e.Judge.Kind != "length" || e.Judge.Options["prefer"] != "longer" || e.Judge.Options["margin"] != int64(2) ||
		e.Dataset.Column != "q" || e.Dataset.Split != "train" {
		t.Errorf("parsed %+v", e)
	}
	if err := e.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	before := e.clone()
	err = e.Set("batch_size", `"four"`)
	if err == nil || err.Error() != `--set batch_size="four": batch_size: wrong type: want integer, got string` || e.BatchSize != before.BatchSize {
		t.Errorf("bad override: %v (batch_size now %d)", err, e.BatchSize)
	}

	_, err = ParseEvalFile(write("bad.toml", "model = \"m\"\n[judge]\nkind = \"rule\"\nwho = 1\n"))
	if err == nil || err.Error() != filepath.Join(dir, "bad.toml")+":4:1: judge.who: unknown key" {
		t.Errorf("unknown key: %v", err)
	}
	e = DefaultEvalFile()
	e.Temperature, e.TopP, e.MaxNewTokens, e.MaxLength = -1, 0, 10, 10
	msg := fmt.Sprint(e.Validate())
	for _, want := range []string{"model: required", "reference: required", "judge.kind: required", "dataset.path: required",
		"temperature: value -1", "top_p: value 0", "max_new_tokens: value 10 must be < max_length (10)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Validate: %q lacks %q", msg, want)
		}
	}
}
