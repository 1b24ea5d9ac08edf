package tabular

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// randGame draws P with P[i][j] ~ U[0, 1] above the diagonal, P[j][i] = 1 − P[i][j],
// P[i][i] = 1/2, and μ ∝ exp(2 N(0, 1)) (full support, uneven).
func randGame(rng *rand.Rand, n int, tau float64) Game {
	P := make([][]float64, n)
	for i := range P {
		P[i] = make([]float64, n)
		P[i][i] = 0.5
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			P[i][j] = rng.Float64()
			P[j][i] = 1 - P[i][j]
		}
	}
	return Game{P: P, Mu: randPolicy(rng, n, 2), Tau: tau}
}

// randPolicy draws π ∝ exp(scale N(0, 1)).
func randPolicy(rng *rand.Rand, n int, scale float64) []float64 {
	l := make([]float64, n)
	for i := range l {
		l[i] = scale * rng.NormFloat64()
	}
	return exps(logSoftmax(l))
}

// randGames: 24 games, sizes 2…20, τ ∈ {0.1, 0.5, 1, 2}, six of each τ.
func randGames(seed uint64) []Game {
	rng := rand.New(rand.NewPCG(seed, 1))
	taus := []float64{0.1, 0.5, 1, 2}
	var gs []Game
	for k := range 24 {
		n := 2 + (k*7)%19 // 2, 9, 16, 4, 11, 18, … covers 2…20
		gs = append(gs, randGame(rng, n, taus[k%4]))
	}
	return gs
}

func mustEquilibrium(t *testing.T, g Game) []float64 {
	t.Helper()
	pi, err := Equilibrium(g, 1e-12)
	if err != nil {
		t.Fatalf("Equilibrium(n=%d, tau=%g): %v", len(g.Mu), g.Tau, err)
	}
	return pi
}

// Theorem 1: KL(π*_τ, π_T) ≤ 8/(τ²(T+1)) with η_t = 2/(τ(t+2)), from two
// starts per game, and the per-step inequality
// KL(π*, π_{t+1}) ≤ (1 − η_t τ) KL(π*, π_t) + 2η_t² on every step.
func TestTheorem1Bound(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	Ts := []int{1, 10, 100, 1000}
	worst := map[int]float64{}
	worstStep := math.Inf(-1) // max over steps of lhs − rhs of the per-step inequality
	for gi, g := range randGames(1) {
		star := mustEquilibrium(t, g)
		eta := TheoremEta(g.Tau)
		for _, pi0 := range [][]float64{nil, randPolicy(rng, len(g.Mu), 3)} {
			_, hist, err := NashMD(g, pi0, 1000, eta)
			if err != nil {
				t.Fatal(err)
			}
			for _, T := range Ts {
				kl, bound := KL(star, hist[T]), TheoremBound(g.Tau, T)
				if kl > bound {
					t.Errorf("game %d (n=%d, tau=%g): KL(pi*, pi_%d) = %g > bound %g", gi, len(g.Mu), g.Tau, T, kl, bound)
				}
				worst[T] = math.Max(worst[T], kl/bound)
			}
			for s := range 1000 {
				e := eta(s)
				lhs, rhs := KL(star, hist[s+1]), (1-e*g.Tau)*KL(star, hist[s])+2*e*e
				worstStep = math.Max(worstStep, lhs-rhs)
				if lhs > rhs+1e-12 {
					t.Errorf("game %d step %d: KL(pi*, pi_t+1) = %g > (1-eta tau) KL(pi*, pi_t) + 2 eta^2 = %g", gi, s, lhs, rhs)
				}
			}
		}
	}
	for _, T := range Ts {
		t.Logf("T=%4d: worst KL(pi*, pi_T) / (8/(tau^2 (T+1))) = %.3g", T, worst[T])
	}
	t.Logf("per-step inequality: max lhs - rhs = %.3g (must be <= 0)", worstStep)
}

