package trainer

import "math"

// Binomial confidence intervals for evaluation counts (win rate, accuracy).

// ClopperPearson returns the exact (Clopper–Pearson) two-sided 1−alpha
// confidence interval for a binomial proportion after k successes in n
// trials:
//
//	lo = the alpha/2 quantile of Beta(k, n−k+1)      (0 when k = 0)
//	hi = the 1−alpha/2 quantile of Beta(k+1, n−k)    (1 when k = n)
//
// so that P(X ≥ k | p = lo) = alpha/2 and P(X ≤ k | p = hi) = alpha/2 for
// X ~ Binomial(n, p). The quantiles are found by bisection on the
// regularized incomplete beta function to a relative width of 1e-13 (and
// never coarser than 1e-12 absolute). n = 0 gives [0, 1]. Arguments outside
// 0 ≤ k ≤ n, 0 < alpha < 1 give NaN, NaN.
func ClopperPearson(k, n int, alpha float64) (lo, hi float64) {
	if k < 0 || n < 0 || k > n || !(alpha > 0 && alpha < 1) {
		return math.NaN(), math.NaN()
	}
	lo, hi = 0, 1
	if k > 0 {
		// P(X ≥ k | p) = I_p(k, n−k+1), increasing in p.
		lo = betaQuantile(alpha/2, float64(k), float64(n-k+1))
	}
	if k < n {
		// P(X ≤ k | p) = 1 − I_p(k+1, n−k), so hi solves I_p(k+1, n−k) = 1 − alpha/2.
		hi = betaQuantile(1-alpha/2, float64(k+1), float64(n-k))
	}
	return lo, hi
}

// betaQuantile returns x in [0, 1] with I_x(a, b) = q, by bisection
// (I_x is continuous and increasing in x for a, b > 0).
func betaQuantile(q, a, b float64) float64 {
	lo, hi := 0.0, 1.0
	for range 2000 {
		mid := lo + (hi-lo)/2
		if mid == lo || mid == hi || hi-lo <= 1e-13*mid {
			return mid
		}
		if betaInc(a, b, mid) < q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2
}

// betaInc is the regularized incomplete beta function I_x(a, b) for a, b > 0
// and x in [0, 1]:
//
//	I_x(a, b) = x^a (1−x)^b / (a·B(a, b)) · 1/(1+ d1/(1+ d2/(1+ …)))
//
// with the continued fraction of Numerical Recipes (6.4.5), evaluated by the
// modified Lentz method, and the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) used
// where the fraction converges slowly (x > (a+1)/(a+b+2)).
func betaInc(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	if x > (a+1)/(a+b+2) {
		return 1 - betaInc(b, a, 1-x)
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(a*math.Log(x) + b*math.Log1p(-x) - (la + lb - lab))
	return front * betaCF(a, b, x) / a
}

// betaCF evaluates the continued fraction of betaInc by modified Lentz.
func betaCF(a, b, x float64) float64 {
	const (
		tiny = 1e-300
		eps  = 1e-16
	)
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	f := d
	for m := 1; m <= 10000; m++ {
		fm := float64(m)
		// Even step: d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)).
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		f *= d * c
		// Odd step: d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)).
		num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		delta := d * c
		f *= delta
		if math.Abs(delta-1) < eps {
			break
		}
	}
	return f
}
