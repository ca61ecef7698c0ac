"""Parametric law L(N, D) = E + A/N^α + B/D^β, fitted as Epoch AI's replication of Chinchilla does it.

In log space: log L̂ = LSE(a − α·log N, b − β·log D, e) with A = e^a, B = e^b, E = e^e; the objective is the
Huber loss (δ = 1e-3) of log L̂ − log L summed over points, minimised by L-BFGS from a grid of initial values (the 32
grid points of lowest objective); the best run is kept and its optimiser status recorded. Intervals: bootstrap
over points (seeded), each resample started from the full fit's optimum.

With `tie_exponents` α = β (as Muennighoff et al. fit their base law): one exponent, the gradients of both terms
summed. The data-constrained extension of this law lives in data_constrained.py.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
from scipy.optimize import curve_fit, minimize
from scipy.special import logsumexp

from .powerlaw import ci95

HUBER_DELTA = 1e-3
# Initial values (Hoffmann et al.'s grid, coarser in a and b, which the optimiser moves freely).
GRID = {
    "a": [0.0, 5.0, 10.0, 15.0, 20.0, 25.0],
    "b": [0.0, 5.0, 10.0, 15.0, 20.0, 25.0],
    "e": [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5],
    "alpha": [0.0, 0.5, 1.0, 1.5, 2.0],
    "beta": [0.0, 0.5, 1.0, 1.5, 2.0],
}
PARAMS = ("a", "b", "e", "alpha", "beta")
LAW_KEYS = ("E", "A", "B", "alpha", "beta")
LBFGS_STARTS = 32  # L-BFGS runs from the best grid points by objective value; all 5,400 cost ~100x more
GRID_POINTS = 2000


def _huber(r: np.ndarray, delta: float = HUBER_DELTA) -> tuple[np.ndarray, np.ndarray]:
    """Huber loss of residuals and its derivative."""
    small = np.abs(r) <= delta
    loss = np.where(small, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
    grad = np.where(small, r, delta * np.sign(r))
    return loss, grad


def _objective(theta, log_n, log_d, log_l, weights):
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    pred = logsumexp(terms, axis=0)
    loss, dloss = _huber(pred - log_l)
    soft = np.exp(terms - pred)  # d pred / d term
    g = weights * dloss
    grad = np.array(
        [
            np.sum(g * soft[0]),
            np.sum(g * soft[1]),
            np.sum(g * soft[2]),
            -np.sum(g * soft[0] * log_n),
            -np.sum(g * soft[1] * log_d),
        ]
    )
    return float(np.sum(weights * loss)), grad


def _grid_objective(starts, log_n, log_d, log_l, cells: int = 2_000_000):
    """The objective at every grid point (rows of `starts`), to pick where L-BFGS starts; in chunks of about
    `cells` (start, point) pairs, so that whole curves (~44k points) fit in memory."""
    out = []
    for chunk in np.array_split(starts, max(1, len(starts) * log_n.size // cells)):
        a, b, e, alpha, beta = (chunk[:, i : i + 1] for i in range(5))
        terms = np.stack([a - alpha * log_n, b - beta * log_d, np.broadcast_to(e, (len(chunk), log_n.size))])
        out.append(_huber(logsumexp(terms, axis=0) - log_l)[0].sum(axis=1))
    return np.concatenate(out)


def _tied_objective(theta4, log_n, log_d, log_l, weights):
    """The objective with β = α: (a, b, e, α) -> the 5-parameter objective, the two exponents' gradients summed."""
    value, grad = _objective(np.append(theta4, theta4[3]), log_n, log_d, log_l, weights)
    return value, np.append(grad[:3], grad[3] + grad[4])


def _minimise(theta0, log_n, log_d, log_l, weights):
    # Huber objectives with δ = 1e-3 are tiny (~1e-4): scipy's default ftol would stop after a few steps.
    tied = len(theta0) == 4
    res = minimize(
        _tied_objective if tied else _objective,
        theta0,
        args=(log_n, log_d, log_l, weights),
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000},
    )
    if tied:
        res.x = np.append(res.x, res.x[3])  # back to (a, b, e, α, β)
    return res


def _as_law(theta, res) -> dict:
    a, b, e, alpha, beta = (float(v) for v in theta)
    return {
        "E": float(np.exp(e)),
        "A": float(np.exp(a)),
        "B": float(np.exp(b)),
        "alpha": alpha,
        "beta": beta,
        "status": {
            "success": bool(res.success),
            "message": str(res.message),
            "objective": float(res.fun),
            "iterations": int(res.nit),
        },
    }


