#!/usr/bin/env python3
"""Writes trainer/tabular/testdata/golden.json for trainer/tabular's TestGolden.

Pinned: numpy 1.24 (Debian's python3-numpy in .venv). Nothing else.

Independent of the Go code:
  * Nash-MD (Munos et al. 2023, Section 5) retyped in probability space:
        pm  = pi**(1 - eta*tau) * mu**(eta*tau);  pm /= pm.sum()
        pi' = pm * exp(eta * P @ pm);             pi' /= pi'.sum()
    (the Go code works on log-probabilities).
  * pi*_tau by extragradient / mirror prox on the regularised game (the Go code
    uses Newton's method on the first-order condition). A prox step against a
    gradient g is log pi' = (log pi + eta tau log mu + eta g) / (1 + eta tau) + c;
    mirror prox takes one step with g = P pi to get pibar, then one from pi
    with g = P pibar. It is run until the residual of
        pi*(y) = mu(y) exp(P(y > pi*)/tau) / Z
    (half the spread of log pi - log mu - P pi / tau) is <= 1e-13.
"""
import json
import os

import numpy as np


def rand_game(rng, n, tau):
    P = np.full((n, n), 0.5)
    for i in range(n):
        for j in range(i + 1, n):
            P[i, j] = rng.uniform()
            P[j, i] = 1.0 - P[i, j]
    mu = np.exp(2.0 * rng.standard_normal(n))
    return P, mu / mu.sum(), tau


def nash_md(P, mu, tau, pi0, T, eta):
    pi = pi0.copy()
    for t in range(T):
        e = eta(t)
        b = e * tau
        assert 0 < b <= 1
        pm = pi ** (1 - b) * mu ** b
        pm /= pm.sum()
        pi = pm * np.exp(e * (P @ pm))
        pi /= pi.sum()
    return pi


def residual(P, mu, tau, pi):
    r = np.log(pi) - np.log(mu) - (P @ pi) / tau
    return (r.max() - r.min()) / 2


def extragradient(P, mu, tau, eta=0.5, max_iter=200000):
    lmu = np.log(mu)

    def prox(lp, g):
        l = (lp + eta * tau * lmu + eta * g) / (1 + eta * tau)
        l -= l.max()
        return l - np.log(np.exp(l).sum())

    lp = lmu.copy()
    for _ in range(max_iter):
        lbar = prox(lp, P @ np.exp(lp))
        lp = prox(lp, P @ np.exp(lbar))
        if residual(P, mu, tau, np.exp(lp)) <= 1e-13:
            return np.exp(lp)
    raise RuntimeError("extragradient did not converge")


def main():
    rng = np.random.default_rng(20231201)
    specs = [  # (n, tau, eta or None for 2/(tau(t+2)), T)
        (2, 0.1, None, 1000),
        (3, 0.5, None, 1000),
        (5, 1.0, None, 1000),
        (8, 2.0, None, 1000),
        (13, 0.1, None, 300),
        (20, 0.5, None, 1000),
        (6, 0.25, 0.3 / 0.25, 50),
        (20, 2.0, 1.0 / 2.0, 200),
    ]
    cases = []
    for k, (n, tau, eta, T) in enumerate(specs):
        P, mu, tau = rand_game(rng, n, tau)
        pi0 = np.exp(3.0 * rng.standard_normal(n))
        pi0 /= pi0.sum()
        sched = (lambda t, tau=tau: 2.0 / (tau * (t + 2))) if eta is None else (lambda t, e=eta: e)
        piT = nash_md(P, mu, tau, pi0, T, sched)
        star = extragradient(P, mu, tau)
        cases.append({
            "name": f"case{k}_n{n}_tau{tau}",
            "P": P.tolist(), "mu": mu.tolist(), "tau": tau, "pi0": pi0.tolist(),
            "eta": eta, "T": T, "pi_T": piT.tolist(), "pi_star": star.tolist(),
            "residual": residual(P, mu, tau, star),
        })
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    with open(out, "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    print(f"wrote {out}: {len(cases)} cases, max residual {max(c['residual'] for c in cases):.3g}")


if __name__ == "__main__":
    main()