// Theorem 1's per-step inequality for constant step sizes, and the bound it
// implies, KL(π*, π_T) ≤ (1 − ητ)^T KL(π*, π_0) + 2η/τ.
func TestTheorem1ConstantStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for gi, g := range randGames(2)[:12] {
		star := mustEquilibrium(t, g)
		for _, b := range []float64{0.05, 0.5, 1} {
			eta := b / g.Tau
			pi0 := randPolicy(rng, len(g.Mu), 3)
			_, hist, err := NashMD(g, pi0, 200, func(int) float64 { return eta })
			if err != nil {
				t.Fatal(err)
			}
			for s := range 200 {
				lhs, rhs := KL(star, hist[s+1]), (1-b)*KL(star, hist[s])+2*eta*eta
				if lhs > rhs+1e-12 {
					t.Errorf("game %d eta*tau=%g step %d: %g > %g", gi, b, s, lhs, rhs)
				}
			}
			if kl, bound := KL(star, hist[200]), math.Pow(1-b, 200)*KL(star, pi0)+2*eta/g.Tau; kl > bound {
				t.Errorf("game %d eta*tau=%g: KL(pi*, pi_200) = %g > %g", gi, b, kl, bound)
			}
		}
	}
}

// The equilibrium solver: residual ≤ 1e-12, and no policy beats π* in the
// regularised game (pure deviations, random mixed ones, local perturbations),
// with the exact identity P_τ(π ≻ π*) = 1/2 − τ KL(π, π*).
func TestEquilibriumIsNash(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	worstGap, worstRes := math.Inf(-1), 0.0
	for gi, g := range randGames(3) {
		star := mustEquilibrium(t, g)
		res := g.Residual(star)
		worstRes = math.Max(worstRes, res)
		if res > 1e-12 {
			t.Errorf("game %d: residual %g > 1e-12", gi, res)
		}
		n := len(g.Mu)
		var devs [][]float64
		for y := range n {
			d := make([]float64, n)
			d[y] = 1
			devs = append(devs, d)
		}
		for range 50 {
			devs = append(devs, randPolicy(rng, n, 2), Mixture(star, randPolicy(rng, n, 1), 1e-3))
		}
		for _, d := range devs {
			v := g.Regularized(d, star)
			worstGap = math.Max(worstGap, v-0.5)
			if v > 0.5+1e-9 {
				t.Errorf("game %d: P_tau(pi > pi*) = %.15g > 1/2 for pi = %v", gi, v, d)
			}
			if id := 0.5 - g.Tau*KL(d, star); math.Abs(v-id) > 1e-9 {
				t.Errorf("game %d: P_tau(pi > pi*) = %.15g, 1/2 - tau KL(pi, pi*) = %.15g", gi, v, id)
			}
		}
	}
	t.Logf("worst residual %.3g; max over deviations of P_tau(pi > pi*) - 1/2 = %.3g", worstRes, worstGap)
}

// The Nash check has teeth: a slightly wrong π* is beaten by its best
// response μ exp(P(· ≻ π)/τ)/Z.
func TestPerturbedEquilibriumIsBeaten(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	for gi, g := range randGames(4) {
		wrong := Mixture(mustEquilibrium(t, g), randPolicy(rng, len(g.Mu), 1), 1e-3)
		l := logs(g.Mu)
		for y, s := range g.Against(wrong) {
			l[y] += s / g.Tau
		}
		br := exps(logSoftmax(l))
		if v := g.Regularized(br, wrong); !(v > 0.5+1e-12) {
			t.Errorf("game %d: best response to a perturbed pi* wins only %.15g", gi, v)
		}
	}
}

// n = 2 by hand. With π = (x, 1−x) and P[0][1] = p, P(0 ≻ π) − P(1 ≻ π) =
// x/2 + p(1−x) − (1−p)x − (1−x)/2 = p − 1/2 for every x, so (FOC) reads
// log(x/(1−x)) = log(μ0/μ1) + (p − 1/2)/τ: x = σ(log(μ0/μ1) + (p − 1/2)/τ).
func TestTwoResponsesClosedForm(t *testing.T) {
	for _, tc := range []struct{ p, mu0, tau float64 }{
		{0.9, 0.5, 0.1}, {0.9, 0.5, 2}, {0.2, 0.9, 0.5}, {1, 0.01, 0.1}, {0, 0.99, 1}, {0.5, 0.3, 0.1}, {0.7, 1e-6, 0.25},
	} {
		g := Game{P: [][]float64{{0.5, tc.p}, {1 - tc.p, 0.5}}, Mu: []float64{tc.mu0, 1 - tc.mu0}, Tau: tc.tau}
		z := math.Log(tc.mu0/(1-tc.mu0)) + (tc.p-0.5)/tc.tau
		x := 1 / (1 + math.Exp(-z))
		want := []float64{x, 1 - x}
		got := mustEquilibrium(t, g)
		for i := range want {
			if d := math.Abs(math.Log(got[i]) - math.Log(want[i])); d > 1e-12 {
				t.Errorf("%+v: Equilibrium = %v, closed form %v (|dlog| = %g)", tc, got, want, d)
			}
		}
		for _, T := range []int{1, 10, 1000} {
			pi, _, err := NashMD(g, []float64{0.5, 0.5}, T, TheoremEta(tc.tau))
			if err != nil {
				t.Fatal(err)
			}
			if kl, b := KL(want, pi), TheoremBound(tc.tau, T); kl > b {
				t.Errorf("%+v T=%d: KL(closed form, pi_T) = %g > %g", tc, T, kl, b)
			}
		}
	}
}

