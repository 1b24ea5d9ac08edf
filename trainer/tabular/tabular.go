// Package tabular implements Nash-MD on tabular policies, the algorithm of
// Munos et al., "Nash Learning from Human Feedback" (arXiv 2312.00886,
// Section 5), together with an independent solver for the equilibrium it
// converges to.
//
// Legend: n responses y ∈ Y = {0, …, n-1}; a policy is a distribution over Y.
//
//	P   (n, n)  P[i][j] = P(y_i ≻ y_j) ∈ [0, 1], P[i][j] + P[j][i] = 1, P[i][i] = 1/2
//	μ   (n)     reference policy, full support
//	π   (n)     a policy
//	τ           KL regularisation, τ > 0
//
// The paper's regularised preference (its eq. (2), here without prompts x):
//
//	P(y ≻ π)      = Σ_j P[y][j] π(j)
//	P(π ≻ π')     = Σ_i Σ_j π(i) P[i][j] π'(j)
//	P_τ(π ≻ π')   = P(π ≻ π') − τ KL(π, μ) + τ KL(π', μ)
//
// is a symmetric constant-sum game with a unique Nash equilibrium π*_τ
// (the paper's Proposition 1): P_τ(π ≻ π*_τ) ≤ 1/2 for every π.
package tabular

import (
	"errors"
	"fmt"
	"math"
)

// Errors reported by this package; test with errors.Is.
var (
	// ErrInvalidGame: a Game or a policy breaks the contract of Game.Validate.
	ErrInvalidGame = errors.New("tabular: invalid game")
	// ErrStepSize: a step size η_t with η_t τ outside (0, 1].
	ErrStepSize = errors.New("tabular: step size out of range")
	// ErrNoConvergence: Equilibrium did not reach the asked residual.
	ErrNoConvergence = errors.New("tabular: equilibrium solver did not converge")
)

// StepError reports the step size at iteration T that Nash-MD cannot take:
// the geometric mixture π^{1−ητ} μ^{ητ} needs η_T τ ∈ (0, 1].
type StepError struct {
	T   int     // iteration index t
	Eta float64 // η_t
	Tau float64 // τ
}

func (e *StepError) Error() string {
	return fmt.Sprintf("tabular: step %d: eta*tau = %g*%g = %g, want in (0, 1]", e.T, e.Eta, e.Tau, e.Eta*e.Tau)
}

// Unwrap makes errors.Is(err, ErrStepSize) true.
func (e *StepError) Unwrap() error { return ErrStepSize }

// Game is a regularised preference game. Its slices are read, never
// modified or retained past a call.
type Game struct {
	P   [][]float64 // (n, n) preference matrix, P[i][j] = P(y_i ≻ y_j)
	Mu  []float64   // (n) reference policy μ
	Tau float64     // KL regularisation τ
}

// tolerance for the equalities Validate checks (antisymmetry, Σμ = 1).
const validTol = 1e-12

