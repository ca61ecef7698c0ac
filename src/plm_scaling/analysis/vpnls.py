"""Variable projection fit of L(N, D) = E + A/N^α + B/D^β (after Open-Athena's vpnls, arXiv 2603.22339).

For fixed exponents (α, β) the law is linear in (E, A, B): non-negative least squares on the design
[1, N^−α, D^−β] gives them exactly, so only the two exponents are searched (a coarse grid, then bounded L-BFGS
from its best cell). Fewer free parameters than the five-parameter Epoch fit and no start values to choose: the
paper reports it faster and more reliable. The objective is the sum of squared residuals in loss space (seed noise
is additive in loss). Intervals: bootstrap over points (seeded); a resample that yields no law is counted, not used.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, nnls

from .powerlaw import ci95

BOUNDS = (0.01, 2.0)  # exponents searched; a fit at either end is not a law of these points
GRID = np.linspace(0.05, 1.5, 30)  # coarse (α, β) grid: 900 NNLS solves of 3 columns cost ~10 ms
LAW_KEYS = ("E", "A", "B", "alpha", "beta")
AT_BOUND = 1e-3


def _solve(exponents, n, d, loss, w):
    """(E, A, B) ≥ 0 for fixed (α, β) and the weighted residual sum of squares."""
    alpha, beta = exponents
    x = np.column_stack([np.ones_like(n), n**-alpha, d**-beta])
    scale = np.linalg.norm(x, axis=0)  # unit columns: N^−α and D^−β differ by orders of magnitude
    scale[scale == 0] = 1.0
    sw = np.sqrt(w)
    coef, rnorm = nnls(x / scale * sw[:, None], loss * sw)
    return coef / scale, rnorm * rnorm


def _rss(exponents, n, d, loss, w):
    return _solve(exponents, n, d, loss, w)[1]


def _local(start, n, d, loss, w):
    """Bounded L-BFGS on the projected objective from `start` (numerical gradient: 2 parameters)."""
    res = minimize(
        _rss,
        start,
        args=(n, d, loss, w),
        method="L-BFGS-B",
        bounds=[BOUNDS, BOUNDS],
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 500},
    )
    coef, rss = _solve(res.x, n, d, loss, w)
    return res, coef, rss


def _law(res, coef, rss) -> dict:
    alpha, beta = (float(v) for v in res.x)
    e, a, b = (float(v) for v in coef)
    at_bound = any(min(abs(v - BOUNDS[0]), abs(v - BOUNDS[1])) < AT_BOUND for v in (alpha, beta))
    # A term whose coefficient NNLS set to 0 leaves its exponent free: no law, whatever the optimiser says.
    ok = bool(np.isfinite(rss) and not at_bound and min(a, b) > 0)
    return {
        "E": e,
        "A": a,
        "B": b,
        "alpha": alpha,
        "beta": beta,
        "n_opt_exponent": beta / (alpha + beta),
        "status": {"ok": ok, "at_bound": at_bound, "rss": float(rss), "iterations": int(res.nit)},
    }


def _best_start(n, d, loss, w) -> np.ndarray:
    rss = np.array([[_rss((a, b), n, d, loss, w) for b in GRID] for a in GRID])
    i, j = np.unravel_index(np.argmin(rss), rss.shape)
    return np.array([GRID[i], GRID[j]])


def fit_vpnls(n, d, loss, bootstrap: int = 0, seed: int = 0) -> dict:
    """The law with status; with `bootstrap` > 0, 95% percentile intervals ("ci95") of every parameter and of the
    N_opt exponent β/(α+β), the exponent's draws ("samples") and the count of resamples that gave no law."""
    n, d, loss = (np.asarray(v, dtype=float) for v in (n, d, loss))
    if not (n.size == d.size == loss.size) or n.size < 5:
        raise ValueError(f"vpnls fit needs at least 5 points with N, D and loss, got {n.size}")
    if (n <= 0).any() or (d <= 0).any() or not np.isfinite(n * d * loss).all():
        raise ValueError("vpnls fit: N and D must be positive and every value finite")
    if min(np.unique(n).size, np.unique(d).size) < 3:  # an exponent of 2 distinct values is any exponent
        raise ValueError(
            f"vpnls fit needs at least 3 distinct N and D, got {np.unique(n).size} and {np.unique(d).size}"
        )
    w = np.ones_like(n)
    law = _law(*_local(_best_start(n, d, loss, w), n, d, loss, w))
    law["n_points"] = int(n.size)
    if bootstrap:
        law.update(_bootstrap(law, n, d, loss, bootstrap, seed))
    return law


def _bootstrap(law: dict, n, d, loss, bootstrap: int, seed: int) -> dict:
    """Resample points (as multiplicities), refit from the full fit's exponents; a resample with fewer than 3
    distinct N or D, or whose fit is not ok, is a failure."""
    rng = np.random.default_rng(seed)
    start = np.array([law["alpha"], law["beta"]])
    draws, failed = [], 0
    for _ in range(bootstrap):
        w = np.bincount(rng.integers(0, n.size, n.size), minlength=n.size).astype(float)
        used = w > 0
        if min(np.unique(n[used]).size, np.unique(d[used]).size) < 3:
            failed += 1
            continue
        boot = _law(*_local(start, n, d, loss, w))
        if not boot["status"]["ok"]:
            failed += 1
            continue
        draws.append([boot[k] for k in (*LAW_KEYS, "n_opt_exponent")])
    out = {"bootstrap": bootstrap, "seed": seed, "failed": failed, "ci95": None, "samples": []}
    if draws:
        draws = np.array(draws)
        out["ci95"] = {k: ci95(draws[:, i]) for i, k in enumerate((*LAW_KEYS, "n_opt_exponent"))}
        out["samples"] = draws[:, -1].tolist()
    return out