// Rock-paper-scissors with uniform μ: π* is uniform by symmetry (a cyclic
// relabelling maps the game to itself and π*_τ is unique).
func TestRockPaperScissors(t *testing.T) {
	for _, q := range []float64{1, 0.8, 5.0 / 9} { // q = P(rock ≻ scissors) etc.
		P := [][]float64{{0.5, 1 - q, q}, {q, 0.5, 1 - q}, {1 - q, q, 0.5}} // 0 rock, 1 paper, 2 scissors
		for _, tau := range []float64{0.05, 0.5, 2} {
			g := Game{P: P, Mu: []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, Tau: tau}
			for i, p := range mustEquilibrium(t, g) {
				if math.Abs(p-1.0/3) > 1e-14 {
					t.Errorf("q=%g tau=%g: pi*[%d] = %.17g, want 1/3", q, tau, i, p)
				}
			}
			// η_0 τ = 1 makes π_1 ∝ μ exp(η_0 P(y ≻ μ)) = uniform at once; a
			// schedule starting at η_0 τ = 1/2 has to forget π_0.
			uniform := []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}
			_, hist, err := NashMD(g, []float64{0.7, 0.2, 0.1}, 1000, TheoremEta(tau))
			if err != nil {
				t.Fatal(err)
			}
			if kl := KL(uniform, hist[1]); kl > 1e-15 {
				t.Errorf("q=%g tau=%g: KL(uniform, pi_1) = %g, want 0", q, tau, kl)
			}
			late := func(t int) float64 { return 2 / (tau * float64(t+4)) }
			pi, _, err := NashMD(g, []float64{0.7, 0.2, 0.1}, 1000, late)
			if err != nil {
				t.Fatal(err)
			}
			// Theorem 1's per-step inequality iterated from KL(π*, π_0), and a
			// 10⁴-fold decrease.
			kl0, kl := KL(uniform, []float64{0.7, 0.2, 0.1}), KL(uniform, pi)
			bound := kl0
			for s := range 1000 {
				bound = (1-late(s)*tau)*bound + 2*late(s)*late(s)
			}
			if kl > bound || kl > 1e-4*kl0 {
				t.Errorf("q=%g tau=%g: KL(uniform, pi_1000) = %g, want <= %g and <= 1e-4 KL(uniform, pi_0) = %g", q, tau, kl, bound, 1e-4*kl0)
			}
			t.Logf("q=%.3g tau=%g: KL(uniform, pi_1000) = %.3g from pi_0 = (0.7, 0.2, 0.1), eta_t = 2/(tau(t+4))", q, tau, kl)
		}
	}
}

// The Theorem 1 checks have teeth: two plausible bugs in the update (the
// preference term's sign flipped; the mixture's exponents swapped,
// π^{β} μ^{1−β}) each break the bound or the per-step inequality on the
// same games.
func TestTheorem1ChecksCatchBugs(t *testing.T) {
	bugs := map[string]func(g Game, lp, lmu []float64, eta float64) []float64{
		"sign": func(g Game, lp, lmu []float64, eta float64) []float64 {
			lm := mixLog(lp, lmu, eta*g.Tau)
			s := g.Against(exps(lm))
			for i := range lm {
				lm[i] -= eta * s[i]
			}
			return logSoftmax(lm)
		},
		"swapped mixture": func(g Game, lp, lmu []float64, eta float64) []float64 {
			lm := mixLog(lp, lmu, 1-eta*g.Tau)
			s := g.Against(exps(lm))
			for i := range lm {
				lm[i] += eta * s[i]
			}
			return logSoftmax(lm)
		},
	}
	for name, step := range bugs {
		caught := 0
		for _, g := range randGames(1) {
			star := mustEquilibrium(t, g)
			eta := TheoremEta(g.Tau)
			lp, lmu := logs(g.Mu), logs(g.Mu)
			bad := false
			for s := range 1000 {
				e := eta(s)
				prev := KL(star, exps(lp))
				lp = step(g, lp, lmu, e)
				kl := KL(star, exps(lp))
				bad = bad || kl > (1-e*g.Tau)*prev+2*e*e+1e-12 || kl > TheoremBound(g.Tau, s+1)
			}
			if bad {
				caught++
			}
		}
		t.Logf("bug %q: caught on %d of 24 games", name, caught)
		if caught == 0 {
			t.Errorf("bug %q passes every Theorem 1 check", name)
		}
	}
}

