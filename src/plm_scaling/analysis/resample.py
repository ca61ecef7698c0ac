"""Bootstrap resamples of an IsoFLOP study, each held to the fit's own rules (isoflop.fit).

Two ways to make a resample:
- "residual" (the default): every run stays, at its budget's fitted value plus a residual drawn from the pooled
  residuals of the per-budget parabolas (inflated by sqrt(n/(n-3)): a parabola through 5 sizes leaves only 2 of
  their 5 degrees of freedom in its residuals). Each resample has every budget and every size the study has, so a
  resample loses a budget only where the noise could move its minimum to an edge.
- "runs": runs drawn with replacement. With 3 budgets of 5 sizes, a draw often leaves a budget with fewer than 3
  sizes or its best size at an edge, and under the fit's own rule (3 interior minima) about a third of the
  resamples fit no law: those are counted, never dropped silently.
A resample with fewer budgets with an interior minimum than the fit itself needs is no law.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .powerlaw import ci95

METHODS = ("residual", "runs")
PARABOLA_PARAMETERS = 3


def _fitted_and_residuals(points, local_parabola) -> tuple[np.ndarray, np.ndarray]:
    """Each point's fitted loss (its budget's local parabola where the point is inside its window; else the
    observed loss) and the pooled, inflated residuals of the windows."""
    fitted = np.array([p.loss for p in points], float)
    pool = []
    for k in sorted({p.budget for p in points}):
        idx = np.array([i for i, p in enumerate(points) if p.budget == k])
        log_n, loss = np.array([points[i].log_n for i in idx]), fitted[idx]
        if np.unique(log_n).size < PARABOLA_PARAMETERS:
            continue
        coef, (lo, hi) = local_parabola(log_n, loss)
        inside = (log_n >= lo) & (log_n <= hi)
        if inside.sum() <= PARABOLA_PARAMETERS:
            continue  # the parabola passes through every point: no residual to learn the noise from
        fitted[idx[inside]] = np.polyval(coef, log_n[inside])
        residual = loss[inside] - fitted[idx[inside]]
        pool.extend(residual * np.sqrt(inside.sum() / (inside.sum() - PARABOLA_PARAMETERS)))
    return fitted, np.array(pool)


def resampler(points, method: str, local_parabola):
    """(the method used, a function of a random generator giving one resample's (points, multiplicities)). A
    residual bootstrap without any residual (every budget of 3 sizes) falls back to runs, and says so."""
    if method not in METHODS:
        raise ValueError(f"bootstrap method {method!r} is not one of {', '.join(METHODS)}")
    if method == "residual":
        fitted, pool = _fitted_and_residuals(points, local_parabola)
        if pool.size:
            ones = np.ones(len(points))

            def residual_draw(rng):
                noisy = fitted + rng.choice(pool, size=len(points), replace=True)
                return [replace(p, loss=float(v)) for p, v in zip(points, noisy)], ones

            return method, residual_draw
        method = "runs (no budget has more points than its parabola's 3 parameters: no residuals)"
    sources = sorted({p.source for p in points})
    run_of = np.array([sources.index(p.source) for p in points])

    def run_draw(rng):
        mult = np.bincount(rng.integers(0, len(sources), len(sources)), minlength=len(sources))
        return points, mult[run_of].astype(float)

    return method, run_draw


def bootstrap(laws: dict, points, laws_of, local_parabola, *, method: str, bootstrap: int, seed: int, need: int):
    """Each law's 95% interval, its (coef, exponent) samples and its failed resamples, added to `laws`; what the
    resamples were (method, how many fitted no law and why). `laws_of(points, counts)` gives a resample's laws,
    or None when fewer than `need` budgets have an interior minimum."""
    method, draw = resampler(points, method, local_parabola)
    rng = np.random.default_rng(seed)
    samples, without_law = {k: [] for k in laws}, 0
    for _ in range(bootstrap):
        boot = laws_of(*draw(rng))
        if boot is None:
            without_law += 1
            continue
        for k in laws:
            samples[k].append((boot[k]["coef"], boot[k]["exponent"]))
    for k, law in laws.items():
        s = np.array(samples[k]).reshape(-1, 2)
        s = s[np.isfinite(s).all(axis=1)]
        law["ci95"] = ci95(s[:, 1]) if len(s) else None
        law["samples"] = s.tolist()  # (coef, exponent) pairs: the planner's intervals
        law["failed"] = bootstrap - len(s)  # resamples that gave this law no finite value: the interval omits them
    return {
        "requested": bootstrap,
        "method": method,
        "without_law": without_law,
        "reason": f"fewer than {need} budgets with an interior minimum in the resample (the fit's own rule)",
    }
