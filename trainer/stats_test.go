package trainer

import (
	"math"
	"testing"
)

// logChoose is log C(n, j) as a sum of logs (no Lgamma: independent of the
// code under test).
func logChoose(n, j int) float64 {
	j = min(j, n-j)
	s := 0.0
	for i := 1; i <= j; i++ {
		s += math.Log(float64(n-j+i)) - math.Log(float64(i))
	}
	return s
}

// binomTail returns P(lo ≤ X ≤ hi) for X ~ Binomial(n, p) by direct
// summation of the probability mass in log space (log-sum-exp).
func binomTail(n int, p float64, lo, hi int) float64 {
	terms := make([]float64, 0, hi-lo+1)
	mx := math.Inf(-1)
	for j := lo; j <= hi; j++ {
		var l float64
		switch {
		case p == 0:
			l = map[bool]float64{true: 0, false: math.Inf(-1)}[j == 0]
		case p == 1:
			l = map[bool]float64{true: 0, false: math.Inf(-1)}[j == n]
		default:
			l = logChoose(n, j) + float64(j)*math.Log(p) + float64(n-j)*math.Log1p(-p)
		}
		terms = append(terms, l)
		mx = math.Max(mx, l)
	}
	if math.IsInf(mx, -1) {
		return 0
	}
	s := 0.0
	for _, l := range terms {
		s += math.Exp(l - mx)
	}
	return math.Exp(mx) * s
}

// TestClopperPearsonTails: the bounds solve the defining equations
// P(X ≥ k | lo) = α/2 and P(X ≤ k | hi) = α/2, checked with binomial sums.
func TestClopperPearsonTails(t *testing.T) {
	ns := []int{1, 2, 3, 5, 10, 17, 30, 64, 100, 257, 1000}
	for _, alpha := range []float64{0.05, 0.01, 0.2} {
		for _, n := range ns {
			for k := 0; k <= n; k += max(1, n/23) {
				lo, hi := ClopperPearson(k, n, alpha)
				if !(0 <= lo && lo < hi && hi <= 1) {
					t.Fatalf("k=%d n=%d α=%v: [%v, %v] is not an interval in [0, 1]", k, n, alpha, lo, hi)
				}
				if k == 0 && lo != 0 {
					t.Errorf("k=0 n=%d: lo = %v, want 0", n, lo)
				}
				if k > 0 {
					if got := binomTail(n, lo, k, n); math.Abs(got-alpha/2) > 1e-9 {
						t.Errorf("k=%d n=%d α=%v: P(X≥k | lo=%v) = %.12g, want %v", k, n, alpha, lo, got, alpha/2)
					}
				}
				if k == n && hi != 1 {
					t.Errorf("k=n=%d: hi = %v, want 1", n, hi)
				}
				if k < n {
					if got := binomTail(n, hi, 0, k); math.Abs(got-alpha/2) > 1e-9 {
						t.Errorf("k=%d n=%d α=%v: P(X≤k | hi=%v) = %.12g, want %v", k, n, alpha, hi, got, alpha/2)
					}
				}
			}
		}
	}
}

// TestClopperPearsonKnown: closed forms at the edges and R's binom.test.
func TestClopperPearsonKnown(t *testing.T) {
	cases := []struct {
		k, n           int
		wantLo, wantHi float64
		tol            float64
	}{
		{0, 10, 0, 1 - math.Pow(0.025, 1.0/10), 1e-12},
		{10, 10, math.Pow(0.025, 1.0/10), 1, 1e-12},
		{0, 1, 0, 0.975, 1e-12},
		{1, 1, 0.025, 1, 1e-12},
		{0, 0, 0, 1, 0},
		// n = 2, k = 1: lo solves 1−(1−p)² = 0.025, hi solves 1−p² = 0.025.
		{1, 2, 1 - math.Sqrt(0.975), math.Sqrt(0.975), 1e-12},
		// R: binom.test(682, 925, p = 3/4) prints the 95 percent
		// confidence interval 0.7076683 0.7654066 (its help page example).
		{682, 925, 0.7076683, 0.7654066, 6e-8},
	}
	for _, c := range cases {
		lo, hi := ClopperPearson(c.k, c.n, 0.05)
		if math.Abs(lo-c.wantLo) > c.tol || math.Abs(hi-c.wantHi) > c.tol {
			t.Errorf("ClopperPearson(%d, %d) = [%.10f, %.10f], want [%.10f, %.10f]", c.k, c.n, lo, hi, c.wantLo, c.wantHi)
		}
	}
	for _, bad := range [][2]int{{-1, 3}, {4, 3}, {0, -1}} {
		if lo, hi := ClopperPearson(bad[0], bad[1], 0.05); !math.IsNaN(lo) || !math.IsNaN(hi) {
			t.Errorf("ClopperPearson(%d, %d) = [%v, %v], want NaN", bad[0], bad[1], lo, hi)
		}
	}
	if lo, _ := ClopperPearson(1, 3, 1); !math.IsNaN(lo) {
		t.Errorf("alpha = 1 gave %v, want NaN", lo)
	}
}

// TestClopperPearsonMonotone: bounds grow with k, the interval narrows with
// n at a fixed proportion and widens as alpha shrinks, and it contains k/n.
func TestClopperPearsonMonotone(t *testing.T) {
	n := 40
	prevLo, prevHi := -1.0, -1.0
	for k := 0; k <= n; k++ {
		lo, hi := ClopperPearson(k, n, 0.05)
		if lo <= prevLo && k > 0 || hi <= prevHi {
			t.Errorf("k=%d: [%v, %v] does not move up from [%v, %v]", k, lo, hi, prevLo, prevHi)
		}
		if p := float64(k) / float64(n); lo > p || hi < p {
			t.Errorf("k=%d: [%v, %v] excludes %v", k, lo, hi, p)
		}
		prevLo, prevHi = lo, hi
	}
	prevW := 2.0
	for _, m := range []int{10, 20, 40, 80, 160, 320} {
		lo, hi := ClopperPearson(3*m/10, m, 0.05)
		if hi-lo >= prevW {
			t.Errorf("n=%d: width %v not below %v", m, hi-lo, prevW)
		}
		prevW = hi - lo
	}
	l95, h95 := ClopperPearson(7, 20, 0.05)
	l99, h99 := ClopperPearson(7, 20, 0.01)
	if !(l99 < l95 && h99 > h95) {
		t.Errorf("99%% interval [%v, %v] does not contain 95%% [%v, %v]", l99, h99, l95, h95)
	}
}

// TestClopperPearsonCoverage: the exact interval is conservative, so for
// every p on a grid the probability (computed exactly over all k) that it
// covers p is at least 1−α.
func TestClopperPearsonCoverage(t *testing.T) {
	for _, n := range []int{5, 12, 50} {
		los, his := make([]float64, n+1), make([]float64, n+1)
		for k := range n + 1 {
			los[k], his[k] = ClopperPearson(k, n, 0.05)
		}
		for i := 1; i < 100; i++ {
			p := float64(i) / 100
			cover := 0.0
			for k := range n + 1 {
				if los[k] <= p && p <= his[k] {
					cover += binomTail(n, p, k, k)
				}
			}
			if cover < 0.95-1e-12 {
				t.Errorf("n=%d p=%v: coverage %v < 0.95", n, p, cover)
			}
		}
	}
}
