package tabular

import "fmt"

// ----------------------------------------------------------------------------
// Nash-MD (the paper's Section 5, eqs. (3)-(5))
//
// One step with step size η_t, β = η_t τ ∈ (0, 1]:
//
//	geometric mixture (eq. (3)):  π_t^μ(y) ∝ π_t(y)^{1−β} μ(y)^{β}
//	mirror-descent step (eq. (4)): π_{t+1} = argmax_π [η_t P(π ≻ π_t^μ) − KL(π, π_t^μ)]
//	closed form:                   π_{t+1}(y) ∝ π_t^μ(y) exp(η_t P(y ≻ π_t^μ))
//
// computed in log space, as the paper's eq. (5) writes it:
//
//	log π_{t+1}(y) = (1−β) log π_t(y) + β log μ(y) + η_t P(y ≻ π_t^μ) + c.
//
// Theorem 1 of the paper: for every t,
//
//	KL(π*_τ, π_{t+1}) ≤ (1 − η_t τ) KL(π*_τ, π_t) + 2 η_t²,
//
// and with η_t = 2/(τ(t+2)) (so η_0 τ = 1: π_1 does not depend on π_0),
//
//	KL(π*_τ, π_T) ≤ 8 / (τ² (T+1)).
//
// (It holds for T ≥ 1 whatever π_0: unrolling the recursion from η_0 τ = 1
// drops KL(π*_τ, π_0). At T = 0 it would need KL(π*_τ, π_0) ≤ 8/τ².)
//
// The theorem is stated for preferences in [0, 1] (Game.Validate enforces
// it). Equation numbers are those of arXiv 2312.00886v4 (ICML 2024).
//
// Positivity: every step keeps spread_y(log π_t(y) − log μ(y)) ≤
// max(spread(log π_0 − log μ), 1/τ), since P(y ≻ ·) ∈ [0, 1]; so
// π_t(y) ≥ μ_min e^{−max(S_0, 1/τ)} / n > 0 whenever that is representable.
// ----------------------------------------------------------------------------

// Mixture returns the geometric mixture π^{1−β} μ^{β} / Z, (n), for
// β ∈ [0, 1]; pi and mu must be full-support distributions of equal length.
func Mixture(pi, mu []float64, beta float64) []float64 {
	return exps(mixLog(logs(pi), logs(mu), beta))
}

// mixLog is Mixture on log-probabilities: (1−β) lp + β lmu, normalised.
func mixLog(lp, lmu []float64, beta float64) []float64 {
	l := make([]float64, len(lp))
	for i := range lp {
		l[i] = (1-beta)*lp[i] + beta*lmu[i]
	}
	return logSoftmax(l)
}

// step is one Nash-MD update on log-probabilities; it returns log π_{t+1}.
func (g Game) step(lp, lmu []float64, eta float64) []float64 {
	lm := mixLog(lp, lmu, eta*g.Tau) // log π_t^μ
	s := g.Against(exps(lm))         // P(y ≻ π_t^μ)
	for i := range lm {
		lm[i] += eta * s[i]
	}
	return logSoftmax(lm)
}

// Step returns π_{t+1} from π_t = pi by one Nash-MD update with step size
// eta. It needs eta·τ ∈ (0, 1] (else a *StepError with T = 0) and pi a
// full-support distribution over the game's responses.
func (g Game) Step(pi []float64, eta float64) ([]float64, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if err := checkPolicy(pi, len(g.Mu)); err != nil {
		return nil, fmt.Errorf("%w: pi: %v", ErrInvalidGame, err)
	}
	if err := g.checkEta(0, eta); err != nil {
		return nil, err
	}
	return exps(g.step(logs(pi), logs(g.Mu), eta)), nil
}

func (g Game) checkEta(t int, eta float64) error {
	if b := eta * g.Tau; !(b > 0 && b <= 1) {
		return &StepError{T: t, Eta: eta, Tau: g.Tau}
	}
	return nil
}

// NashMD runs T ≥ 0 Nash-MD steps from pi0 (μ when nil) with step sizes
// eta(0), …, eta(T−1). It returns π_T and the trajectory
// history[t] = π_t for t = 0…T (len T+1, history[T] is the returned π_T).
// Every η_t must satisfy η_t τ ∈ (0, 1]; the first that does not is
// reported as a *StepError and nothing else is returned. pi0 is copied.
func NashMD(g Game, pi0 []float64, T int, eta func(t int) float64) (pi []float64, history [][]float64, err error) {
	if err := g.Validate(); err != nil {
		return nil, nil, err
	}
	if pi0 == nil {
		pi0 = g.Mu
	}
	if err := checkPolicy(pi0, len(g.Mu)); err != nil {
		return nil, nil, fmt.Errorf("%w: pi0: %v", ErrInvalidGame, err)
	}
	if T < 0 {
		return nil, nil, fmt.Errorf("tabular: NashMD: T = %d, want ≥ 0", T)
	}
	lmu, lp := logs(g.Mu), logs(pi0)
	history = append(make([][]float64, 0, T+1), append([]float64(nil), pi0...))
	for t := range T {
		e := eta(t)
		if err := g.checkEta(t, e); err != nil {
			return nil, nil, err
		}
		lp = g.step(lp, lmu, e)
		history = append(history, exps(lp))
	}
	return history[T], history, nil
}

// TheoremEta is the step-size schedule of the paper's Theorem 1,
// η_t = 2 / (τ (t+2)); η_t τ = 2/(t+2) ∈ (0, 1].
func TheoremEta(tau float64) func(t int) float64 {
	return func(t int) float64 { return 2 / (tau * float64(t+2)) }
}

// TheoremBound is the paper's Theorem 1 bound for the TheoremEta schedule:
// KL(π*_τ, π_T) ≤ 8 / (τ² (T+1)), valid for T ≥ 1 and any full-support π_0.
func TheoremBound(tau float64, T int) float64 {
	return 8 / (tau * tau * float64(T+1))
}