// Every iterate is a strictly positive distribution, and
// spread(log π_t − log μ) ≤ max(spread(log π_0 − log μ), 1/τ).
func TestIteratesStayDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	games := randGames(5)
	stress := randGame(rng, 20, 0.01)
	stress.Mu = randPolicy(rng, 20, 6) // μ_min ~ 1e-10
	games = append(games, stress)
	for gi, g := range games {
		pi0 := randPolicy(rng, len(g.Mu), 4)
		for _, eta := range []func(int) float64{TheoremEta(g.Tau), func(int) float64 { return 0.3 / g.Tau }} {
			_, hist, err := NashMD(g, pi0, 300, eta)
			if err != nil {
				t.Fatal(err)
			}
			limit := math.Max(spread(pi0, g.Mu), 1/g.Tau) + 1e-9
			for s, pi := range hist {
				sum := 0.0
				for _, p := range pi {
					if !(p > 0) {
						t.Fatalf("game %d t=%d: entry %g not > 0", gi, s, p)
					}
					sum += p
				}
				if math.Abs(sum-1) > 1e-12 {
					t.Errorf("game %d t=%d: sums to %.17g", gi, s, sum)
				}
				if sp := spread(pi, g.Mu); sp > limit {
					t.Errorf("game %d t=%d: spread(log pi - log mu) = %g > %g", gi, s, sp, limit)
				}
			}
		}
	}
}

func spread(pi, mu []float64) float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range pi {
		d := math.Log(pi[i]) - math.Log(mu[i])
		lo, hi = math.Min(lo, d), math.Max(hi, d)
	}
	return hi - lo
}

func TestStepSizeOutOfRange(t *testing.T) {
	g := Game{P: [][]float64{{0.5, 0.7}, {0.3, 0.5}}, Mu: []float64{0.4, 0.6}, Tau: 0.5}
	for _, bad := range []float64{0, -1, 2.0000001, 10, math.NaN(), math.Inf(1)} {
		eta := func(t int) float64 {
			if t == 3 {
				return bad
			}
			return 1 // η τ = 1/2
		}
		_, _, err := NashMD(g, nil, 10, eta)
		var se *StepError
		if !errors.Is(err, ErrStepSize) || !errors.As(err, &se) || se.T != 3 {
			t.Errorf("eta_3 = %g: err = %v, want *StepError at t=3", bad, err)
		}
		if _, err := g.Step(g.Mu, bad); !errors.Is(err, ErrStepSize) {
			t.Errorf("Step(eta=%g): err = %v, want ErrStepSize", bad, err)
		}
	}
	// η τ = 1 is allowed: π_t^μ = μ.
	if _, _, err := NashMD(g, nil, 3, func(int) float64 { return 2 }); err != nil {
		t.Errorf("eta*tau = 1: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Game{P: [][]float64{{0.5, 0.7}, {0.3, 0.5}}, Mu: []float64{0.4, 0.6}, Tau: 0.5}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]Game{
		"empty":          {Tau: 1},
		"tau 0":          {P: ok.P, Mu: ok.Mu, Tau: 0},
		"tau inf":        {P: ok.P, Mu: ok.Mu, Tau: math.Inf(1)},
		"tau NaN":        {P: ok.P, Mu: ok.Mu, Tau: math.NaN()},
		"rows":           {P: ok.P[:1], Mu: ok.Mu, Tau: 1},
		"ragged":         {P: [][]float64{{0.5, 0.7}, {0.3}}, Mu: ok.Mu, Tau: 1},
		"not antisym":    {P: [][]float64{{0.5, 0.7}, {0.4, 0.5}}, Mu: ok.Mu, Tau: 1},
		"diagonal":       {P: [][]float64{{0.4, 0.7}, {0.3, 0.5}}, Mu: ok.Mu, Tau: 1},
		"out of [0,1]":   {P: [][]float64{{0.5, 1.2}, {-0.2, 0.5}}, Mu: ok.Mu, Tau: 1},
		"mu zero":        {P: ok.P, Mu: []float64{0, 1}, Tau: 1},
		"mu sum":         {P: ok.P, Mu: []float64{0.5, 0.6}, Tau: 1},
		"mu len":         {P: ok.P, Mu: []float64{1}, Tau: 1},
		"P NaN":          {P: [][]float64{{0.5, math.NaN()}, {0.3, 0.5}}, Mu: ok.Mu, Tau: 1},
		"mu NaN":         {P: ok.P, Mu: []float64{math.NaN(), 0.6}, Tau: 1},
		"mu 1+1e-9 sums": {P: ok.P, Mu: []float64{0.4 + 1e-9, 0.6}, Tau: 1},
	} {
		if err := g.Validate(); !errors.Is(err, ErrInvalidGame) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidGame", name, err)
		}
		if _, err := Equilibrium(g, 1e-12); !errors.Is(err, ErrInvalidGame) {
			t.Errorf("%s: Equilibrium err = %v", name, err)
		}
	}
	if _, _, err := NashMD(ok, []float64{1, 0}, 1, TheoremEta(ok.Tau)); !errors.Is(err, ErrInvalidGame) {
		t.Errorf("pi0 without full support: err = %v, want ErrInvalidGame", err)
	}
}