def fit_parametric(
    n,
    d,
    loss,
    bootstrap: int = 0,
    seed: int = 0,
    grid: dict | None = None,
    starts: int = LBFGS_STARTS,
    tie_exponents: bool = False,
) -> dict:
    """Fit L(N, D) to points; with `bootstrap` > 0 add 95% percentile intervals ("ci95") for every parameter;
    with `tie_exponents` β = α."""
    n, d, loss = (np.asarray(v, dtype=float) for v in (n, d, loss))
    if not (n.size == d.size == loss.size) or n.size < 5:
        raise ValueError(f"parametric fit needs at least 5 points with N, D and loss, got {n.size}")
    if (n <= 0).any() or (d <= 0).any() or (loss <= 0).any() or not np.isfinite(n * d * loss).all():
        raise ValueError("parametric fit: N, D and loss must be positive and finite")
    log_n, log_d, log_l = np.log(n), np.log(d), np.log(loss)
    w = np.ones_like(log_n)
    n_starts, starts = starts, np.array(list(itertools.product(*((grid or GRID)[p] for p in PARAMS))))
    if tie_exponents:
        starts = starts[starts[:, 3] == starts[:, 4]]
    best = None
    # Starts are ranked on at most GRID_POINTS evenly spaced points (whole curves hold ~44k): a ranking needs no
    # more, and L-BFGS then runs on every point.
    pick = np.linspace(0, n.size - 1, min(n.size, GRID_POINTS)).astype(int)
    ranked = np.argsort(_grid_objective(starts, log_n[pick], log_d[pick], log_l[pick]))
    for start in starts[ranked[:n_starts]]:
        res = _minimise(start[:4] if tie_exponents else start, log_n, log_d, log_l, w)
        if best is None or res.fun < best.fun:
            best = res
    law = _as_law(best.x, best)
    law["n_points"] = int(n.size)
    if tie_exponents:
        law["tie_exponents"] = True
    law["degenerate"] = _degenerate(n, d)
    if bootstrap:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(bootstrap):
            counts = np.bincount(rng.integers(0, n.size, n.size), minlength=n.size).astype(float)
            res = _minimise(best.x[:4] if tie_exponents else best.x, log_n, log_d, log_l, counts)
            draws.append([np.exp(res.x[2]), np.exp(res.x[0]), np.exp(res.x[1]), res.x[3], res.x[4]])
        draws = np.array(draws)
        law["ci95"] = {k: ci95(draws[:, i]) for i, k in enumerate(LAW_KEYS)}
        law["bootstrap"], law["seed"] = bootstrap, seed
    return law


# ------------------------------------------------------------------------------------ the seed's method

# Start of the seed's fit (its README's fit_chinchilla_curve takes p0 from the caller; this is ours, settable).
SEED_P0 = {"E": 1.5, "A": 100.0, "B": 100.0, "alpha": 0.3, "beta": 0.3}
SEED_MAXFEV = 12000
POORLY_IDENTIFIED = 0.5  # a parameter whose standard error exceeds half its value is not identified


def _law_value(x, e, a, b, alpha, beta):
    n, d = x
    return e + a / n**alpha + b / d**beta


def fit_seed(n, d, loss, p0: dict | None = None) -> dict:
    """The authors' seed method: scipy curve_fit of E + A/N^α + B/D^β in loss space (method 'trf', maxfev
    12000) from one start p0, unweighted and unbounded. Standard errors from its covariance; "identified" is
    False when any parameter's relative standard error exceeds POORLY_IDENTIFIED or E < 0 (no loss floor)."""
    n, d, loss = (np.asarray(v, dtype=float) for v in (n, d, loss))
    start = {**SEED_P0, **(p0 or {})}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, pcov = curve_fit(
                _law_value, (n, d), loss, p0=[start[k] for k in LAW_KEYS], method="trf", maxfev=SEED_MAXFEV
            )
    except (RuntimeError, ValueError) as err:
        return {"error": f"curve_fit from p0 {start}: {err}", "p0": start, "n_points": int(n.size)}
    se = np.sqrt(np.abs(np.diag(pcov)))
    rel = {k: float(se[i] / abs(popt[i])) if popt[i] else float("inf") for i, k in enumerate(LAW_KEYS)}
    identified = bool(np.isfinite(pcov).all() and max(rel.values()) <= POORLY_IDENTIFIED and popt[0] >= 0)
    return {
        **{k: float(v) for k, v in zip(LAW_KEYS, popt)},
        "se": dict(zip(LAW_KEYS, se.tolist())),
        "rel_se": rel,
        "identified": identified,
        "p0": start,
        "n_points": int(n.size),
        "degenerate": _degenerate(n, d),
    }


def identified(law: dict) -> bool:
    """Epoch-method laws: every bootstrap 95% interval narrower than its value, and E > 0; seed: see fit_seed."""
    if law.get("degenerate"):
        return False
    if "identified" in law:
        return law["identified"]
    ci = law.get("ci95")
    if not ci or law["E"] <= 1e-6:
        return False
    return all(hi - lo < abs(law[k]) for k, (lo, hi) in ci.items())


def _degenerate(n: np.ndarray, d: np.ndarray) -> str | None:
    """Why no law of N and D can be identified from these points, or None: A/N^α needs N to vary, B/D^β D."""
    for name, values in (("N", n), ("D", d)):
        distinct = np.unique(values).size
        if distinct < 3:
            return f"{name} takes {distinct} distinct value(s): its term cannot be told from E"
    return None


def predict(law: dict, n, d) -> np.ndarray:
    return law["E"] + law["A"] / np.asarray(n, float) ** law["alpha"] + law["B"] / np.asarray(d, float) ** law["beta"]


def _allocation(law: dict) -> float:
    """G of Hoffmann et al. (eq. 4): N_opt = G·(C/6)^(β/(α+β))."""
    a, b = law["alpha"], law["beta"]
    return (a * law["A"] / (b * law["B"])) ** (1 / (a + b))


def compute_optimal(law: dict, c) -> tuple[np.ndarray, np.ndarray]:
    """N_opt, D_opt minimising L under C = 6·N·D (closed form of Hoffmann et al., eq. 4)."""
    a, b = law["alpha"], law["beta"]
    n_opt = _allocation(law) * (np.asarray(c, float) / 6) ** (b / (a + b))
    return n_opt, np.asarray(c, float) / (6 * n_opt)
