package judges

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"sync/atomic"
	"testing"
)

// fixedJudge returns the same probabilities for any input.
type fixedJudge []float64

func (f fixedJudge) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	return append([]float64(nil), f...), nil
}

// failJudge fails item Index.
type failJudge struct{ index int }

func (f failJudge) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	return nil, &ItemError{Index: f.index, Err: errors.New("boom")}
}

// countJudge counts its calls and returns 0.5 for each item.
type countJudge struct{ calls atomic.Int64 }

func (c *countJudge) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	c.calls.Add(1)
	out := make([]float64, len(a))
	for i := range out {
		out[i] = 0.5
	}
	return out, nil
}

// biasedJudge returns an order-dependent probability from a hash of (a, b):
// P(a ≻ b) and P(b ≻ a) are unrelated, so Swap has real work to do. A few
// inputs map to the extremes and to tiny values.
type biasedJudge struct{}

func (biasedJudge) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	out := make([]float64, len(a))
	for i := range a {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%s", a[i], b[i])
		x := h.Sum64()
		switch x % 16 {
		case 0:
			out[i] = 0
		case 1:
			out[i] = 1
		case 2:
			out[i] = math.Ldexp(float64(x>>11), -53-int(x%900)) // tiny, down to subnormal
		case 3:
			out[i] = 1 - math.Ldexp(1, -53)
		default:
			out[i] = float64(x>>11) / (1 << 53)
		}
	}
	return out, nil
}