func TestMixture(t *testing.T) {
	pi, mu := []float64{0.6, 0.3, 0.1}, []float64{0.2, 0.3, 0.5}
	for _, tc := range []struct {
		beta float64
		want []float64
	}{
		{0, pi},
		{1, mu},
		// (0.6·0.2)^½, (0.3·0.3)^½, (0.1·0.5)^½ normalised.
		{0.5, norm([]float64{math.Sqrt(0.12), 0.3, math.Sqrt(0.05)})},
	} {
		got := Mixture(pi, mu, tc.beta)
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-15 {
				t.Errorf("Mixture(beta=%g) = %v, want %v", tc.beta, got, tc.want)
				break
			}
		}
	}
}

func norm(w []float64) []float64 {
	s := 0.0
	for _, v := range w {
		s += v
	}
	out := make([]float64, len(w))
	for i, v := range w {
		out[i] = v / s
	}
	return out
}

// golden.json (testdata/gen_golden.py): Nash-MD typed again in NumPy in
// probability space, and π*_τ from NumPy extragradient (mirror prox), a
// third method, run to residual ≤ 1e-13.
type goldenCase struct {
	Name   string      `json:"name"`
	P      [][]float64 `json:"P"`
	Mu     []float64   `json:"mu"`
	Tau    float64     `json:"tau"`
	Pi0    []float64   `json:"pi0"`
	Eta    *float64    `json:"eta"` // nil: TheoremEta
	T      int         `json:"T"`
	PiT    []float64   `json:"pi_T"`
	PiStar []float64   `json:"pi_star"`
}

func TestGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	maxT, maxStar := 0.0, 0.0
	for _, c := range cases {
		g := Game{P: c.P, Mu: c.Mu, Tau: c.Tau}
		eta := TheoremEta(c.Tau)
		if c.Eta != nil {
			e := *c.Eta
			eta = func(int) float64 { return e }
		}
		pi, _, err := NashMD(g, c.Pi0, c.T, eta)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		star := mustEquilibrium(t, g)
		dT, dStar := maxLogDiff(pi, c.PiT), maxLogDiff(star, c.PiStar)
		maxT, maxStar = math.Max(maxT, dT), math.Max(maxStar, dStar)
		if dT > 1e-10 {
			t.Errorf("%s: Nash-MD pi_%d differs from NumPy: max |dlog| = %g", c.Name, c.T, dT)
		}
		if dStar > 1e-10 {
			t.Errorf("%s: Equilibrium differs from NumPy extragradient: max |dlog| = %g", c.Name, dStar)
		}
	}
	t.Logf("%d cases: max |dlog pi_T| = %.3g, max |dlog pi*| = %.3g", len(cases), maxT, maxStar)
}

func maxLogDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(math.Log(a[i])-math.Log(b[i])))
	}
	return m
}
