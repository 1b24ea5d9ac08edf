package judges

import (
	"context"
	"fmt"
	"math"
	"sync"
)

// Judges built from other judges.

// Weighted combines judges by a weighted mean of their probabilities:
//
//	P(a ≻ b) = Σ_j w_j·p_j / Σ_j w_j
//
// computed as Σ_j (w_j/W)·p_j with W = Σ_j w_j. Weights must be finite and
// non-negative, one per judge, and not all zero. Judges of weight zero are
// not called. The others are called concurrently, so each must be safe for
// concurrent use with the others; the first failure (lowest judge index)
// is returned, wrapped with the judge's index, and cancels the rest. An
// inner result of the wrong length, or outside [0, 1], is an error (the
// latter an *ItemError).
type Weighted struct {
	Judges  []Judge
	Weights []float64
}

// NewWeighted validates judges and weights as Prefer would.
func NewWeighted(judges []Judge, weights []float64) (*Weighted, error) {
	w := &Weighted{Judges: judges, Weights: weights}
	if _, err := w.normalised(); err != nil {
		return nil, err
	}
	return w, nil
}

// normalised returns the weights divided by their sum.
func (w Weighted) normalised() ([]float64, error) {
	if len(w.Judges) == 0 {
		return nil, fmt.Errorf("judge: weighted: no judges")
	}
	if len(w.Weights) != len(w.Judges) {
		return nil, fmt.Errorf("judge: weighted: %d judges but %d weights", len(w.Judges), len(w.Weights))
	}
	sum := 0.0
	for j, x := range w.Weights {
		if !(x >= 0) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("judge: weighted: weight %d is %v, want finite and ≥ 0", j, x)
		}
		if w.Judges[j] == nil {
			return nil, fmt.Errorf("judge: weighted: judge %d is nil", j)
		}
		sum += x
	}
	if sum == 0 || math.IsInf(sum, 0) {
		return nil, fmt.Errorf("judge: weighted: weights sum to %v", sum)
	}
	norm := make([]float64, len(w.Weights))
	for j, x := range w.Weights {
		norm[j] = x / sum
	}
	return norm, nil
}

// Prefer implements Judge.
func (w Weighted) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	if err := checkLens(prompts, a, b); err != nil {
		return nil, err
	}
	norm, err := w.normalised()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	probs := make([][]float64, len(w.Judges)) // (J, B)
	errs := make([]error, len(w.Judges))
	var wg sync.WaitGroup
	for j, jd := range w.Judges {
		if norm[j] == 0 {
			continue
		}
		wg.Go(func() {
			probs[j], errs[j] = checkedPrefer(ctx, jd, prompts, a, b)
			if errs[j] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for j, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("judge: weighted: judge %d (%T): %w", j, w.Judges[j], err)
		}
	}
	out := make([]float64, len(a))
	for j, p := range probs {
		for i := range p {
			out[i] += norm[j] * p[i]
		}
	}
	for i := range out {
		out[i] = min(out[i], 1) // rounding of Σ w_j/W may overshoot by an ulp
	}
	return out, nil
}

// Swap removes a judge's position bias: it asks the judge both ways,
// x = P(a ≻ b) and y = P′(b ≻ a), and returns the mean of x and 1 − y,
// computed so that Swap.Prefer(a, b) + Swap.Prefer(b, a) == 1 exactly in
// float64:
//
//	d = (max(x, y) − min(x, y))/2
//	P = 0.5 + d      when x ≥ y
//	P = 1 − (0.5 + d) when x < y
//
// (1 − r is exact for r in [0.5, 1], and r + (1 − r) = 1.) The two calls
// run concurrently, so the inner judge must be safe for concurrent use. An
// inner result of the wrong length, or outside [0, 1], is an error (the
// latter an *ItemError).
type Swap struct {
	Judge Judge
}

// Prefer implements Judge.
func (s Swap) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	if err := checkLens(prompts, a, b); err != nil {
		return nil, err
	}
	if s.Judge == nil {
		return nil, fmt.Errorf("judge: swap: no judge")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var x, y []float64
	var errX, errY error
	var wg sync.WaitGroup
	wg.Go(func() {
		if x, errX = checkedPrefer(ctx, s.Judge, prompts, a, b); errX != nil {
			cancel()
		}
	})
	wg.Go(func() {
		if y, errY = checkedPrefer(ctx, s.Judge, prompts, b, a); errY != nil {
			cancel()
		}
	})
	wg.Wait()
	if errX != nil {
		return nil, fmt.Errorf("judge: swap: order (a, b): %w", errX)
	}
	if errY != nil {
		return nil, fmt.Errorf("judge: swap: order (b, a): %w", errY)
	}
	out := make([]float64, len(a))
	for i := range out {
		out[i] = swapMean(x[i], y[i])
	}
	return out, nil
}

// swapMean is (x + 1 − y)/2 arranged so that swapMean(x, y) +
// swapMean(y, x) == 1 exactly.
func swapMean(x, y float64) float64 {
	if x >= y {
		return 0.5 + (x-y)/2
	}
	return 1 - (0.5 + (y-x)/2)
}

// checkedPrefer calls j and checks that it returned one probability in
// [0, 1] per item.
func checkedPrefer(ctx context.Context, j Judge, prompts, a, b []string) ([]float64, error) {
	p, err := j.Prefer(ctx, prompts, a, b)
	if err != nil {
		return nil, err
	}
	if len(p) != len(a) {
		return nil, fmt.Errorf("returned %d probabilities for %d items", len(p), len(a))
	}
	for i, x := range p {
		if !(x >= 0 && x <= 1) {
			return nil, &ItemError{Index: i, Err: fmt.Errorf("probability %v outside [0, 1]", x)}
		}
	}
	return p, nil
}
