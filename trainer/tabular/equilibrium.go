package tabular

import (
	"fmt"
	"math"
)

// ----------------------------------------------------------------------------
// The regularised equilibrium π*_τ, by Newton's method (independent of Nash-MD)
//
// π* is a Nash equilibrium of P_τ iff it maximises f(π) = P(π ≻ π*) − τ KL(π, μ)
// (the other term of P_τ(π ≻ π*) does not depend on π). f is strictly
// concave; its maximiser over the simplex is the Gibbs policy, so
//
//	π*(y) = μ(y) exp(P(y ≻ π*)/τ) / Z.                          (FOC)
//
// Conversely, (FOC) gives P_τ(π ≻ π*) = 1/2 − τ KL(π, π*) ≤ 1/2 for every π.
//
// Unknowns u = log π (n) and c = log Z; with λ = 1/τ and D = diag(e^u):
//
//	F_y(u, c) = u_y − log μ_y − λ Σ_j P[y][j] e^{u_j} − c = 0     (n)
//	F_n(u, c) = Σ_j e^{u_j} − 1 = 0
//	J = [ I − λ P D   −1 ]
//	    [ (e^u)ᵀ       0 ]                                      (n+1, n+1)
//
// J is nonsingular for every λ ≥ 0: write P = A + ½ 11ᵀ with A antisymmetric;
// for J (x, a) = 0 put w = D x, then 1ᵀw = 0 and (D⁻¹ − λA) w = a 1, so
// wᵀD⁻¹w = a 1ᵀw = 0, w = 0, a = 0.
//
// Newton needs a start close enough, so λ is continued from 0 (where u = log μ,
// c = 0 solves F exactly) to 1/τ, each stage solved by damped Newton from the
// last stage's solution; a stage that fails is retried with half the increment.
// ----------------------------------------------------------------------------

// Residual is the error of pi in the first-order condition (FOC):
// min_c max_y |log π(y) − log μ(y) − P(y ≻ π)/τ − c|, i.e. half the spread
// over y of log π(y) − log μ(y) − P(y ≻ π)/τ. It is 0 exactly at π*_τ.
// pi must be a full-support distribution over the game's responses.
func (g Game) Residual(pi []float64) float64 {
	s := g.Against(pi)
	lo, hi := math.Inf(1), math.Inf(-1)
	for y := range pi {
		r := math.Log(pi[y]) - math.Log(g.Mu[y]) - s[y]/g.Tau
		lo, hi = math.Min(lo, r), math.Max(hi, r)
	}
	return (hi - lo) / 2
}

// Equilibrium returns the regularised Nash equilibrium π*_τ, (n), with
// g.Residual(π*) ≤ tol (tol > 0; 1e-12 is reachable for the games this
// package's tests draw). It fails with an error wrapping ErrNoConvergence
// when tol is not reached.
func Equilibrium(g Game, tol float64) ([]float64, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if !(tol > 0) {
		return nil, fmt.Errorf("tabular: Equilibrium: tol = %g, want > 0", tol)
	}
	n := len(g.Mu)
	x := append(logs(g.Mu), 0) // (u, c) solving the λ = 0 stage exactly
	lambda, dl := 0.0, 1.0
	for {
		next := math.Min(lambda+dl, 1/g.Tau)
		final := next == 1/g.Tau
		done := func(x []float64, f float64) bool { return f <= 1e-10 }
		if final {
			done = func(x []float64, f float64) bool {
				return g.Residual(exps(logSoftmax(append([]float64(nil), x[:n]...)))) <= tol
			}
		}
		if y, ok := g.newton(next, x, done); ok {
			x, lambda, dl = y, next, 2*dl
			if final {
				return exps(logSoftmax(x[:n])), nil
			}
			continue
		}
		if dl /= 2; dl < 1e-6 {
			return nil, fmt.Errorf("%w: stuck at 1/tau = %g of %g (tol %g)", ErrNoConvergence, lambda, 1/g.Tau, tol)
		}
	}
}

// newton solves F(x) = 0 at λ by damped Newton from x (not modified). It
// stops when done(x, ‖F(x)‖∞) holds, and fails after 100 iterations or when
// no step along the Newton direction decreases ‖F‖₂.
func (g Game) newton(lambda float64, x []float64, done func(x []float64, f float64) bool) ([]float64, bool) {
	n := len(g.Mu)
	lmu := logs(g.Mu)
	resid := func(x []float64) []float64 { // F(x), (n+1)
		p := exps(x[:n])
		s := g.Against(p)
		f := make([]float64, n+1)
		for y := range n {
			f[y] = x[y] - lmu[y] - lambda*s[y] - x[n]
			f[n] += p[y]
		}
		f[n]--
		return f
	}
	f := resid(x)
	for range 100 {
		if done(x, normInf(f)) {
			return x, true
		}
		// J δ = −F
		p := exps(x[:n])
		J := make([][]float64, n+1)
		for y := range n {
			J[y] = make([]float64, n+1)
			for j := range n {
				J[y][j] = -lambda * g.P[y][j] * p[j]
			}
			J[y][y]++
			J[y][n] = -1
		}
		J[n] = append(append([]float64(nil), p...), 0)
		d := make([]float64, n+1)
		for i := range f {
			d[i] = -f[i]
		}
		if !solve(J, d) {
			return nil, false
		}
		// Backtrack on ‖F‖₂ (Armijo with slope −‖F‖₂², since J δ = −F).
		m0, accepted := norm2(f), false
		for alpha := 1.0; alpha > 1e-10; alpha /= 2 {
			y := make([]float64, n+1)
			for i := range y {
				y[i] = x[i] + alpha*d[i]
			}
			if fy := resid(y); norm2(fy) <= (1-1e-4*alpha)*m0 {
				x, f, accepted = y, fy, true
				break
			}
		}
		if !accepted {
			return x, done(x, normInf(f))
		}
	}
	return x, done(x, normInf(f))
}

// solve overwrites b with A⁻¹ b by Gaussian elimination with partial
// pivoting (A is destroyed); it reports false for a singular A.
func solve(A [][]float64, b []float64) bool {
	n := len(b)
	for k := range n {
		piv := k
		for i := k + 1; i < n; i++ {
			if math.Abs(A[i][k]) > math.Abs(A[piv][k]) {
				piv = i
			}
		}
		if A[piv][k] == 0 {
			return false
		}
		A[k], A[piv] = A[piv], A[k]
		b[k], b[piv] = b[piv], b[k]
		for i := k + 1; i < n; i++ {
			m := A[i][k] / A[k][k]
			for j := k; j < n; j++ {
				A[i][j] -= m * A[k][j]
			}
			b[i] -= m * b[k]
		}
	}
	for k := n - 1; k >= 0; k-- {
		for j := k + 1; j < n; j++ {
			b[k] -= A[k][j] * b[j]
		}
		b[k] /= A[k][k]
	}
	return true
}

func norm2(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	if math.IsNaN(s) {
		return math.Inf(1)
	}
	return math.Sqrt(s)
}

func normInf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		if math.IsNaN(x) {
			return math.Inf(1)
		}
		m = math.Max(m, math.Abs(x))
	}
	return m
}
