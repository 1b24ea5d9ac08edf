package judges

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nashmd/nashmd/internal/testassets"
)

// same reports whether got equals want element by element, bit for bit.
func same(got, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestExactAnswer: correct = normalised equality (or whole-word containment
// with Contains) with any reference; 1/0/0.5; EOS texts removed; a prompt
// without references is an *ItemError at its index.
func TestExactAnswer(t *testing.T) {
	ctx := context.Background()
	j, err := NewExactAnswer(map[string][]string{
		"capital?": {"Paris"},
		"tower?":   {"The Eiffel Tower", "tour Eiffel"},
		"empty?":   {},
	})
	if err != nil {
		t.Fatal(err)
	}
	j.Strip = []string{"<|im_end|>"}
	for _, c := range []struct {
		name     string
		contains bool
		prompt   string
		a, b     string
		want     float64
	}{
		{"a correct", false, "capital?", "Paris.", "Lyon", 1},
		{"b correct", false, "capital?", "Rome", "  PARIS!<|im_end|>", 0},
		{"both correct", false, "capital?", "paris", "Paris", 0.5},
		{"neither", false, "capital?", "Rome", "Lyon", 0.5},
		{"second reference, article", false, "tower?", "Tour  Eiffel", "Louvre", 1},
		{"article dropped", false, "tower?", "eiffel tower<|im_end|>", "the tower", 1},
		{"special text mid-answer", false, "capital?", "Pa<|im_end|>ris", "Lyon", 1},
		{"no containment without Contains", false, "capital?", "It is Paris.", "Lyon", 0.5},
		{"containment", true, "capital?", "It is Paris, of course.", "Lyon", 1},
		{"whole words only", true, "capital?", "Parisian food", "It is Paris", 0},
		{"multi-word containment", true, "tower?", "Visit the Eiffel Tower today", "Eiffel", 1},
		{"containment both", true, "capital?", "Paris", "Paris!", 0.5},
	} {
		j.Contains = c.contains
		got, err := j.Prefer(ctx, []string{c.prompt}, []string{c.a}, []string{c.b})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got[0] != c.want {
			t.Errorf("%s: P(%q ≻ %q) = %v, want %v", c.name, c.a, c.b, got[0], c.want)
		}
	}
	for _, p := range []string{"unknown?", "empty?"} {
		_, err = j.Prefer(ctx, []string{"capital?", p}, []string{"Paris", "x"}, []string{"Rome", "y"})
		var ie *ItemError
		if !errors.As(err, &ie) || ie.Index != 1 || !strings.Contains(err.Error(), p) {
			t.Errorf("prompt %q without reference: %v, want *ItemError at 1 naming it", p, err)
		}
	}
	if _, err := NewExactAnswer(map[string][]string{"q": {"Paris", "The."}}); err == nil || !strings.Contains(err.Error(), `"The."`) {
		t.Errorf("reference empty after normalisation: %v", err)
	}
	if _, err := j.Prefer(ctx, []string{"capital?"}, []string{"a", "b"}, []string{"c"}); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

// TestNormalizeAnswerGolden compares NormalizeAnswer with SQuAD's
// normalize_answer (testdata/gen_golden.py).
func TestNormalizeAnswerGolden(t *testing.T) {
	var g struct {
		Cases []struct{ Text, Normalized string }
	}
	readJSON(t, filepath.Join("testdata", "squad_normalize.json"), &g)
	if len(g.Cases) < 30 {
		t.Fatalf("%d cases in squad_normalize.json", len(g.Cases))
	}
	for _, c := range g.Cases {
		if got := NormalizeAnswer(c.Text); got != c.Normalized {
			t.Errorf("NormalizeAnswer(%q) = %q, SQuAD gives %q", c.Text, got, c.Normalized)
		}
	}
	// Beyond SQuAD: Unicode punctuation is deleted as well.
	if got := NormalizeAnswer("«Paris» — the city…"); got != "paris city" {
		t.Errorf("Unicode punctuation: got %q", got)
	}
}

// TestRegex: match anywhere after EOS trimming; 1/0/0.5; compile errors name
// the pattern.
func TestRegex(t *testing.T) {
	ctx := context.Background()
	r, err := NewRegex(`^\d+\.$`, []string{"</s>"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Prefer(ctx, repeat("q", 5),
		[]string{"42.</s>", "no", "7.", "x", "12.</s></s>"},
		[]string{"forty-two", "13.</s>", "8.", "y", "12.</s>x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1, 0, 0.5, 0.5, 1}; !same(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	r, _ = NewRegex(`(?i)answer`, nil)
	got, _ = r.Prefer(ctx, repeat("q", 2), []string{"The ANSWER is", "none"}, []string{"nothing", "an answer"})
	if want := []float64{1, 0}; !same(got, want) {
		t.Errorf("unanchored: got %v, want %v", got, want)
	}
	if _, err := NewRegex(`a(b`, nil); err == nil || !strings.Contains(err.Error(), "a(b") {
		t.Errorf("bad pattern: %v", err)
	}
	if _, err := r.Prefer(ctx, []string{"q"}, []string{"a"}, nil); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

// TestLength: rune counts after repeated EOS trimming; |d| ≤ margin is a tie.
func TestLength(t *testing.T) {
	ctx := context.Background()
	a := []string{"abc", "abcdef", "ab<e><e>", "日本語", "abcd", "a"}
	b := []string{"abcdef", "abc", "abcd", "abcd", "ab", "a<e>"}
	for _, c := range []struct {
		prefer string
		margin int
		want   []float64
	}{
		{"shorter", 0, []float64{1, 0, 1, 1, 0, 0.5}},
		{"longer", 0, []float64{0, 1, 0, 0, 1, 0.5}},
		{"shorter", 1, []float64{1, 0, 1, 0.5, 0, 0.5}},
		{"shorter", 2, []float64{1, 0, 0.5, 0.5, 0.5, 0.5}},
		{"longer", 3, []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}},
	} {
		l, err := NewLength(c.prefer, c.margin, []string{"<e>"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.Prefer(ctx, repeat("q", len(a)), a, b)
		if err != nil {
			t.Fatal(err)
		}
		if !same(got, c.want) {
			t.Errorf("%s margin %d: got %v, want %v", c.prefer, c.margin, got, c.want)
		}
	}
	if _, err := NewLength("shorter", -1, nil); err == nil {
		t.Error("negative margin accepted")
	}
	if _, err := NewLength("wiser", 0, nil); err == nil || !strings.Contains(err.Error(), "wiser") {
		t.Errorf("unknown preference: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	l, _ := NewLength("shorter", 0, nil)
	if _, err := l.Prefer(cancelled, []string{"q"}, []string{"a"}, []string{"b"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// tinyVader is a lexicon for the rule tests below; its expected scores are
// worked out by hand from VADER's published constants, not by running the
// code.
func tinyVader(t *testing.T) *Vader {
	t.Helper()
	v, err := ParseVader(strings.NewReader("good\t1.9\t0.9\t[2, 2]\nbad\t-2.5\t0.6\t[-2]\nhappy\t2.7\t0.5\t[3]\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func vaderNorm(s float64) float64 { return s / math.Sqrt(s*s+15) }

// TestVaderRules checks each VADER rule on a three-word lexicon.
func TestVaderRules(t *testing.T) {
	v := tinyVader(t)
	for _, c := range []struct {
		text string
		sum  float64 // valence sum before normalisation
	}{
		{"good", 1.9},
		{"The food is good.", 1.9},
		{"The food is not good", 1.9 * -0.74},
		{"The food isn't good", 1.9 * -0.74},
		{"not the good one", 1.9 * -0.74},        // negation two words before
		{"never the pleasant good", 1.9 * -0.74}, // three words before
		{"The food is very good", 1.9 + 0.293},
		{"The food is slightly good", 1.9 - 0.293},
		{"The food is very bad", -2.5 - 0.293},
		{"very much good", 1.9 + 0.293*0.95},
		{"The food is GOOD", 1.9 + 0.733},
		{"The food is BAD", -2.5 - 0.733},
		{"GOOD FOOD", 1.9}, // all caps: no emphasis
		{"good!", 1.9 + 0.292},
		{"good !!!!!!", 1.9 + 4*0.292},
		{"good!!!!", 0}, // "!!!!" is not in PUNC_LIST: the token stays "good!!!!"
		{"bad!!", -2.5 - 2*0.292},
		{"good??", 1.9 + 2*0.18},
		{"good ????", 1.9 + 0.96},
		{"bad but good", -2.5*0.5 + 1.9*1.5},
		{"good, but bad", 1.9*0.5 + -2.5*1.5},
		{"least good", 1.9 * -0.74},
		{"at least good", 1.9},
		{"the kind of good", 1.9 - 0.293},
		{"good bad happy", 1.9 - 2.5 + 2.7},
		{"", 0},
		{"a ? !", 0},
		{"nothing here", 0},
	} {
		want := vaderNorm(c.sum)
		if got := v.Compound(c.text); math.Abs(got-want) > 1e-12 {
			t.Errorf("Compound(%q) = %v, want %v (sum %v)", c.text, got, want, c.sum)
		}
	}
	if _, err := ParseVader(strings.NewReader("good 1.9\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("line without tab: %v", err)
	}
	if _, err := ParseVader(strings.NewReader("good\tx\n")); err == nil {
		t.Error("bad valence accepted")
	}
	if _, err := ParseVader(strings.NewReader("")); err == nil {
		t.Error("empty lexicon accepted")
	}
	if _, err := LoadVader(filepath.Join(t.TempDir(), "missing.txt")); err == nil {
		t.Error("missing file accepted")
	}
}

// TestLexicon: P = σ(K·(s_a − s_b)) with signed compound scores; ties give
// 0.5; EOS texts are trimmed before scoring.
func TestLexicon(t *testing.T) {
	ctx := context.Background()
	v := tinyVader(t)
	l, err := NewLexicon(v, "positive", []string{"<e>"})
	if err != nil {
		t.Fatal(err)
	}
	if l.K != 10 {
		t.Errorf("default K = %v, want 10", l.K)
	}
	a := []string{"so good", "bad", "good<e>", "fine"}
	b := []string{"bad", "happy", "good", "okay"}
	prob, sa, sb, err := l.PreferScores(ctx, repeat("q", 4), a, b)
	if err != nil {
		t.Fatal(err)
	}
	sigma := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	wantA := []float64{vaderNorm(1.9 + 0.293), vaderNorm(-2.5), vaderNorm(1.9), 0}
	wantB := []float64{vaderNorm(-2.5), vaderNorm(2.7), vaderNorm(1.9), 0}
	for i := range a {
		want := sigma(10 * (wantA[i] - wantB[i]))
		if math.Abs(sa[i]-wantA[i]) > 1e-12 || math.Abs(sb[i]-wantB[i]) > 1e-12 || math.Abs(prob[i]-want) > 1e-12 {
			t.Errorf("item %d: scores %v %v prob %v, want %v %v %v", i, sa[i], sb[i], prob[i], wantA[i], wantB[i], want)
		}
	}
	if prob[2] != 0.5 || prob[3] != 0.5 {
		t.Errorf("ties: %v %v, want exactly 0.5", prob[2], prob[3])
	}
	neg, _ := NewLexicon(v, "negative", []string{"<e>"})
	neg.K = 2
	p2, err := neg.Prefer(ctx, repeat("q", 4), a, b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if want := sigma(-2 * (wantA[i] - wantB[i])); math.Abs(p2[i]-want) > 1e-12 {
			t.Errorf("negative, item %d: %v, want %v", i, p2[i], want)
		}
	}
	noStrip, _ := NewLexicon(v, "positive", nil) // "good<e>" is then an unknown token
	if p, _ := noStrip.Prefer(ctx, []string{"q"}, []string{"good<e>"}, []string{"good"}); p[0] >= 0.5 {
		t.Errorf("without Strip: %v, want < 0.5", p[0])
	}
	if _, err := NewLexicon(v, "neutral", nil); err == nil || !strings.Contains(err.Error(), "neutral") {
		t.Errorf("unknown preference: %v", err)
	}
	if _, err := NewLexicon(nil, "positive", nil); err == nil {
		t.Error("nil lexicon accepted")
	}
	for _, k := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		l.K = k
		if _, err := l.Prefer(ctx, []string{"q"}, []string{"a"}, []string{"b"}); err == nil {
			t.Errorf("K = %v accepted", k)
		}
	}
}

// TestVaderGolden compares Compound with the npm package vader-sentiment's
// own polarity_scores (testdata/gen_vader.mjs) on every sentence, unrounded
// within 1e-6 and rounded to 4 decimals as the package publishes it.
func TestVaderGolden(t *testing.T) {
	v, err := LoadVader(testassets.Path(t, "vader/vader_lexicon.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Package string
		Cases   []struct {
			Text        string
			Compound    float64
			CompoundRaw float64 `json:"compound_raw"`
		}
	}
	readJSON(t, filepath.Join("testdata", "vader_golden.json"), &g)
	if g.Package != "vader-sentiment@1.1.3" || len(g.Cases) < 200 {
		t.Fatalf("golden: package %q, %d cases", g.Package, len(g.Cases))
	}
	exact, nonzero, maxDiff := 0, 0, 0.0
	for _, c := range g.Cases {
		got := v.Compound(c.Text)
		d := math.Abs(got - c.CompoundRaw)
		maxDiff = max(maxDiff, d)
		if got == c.CompoundRaw {
			exact++
		}
		if c.CompoundRaw != 0 {
			nonzero++
		}
		if d > 1e-6 {
			t.Errorf("Compound(%q) = %v, vader-sentiment gives %v", c.Text, got, c.CompoundRaw)
		}
		if r, _ := strconv.ParseFloat(strconv.FormatFloat(got, 'f', 4, 64), 64); r != c.Compound {
			t.Errorf("Compound(%q) rounds to %v, vader-sentiment publishes %v", c.Text, r, c.Compound)
		}
	}
	t.Logf("%d sentences (%d non-zero): %d bit-exact, max |Δ| = %g", len(g.Cases), nonzero, exact, maxDiff)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