// TestWeighted: the weighted mean of the inner probabilities with
// normalised weights; zero weights skip the judge; validation; errors name
// the failing judge and keep *ItemError.
func TestWeighted(t *testing.T) {
	ctx := context.Background()
	p, a, b := repeat("q", 3), repeat("x", 3), repeat("y", 3)
	j1 := fixedJudge{1, 0, 0.5}
	j2 := fixedJudge{0, 0, 1}
	got, err := Weighted{Judges: []Judge{j1, j2}, Weights: []float64{3, 1}}.Prefer(ctx, p, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0.75, 0, 0.625}; !same(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	scaled, _ := Weighted{Judges: []Judge{j1, j2}, Weights: []float64{6, 2}}.Prefer(ctx, p, a, b)
	if !same(scaled, got) {
		t.Errorf("weights ×2 changed the result: %v vs %v", scaled, got)
	}
	thirds, _ := Weighted{Judges: []Judge{fixedJudge{1, 1, 1}, fixedJudge{1, 1, 1}, fixedJudge{1, 1, 1}}, Weights: []float64{1, 1, 1}}.Prefer(ctx, p, a, b)
	for _, x := range thirds {
		if x > 1 {
			t.Errorf("mean of ones is %v > 1", x)
		}
	}

	skipped := new(countJudge)
	called := new(countJudge)
	w, err := NewWeighted([]Judge{skipped, called, failJudge{0}}, []float64{0, 1, 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Prefer(ctx, p, a, b); err != nil {
		t.Fatal(err)
	}
	if skipped.calls.Load() != 0 || called.calls.Load() != 1 {
		t.Errorf("calls: zero-weight %d, weighted %d; want 0 and 1", skipped.calls.Load(), called.calls.Load())
	}

	_, err = Weighted{Judges: []Judge{j1, failJudge{2}}, Weights: []float64{1, 1}}.Prefer(ctx, p, a, b)
	var ie *ItemError
	if !errors.As(err, &ie) || ie.Index != 2 || !strings.Contains(err.Error(), "judge 1") {
		t.Errorf("inner failure: %v, want *ItemError at 2 from judge 1", err)
	}
	_, err = Weighted{Judges: []Judge{fixedJudge{0.5, 1.5, 0}}, Weights: []float64{1}}.Prefer(ctx, p, a, b)
	if !errors.As(err, &ie) || ie.Index != 1 {
		t.Errorf("probability 1.5: %v, want *ItemError at 1", err)
	}
	if _, err = (Weighted{Judges: []Judge{fixedJudge{0.5}}, Weights: []float64{1}}).Prefer(ctx, p, a, b); err == nil {
		t.Error("inner result of the wrong length accepted")
	}

	for name, c := range map[string]struct {
		judges  []Judge
		weights []float64
	}{
		"no judges":      {nil, nil},
		"count mismatch": {[]Judge{j1, j2}, []float64{1}},
		"negative":       {[]Judge{j1, j2}, []float64{1, -0.5}},
		"NaN":            {[]Judge{j1}, []float64{math.NaN()}},
		"infinite":       {[]Judge{j1, j2}, []float64{math.Inf(1), 1}},
		"all zero":       {[]Judge{j1, j2}, []float64{0, 0}},
		"nil judge":      {[]Judge{j1, nil}, []float64{1, 1}},
		"sum overflows":  {[]Judge{j1, j2}, []float64{math.MaxFloat64, math.MaxFloat64}},
	} {
		if _, err := NewWeighted(c.judges, c.weights); err == nil {
			t.Errorf("%s: NewWeighted accepted", name)
		}
		if _, err := (Weighted{Judges: c.judges, Weights: c.weights}).Prefer(ctx, p, a, b); err == nil {
			t.Errorf("%s: Prefer accepted", name)
		}
	}
}

// TestSwap: Swap(a, b) + Swap(b, a) == 1 bit for bit; the value is the
// mean of P(a ≻ b) and 1 − P(b ≻ a); errors name the order.
func TestSwap(t *testing.T) {
	ctx := context.Background()
	const n = 20000
	p, a, b := make([]string, n), make([]string, n), make([]string, n)
	for i := range a {
		p[i], a[i], b[i] = "q", fmt.Sprint("a", i), fmt.Sprint("b", i*7)
	}
	b[0] = a[0] // a completion against itself
	s := Swap{Judge: biasedJudge{}}
	ab, err := s.Prefer(ctx, p, a, b)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := s.Prefer(ctx, p, b, a)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := biasedJudge{}.Prefer(ctx, p, a, b)
	y, _ := biasedJudge{}.Prefer(ctx, p, b, a)
	for i := range ab {
		if ab[i]+ba[i] != 1 {
			t.Fatalf("item %d: Swap(a,b) + Swap(b,a) = %v + %v = %v ≠ 1", i, ab[i], ba[i], ab[i]+ba[i])
		}
		if want := (x[i] + 1 - y[i]) / 2; math.Abs(ab[i]-want) > 1e-15 || ab[i] < 0 || ab[i] > 1 {
			t.Fatalf("item %d: Swap = %v, want (%v + 1 − %v)/2 = %v", i, ab[i], x[i], y[i], want)
		}
	}
	if ab[0] != 0.5 {
		t.Errorf("a against itself: %v, want 0.5", ab[0])
	}

	// A judge that answers the same whichever way round (pure position
	// bias) averages out to 0.5.
	got, _ := Swap{Judge: fixedJudge{0.25, 1, 0.5}}.Prefer(ctx, repeat("q", 3), repeat("x", 3), repeat("y", 3))
	if want := []float64{0.5, 0.5, 0.5}; !same(got, want) {
		t.Errorf("order-blind judge: got %v, want %v", got, want)
	}
	// A judge without position bias (P(b ≻ a) = 1 − P(a ≻ b)) is unchanged.
	l, _ := NewLength("shorter", 0, nil)
	got, _ = Swap{Judge: l}.Prefer(ctx, repeat("q", 3), []string{"a", "abc", "ab"}, []string{"abc", "a", "xy"})
	if want := []float64{1, 0, 0.5}; !same(got, want) {
		t.Errorf("unbiased judge: got %v, want %v", got, want)
	}

	_, err = Swap{Judge: failJudge{1}}.Prefer(ctx, repeat("q", 2), repeat("x", 2), repeat("y", 2))
	var ie *ItemError
	if !errors.As(err, &ie) || ie.Index != 1 || !strings.Contains(err.Error(), "order") {
		t.Errorf("inner failure: %v, want *ItemError at 1 naming the order", err)
	}
	if _, err := (Swap{}).Prefer(ctx, nil, nil, nil); err == nil {
		t.Error("nil judge accepted")
	}
	if _, err := (Swap{Judge: fixedJudge{math.NaN()}}).Prefer(ctx, []string{"q"}, []string{"x"}, []string{"y"}); err == nil {
		t.Error("NaN probability accepted")
	}
}

// TestSwapMeanExact checks the identity on hand-picked pairs, including the
// values where naive 0.5 ± q arithmetic is most fragile.
func TestSwapMeanExact(t *testing.T) {
	vals := []float64{0, 1, 0.5, 0.25, 0.75, 1.0 / 3, 2.0 / 3, 0.1, 0.9, 1e-300, 5e-324,
		math.Nextafter(1, 0), math.Nextafter(0.5, 0), math.Nextafter(0.5, 1), 0.5 + 0x1p-54, 0x1p-54, 0x1.8p-54, 0x1p-53}
	for _, x := range vals {
		for _, y := range vals {
			if s := swapMean(x, y) + swapMean(y, x); s != 1 {
				t.Errorf("swapMean(%v, %v) + swapMean(%v, %v) = %v", x, y, y, x, s)
			}
		}
	}
}