// Validate reports whether g is a game this package can solve: n ≥ 1,
// P is n×n with entries in [0, 1], P[i][j] + P[j][i] = 1 and P[i][i] = 1/2
// (within 1e-12), μ has n finite entries > 0 summing to 1 (within 1e-12),
// and τ is finite and > 0. The error wraps ErrInvalidGame.
func (g Game) Validate() error {
	n := len(g.Mu)
	if n == 0 {
		return fmt.Errorf("%w: no responses (len(Mu) = 0)", ErrInvalidGame)
	}
	if !(g.Tau > 0) || math.IsInf(g.Tau, 1) {
		return fmt.Errorf("%w: tau = %g, want finite and > 0", ErrInvalidGame, g.Tau)
	}
	if len(g.P) != n {
		return fmt.Errorf("%w: P has %d rows, want %d (len(Mu))", ErrInvalidGame, len(g.P), n)
	}
	for i, row := range g.P {
		if len(row) != n {
			return fmt.Errorf("%w: P[%d] has %d entries, want %d", ErrInvalidGame, i, len(row), n)
		}
		for j, p := range row {
			if !(p >= 0 && p <= 1) {
				return fmt.Errorf("%w: P[%d][%d] = %g, want in [0, 1]", ErrInvalidGame, i, j, p)
			}
		}
	}
	for i := range n {
		if d := g.P[i][i]; math.Abs(d-0.5) > validTol {
			return fmt.Errorf("%w: P[%d][%d] = %g, want 1/2", ErrInvalidGame, i, i, d)
		}
		for j := i + 1; j < n; j++ {
			if s := g.P[i][j] + g.P[j][i]; math.Abs(s-1) > validTol {
				return fmt.Errorf("%w: P[%d][%d] + P[%d][%d] = %g, want 1", ErrInvalidGame, i, j, j, i, s)
			}
		}
	}
	if err := checkPolicy(g.Mu, n); err != nil {
		return fmt.Errorf("%w: Mu: %v", ErrInvalidGame, err)
	}
	return nil
}

// checkPolicy reports whether pi is a full-support distribution over n responses.
func checkPolicy(pi []float64, n int) error {
	if len(pi) != n {
		return fmt.Errorf("%d entries, want %d", len(pi), n)
	}
	sum := 0.0
	for i, p := range pi {
		if !(p > 0) || math.IsInf(p, 1) {
			return fmt.Errorf("entry %d = %g, want finite and > 0", i, p)
		}
		sum += p
	}
	if math.Abs(sum-1) > validTol {
		return fmt.Errorf("sums to %.17g, want 1", sum)
	}
	return nil
}

// KL is the Kullback-Leibler divergence KL(p, q) = Σ_y p(y) log(p(y)/q(y))
// in nats, the paper's KL(π, π') (first argument is the one averaged over).
// Terms with p(y) = 0 are 0; p(y) > 0 = q(y) gives +Inf. p and q must have
// the same length.
func KL(p, q []float64) float64 {
	kl := 0.0
	for i, pi := range p {
		if pi == 0 {
			continue
		}
		if q[i] == 0 {
			return math.Inf(1)
		}
		kl += pi * (math.Log(pi) - math.Log(q[i]))
	}
	return kl
}

// Against returns the vector P(y ≻ π) = Σ_j P[y][j] π(j) for every y, (n).
func (g Game) Against(pi []float64) []float64 {
	s := make([]float64, len(g.P))
	for y, row := range g.P {
		for j, p := range row {
			s[y] += p * pi[j]
		}
	}
	return s
}

// Preference is P(π ≻ π') = Σ_i Σ_j π(i) P[i][j] π'(j).
func (g Game) Preference(pi, pi2 []float64) float64 {
	v := 0.0
	for i, s := range g.Against(pi2) {
		v += pi[i] * s
	}
	return v
}

// Regularized is the paper's regularised preference (eq. (2)):
// P_τ(π ≻ π') = P(π ≻ π') − τ KL(π, μ) + τ KL(π', μ).
func (g Game) Regularized(pi, pi2 []float64) float64 {
	return g.Preference(pi, pi2) - g.Tau*KL(pi, g.Mu) + g.Tau*KL(pi2, g.Mu)
}

// logSoftmax normalises log-weights in place so that Σ exp(l) = 1, and
// returns its argument.
func logSoftmax(l []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range l {
		m = math.Max(m, v)
	}
	z := 0.0
	for _, v := range l {
		z += math.Exp(v - m)
	}
	lz := m + math.Log(z)
	for i := range l {
		l[i] -= lz
	}
	return l
}

func logs(p []float64) []float64 {
	l := make([]float64, len(p))
	for i, v := range p {
		l[i] = math.Log(v)
	}
	return l
}

func exps(l []float64) []float64 {
	p := make([]float64, len(l))
	for i, v := range l {
		p[i] = math.Exp(v)
	}
	return p
}
