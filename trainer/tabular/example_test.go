package tabular_test

import (
	"fmt"

	"github.com/nashmd/nashmd/trainer/tabular"
)

// Two responses, y_0 preferred to y_1 three times in four, uniform μ, τ = 1/4.
// By hand, π*(y_0) = σ((P(y_0 ≻ y_1) − 1/2)/τ) = σ(1) = e/(1+e) ≈ 0.7311.
func ExampleNashMD() {
	g := tabular.Game{
		P:   [][]float64{{0.5, 0.75}, {0.25, 0.5}},
		Mu:  []float64{0.5, 0.5},
		Tau: 0.25,
	}
	star, err := tabular.Equilibrium(g, 1e-12)
	if err != nil {
		panic(err)
	}
	pi, _, err := tabular.NashMD(g, nil, 1000, tabular.TheoremEta(g.Tau))
	if err != nil {
		panic(err)
	}
	fmt.Printf("pi* = %.4f\n", star)
	fmt.Println("KL(pi*, pi_1000) <= 8/(tau^2 1001):", tabular.KL(star, pi) <= tabular.TheoremBound(g.Tau, 1000))
	// Output:
	// pi* = [0.7311 0.2689]
	// KL(pi*, pi_1000) <= 8/(tau^2 1001): true
}
