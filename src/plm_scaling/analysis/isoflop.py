"""Method 2, "interp": IsoFLOP analysis as careful practice does it, with bootstrap intervals.

- Runs: the IsoFLOP curves of the table given (the caller selects a group; `label` names it in messages),
  one copy of each (re-exports dropped), with a known N.
- Budgets: the compute values at which at least `min_sizes` model sizes ended their training (each run's final
  compute, snapped to 1 significant digit; runs within `rel_tol` of a budget belong to it). Only runs trained
  for a budget are used at it: the middle of a longer run is not annealed and would overstate its loss.
- Loss at the exact budget: log-log interpolation of the run's curve; never extrapolated. A budget just beyond
  the curve's end takes the last point if it is within `rel_tol`, else the run is skipped.
- Optimum: a parabola in log N through (log N, L) of the 5 sizes around the best observed one (a parabola is a
  local model; across a 20x range of N it bends wrongly). Fewer than 3 sizes: budget skipped. A minimum whose
  best observed loss or whose vertex sits at or beyond the smallest or largest size tried, or a parabola that
  opens downward, is rejected and reported, not used.
- Compute: counted as `compute` says (paper: 6·N·D, the table's x; full: x_full, analysis/flop_count.py). Where
  the table has both counts, N_opt is also fitted against each optimum's budget in the other count (n_opt_other).
- D_opt = C / (FLOPs per token at N_opt). Power laws by log-log regression; L(C) optionally with a saturation
  floor E.
- Bootstrap (analysis/resample.py): residuals of the per-budget parabolas redrawn onto every run (default), or runs
  drawn with replacement; redo everything; 95% percentile intervals of exponents. A resample held to the fit's own
  rule (3 interior minima) or it fits no law: it is counted (`resamples`, and per law `failed`), never silently
  dropped.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit

from .flop_count import FlopCount, counted, flop_count
from .powerlaw import PF_DAY, fit_loglog
from .resample import bootstrap as resample_laws
from .table import Table

LOCAL_SIZES = 5
MIN_BUDGETS = 3  # interior minima a power law needs, in the fit and in every bootstrap resample


@dataclass
class RunAtBudget:
    budget: int  # index into the budgets array
    log_n: float
    loss: float
    source: str


def loss_at(x: np.ndarray, loss: np.ndarray, budget: float, rel_tol: float) -> float | None:
    """Log-log interpolation of a curve at `budget`; None when the curve does not reach it (within rel_tol)."""
    order = np.argsort(x)
    x, loss = x[order], loss[order]
    if budget < x[0] * (1 - rel_tol) or budget > x[-1] * (1 + rel_tol):
        return None
    if budget >= x[-1]:
        return float(loss[-1])
    if budget <= x[0]:
        return float(loss[0])
    return float(np.exp(np.interp(np.log(budget), np.log(x), np.log(loss))))


def runs_at_budgets(
    table: Table, label: str, rel_tol: float = 0.1, min_sizes: int = 3
) -> tuple[np.ndarray, list[RunAtBudget]]:
    """Budgets (FLOPs) and every usable (budget, run) point."""
    curves, finals = _curves(table, label)
    budgets = np.array([b for b, sizes in _budget_candidates(curves, finals, rel_tol) if sizes >= min_sizes])
    points = []
    for t, final in zip(curves, finals):
        for k, b in enumerate(budgets):
            if abs(final / b - 1) <= rel_tol:
                value = loss_at(t.flops, t["loss"], b, rel_tol)
                if value is not None:
                    points.append(RunAtBudget(k, float(np.log(t["n"][0])), value, t["source"][0]))
    return budgets, points


def _curves(table: Table, label: str) -> tuple[list[Table], np.ndarray]:
    """The table's IsoFLOP curves (the caller selects them; one copy of each, N known) and each one's final
    compute in FLOPs."""
    curves = [t for t in table.by_source().values() if not t["duplicate_of"][0] and np.isfinite(t["n"][0])]
    if not curves:
        raise ValueError(f"{label}: no IsoFLOP runs with a known N in the table")
    return curves, np.array([float(np.max(t.flops)) for t in curves])


def _budget_candidates(curves: list[Table], finals: np.ndarray, rel_tol: float) -> list[tuple[float, int]]:
    """(budget, sizes that ended within `rel_tol` of it) for every candidate budget: the runs' final compute
    snapped to 1 significant digit."""
    out = []
    for b in np.unique([float(f"{f:.1g}") for f in finals]):
        members = np.flatnonzero(np.abs(finals / b - 1) <= rel_tol)
        sizes = len({curves[i]["n"][0] for i in members})
        out.append((float(b), sizes))
    return out


def dropped_budgets(table: Table, label: str, rel_tol: float = 0.1, min_sizes: int = 3) -> list[dict]:
    """The budgets the analysis does not use, with the reason: a fit must say what it left out."""
    curves, finals = _curves(table, label)
    return [
        {
            "c": b,
            "sizes": sizes,
            "min_sizes": min_sizes,
            "rel_tol": rel_tol,
            "reason": f"only {sizes} size(s) ended within {rel_tol:.0%} of it (a profile needs {min_sizes})",
        }
        for b, sizes in _budget_candidates(curves, finals, rel_tol)
        if sizes < min_sizes
    ]


def local_parabola(
    log_n: np.ndarray, loss: np.ndarray, weights: np.ndarray | None = None, window: int = LOCAL_SIZES
) -> tuple[np.ndarray, tuple[float, float]]:
    """Coefficients (a, b, c) of loss = a·x² + b·x + c in x = log N through the `window` sizes centred on the best
    observed one (a parabola is only a local model), and the range of x it was fitted over (figures draw it there)."""
    sizes = np.unique(log_n)
    best = int(np.searchsorted(sizes, log_n[np.argmin(loss)]))
    lo = min(max(0, best - window // 2), max(0, sizes.size - window))
    hi = min(sizes.size, lo + window) - 1
    near = (log_n >= sizes[lo]) & (log_n <= sizes[hi])
    w = None if weights is None else np.sqrt(weights[near])
    return np.polyfit(log_n[near], loss[near], 2, w=w), (float(sizes[lo]), float(sizes[hi]))


def parabola_minimum(
    log_n: np.ndarray, loss: np.ndarray, weights: np.ndarray | None = None, window: int = LOCAL_SIZES
) -> tuple:
    """(N_opt, L_opt, status) from a parabola in log N through the `window` sizes around the best observed one.

    status: 'ok'; 'too few sizes' (< 3); 'edge' (the best observed loss, or the parabola's vertex, lies at or
    beyond the smallest or largest size tried); 'no minimum' (the parabola opens downward)."""
    sizes = np.unique(log_n)
    if sizes.size < 3:
        return np.nan, np.nan, "too few sizes"
    best = int(np.searchsorted(sizes, log_n[np.argmin(loss)]))
    if best in (0, sizes.size - 1):
        return np.nan, np.nan, "edge"
    (a, b, c), _ = local_parabola(log_n, loss, weights, window)
    if a <= 0:
        return np.nan, np.nan, "no minimum"
    x = -b / (2 * a)
    if not sizes[0] < x < sizes[-1]:
        return np.nan, np.nan, "edge"
    return float(np.exp(x)), float(c - b * b / (4 * a)), "ok"


def _saturating(log_c, e, log_a, alpha):
    return np.log(e + np.exp(log_a + alpha * log_c))


def fit_loss_law(c: np.ndarray, loss: np.ndarray, floor: bool) -> dict:
    """L = a·C^b (log-log), or with `floor`, L = E + a·C^b fitted in log space (C in PF-days)."""
    x = c / PF_DAY
    if not floor:
        return fit_loglog(x, loss)
    p0 = (0.5 * loss.min(), np.log(0.5 * loss.min()), -0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (e, log_a, alpha), _ = curve_fit(
            _saturating, np.log(x), np.log(loss), p0=p0, maxfev=20000, bounds=([0, -50, -5], [loss.min(), 50, 0])
        )
    return {"coef": float(np.exp(log_a)), "exponent": float(alpha), "floor": float(e)}


def _laws(budgets, points, counts, floor, count: FlopCount | None = None, need: int = 2):
    """Per-budget optima and the three laws (four with `count`: N_opt against the other count's C) for one
    (re)sample; counts = multiplicity of each point. No laws with fewer than `need` interior minima."""
    rows = []
    for k, b in enumerate(budgets):
        idx = [i for i, p in enumerate(points) if p.budget == k and counts[i] > 0]
        if not idx:
            continue
        log_n = np.array([points[i].log_n for i in idx])
        loss = np.array([points[i].loss for i in idx])
        n_opt, l_opt, status = parabola_minimum(log_n, loss, counts[idx])
        row = {"c": float(b), "n_opt": n_opt, "d_opt": count.tokens(b, n_opt) if count else b / (6 * n_opt)}
        if count and status == "ok":
            row["c_other"] = count.in_other(b, n_opt)
        rows.append({**row, "loss": l_opt, "status": status, "sizes": int(np.unique(log_n).size)})
    ok = [r for r in rows if r["status"] == "ok"]
    if len(ok) < max(need, 2):
        return rows, None
    c = np.array([r["c"] for r in ok])
    laws = {
        "n_opt": fit_loglog(c, np.array([r["n_opt"] for r in ok])),
        "d_opt": fit_loglog(c, np.array([r["d_opt"] for r in ok])),
        "loss": fit_loss_law(c, np.array([r["loss"] for r in ok]), floor),
    }
    if count:
        laws["n_opt_other"] = fit_loglog(np.array([r["c_other"] for r in ok]), np.array([r["n_opt"] for r in ok]))
    return rows, laws


def _point_rows(budgets: np.ndarray, points: list[RunAtBudget]) -> list[dict]:
    return [
        {"c": float(budgets[p.budget]), "n": float(np.exp(p.log_n)), "loss": p.loss, "source": p.source} for p in points
    ]


def profiles(table: Table, label: str, rel_tol: float = 0.1, compute: str = "paper") -> dict:
    """The IsoFLOP profiles and per-budget optima without any power law (for figures of failed fits)."""
    count, table = flop_count(table, compute), counted(table, compute)
    budgets, points = runs_at_budgets(table, label, rel_tol)
    rows, _ = _laws(budgets, points, np.ones(len(points)), False, count)
    return {
        **_counts(count, compute),
        "budgets": rows,
        "points": _point_rows(budgets, points),
        "dropped": _warn_dropped(table, label, rel_tol),
    }


def _warn_dropped(table: Table, label: str, rel_tol: float) -> list[dict]:
    dropped = dropped_budgets(table, label, rel_tol)
    for d in dropped:
        warnings.warn(f"{label}: budget {d['c']:.3g} FLOPs dropped: {d['reason']}", stacklevel=3)
    return dropped


def _counts(count: FlopCount | None, compute: str) -> dict:
    return {"compute": compute, "other_compute": count.other if count else None}


def fit(
    table: Table,
    label: str,
    bootstrap: int = 1000,
    seed: int = 0,
    floor: bool = False,
    rel_tol: float = 0.1,
    compute: str = "paper",
    resample: str = "residual",
) -> dict:
    """The laws of the table's IsoFLOP profiles with compute counted as `compute` says, their intervals from
    `bootstrap` resamples made as `resample` says (analysis/resample.py) (module docstring)."""
    count = flop_count(table, compute)
    table = counted(table, compute)
    budgets, points = runs_at_budgets(table, label, rel_tol)
    dropped = _warn_dropped(table, label, rel_tol)
    rows, laws = _laws(budgets, points, np.ones(len(points)), floor, count)
    rejected = [r for r in rows if r["status"] != "ok"]
    for r in rejected:
        warnings.warn(f"{label}: budget {r['c']:.3g} FLOPs rejected ({r['status']}, {r['sizes']} sizes)", stacklevel=2)
    n_ok = len(rows) - len(rejected)
    if laws is None or n_ok < MIN_BUDGETS:
        why = [
            *(f"{r['c']:.3g} {r['status']}" for r in rejected),
            *(f"{d['c']:.3g} dropped ({d['reason']})" for d in dropped),
        ]
        raise ValueError(
            f"{label}: {n_ok} budget(s) with an interior IsoFLOP minimum; a power law needs {MIN_BUDGETS} "
            f"(rejected: {', '.join(why) or 'none'})"
        )
    resamples = resample_laws(
        laws,
        points,
        lambda sample, counts: _laws(budgets, sample, counts, floor, count, MIN_BUDGETS)[1],
        local_parabola,
        **{"method": resample, "bootstrap": bootstrap, "seed": seed, "need": MIN_BUDGETS},
    )
    return {
        **laws,
        **_counts(count, compute),
        "resamples": resamples,
        "n_budgets": n_ok,
        "n_runs": len({p.source for p in points}),
        "bootstrap": bootstrap,
        "seed": seed,
        "budgets": rows,
        "points": _point_rows(budgets, points),
        "dropped": dropped,
    }
