"""Repeated data (paper Fig. 1) and the data-constrained law (Muennighoff et al. 2023) fitted on a study's runs.

Each run trains on D tokens drawn from a train part of U unique tokens (a nested subset, or the whole split), so it
sees its data E = D/U times (windows are drawn at random, so E is the expected number of passes). The law is fitted
in the two stages of parametric.py: the base law L = E + A/N^α + B/D^β on the fresh runs (the whole train part,
D ≤ U), then R_D* and R_N*
on all runs with the base law frozen. Intervals: bootstrap over runs (single-epoch and repeated runs resampled
separately, so every resample can fit both stages), both stages refitted. R* is "not identified" when its interval
spans more than a factor IDENTIFIED_SPAN or touches parametric.R_BOUNDS (repetition then costs nothing measurable,
or all of it).

Beside the law, the direct measurement: each repeated point's mean loss minus the fresh-data run of the same N and D,
with a t-interval from the pooled seed noise; a gap within it is reported as such.
"""

from __future__ import annotations

import re

import numpy as np

from .ablation import difference
from .noise import final_loss, seed_points
from .parametric import (
    LBFGS_STARTS,
    R_BOUNDS,
    compute_optimal,
    fit_data_constrained,
    fit_parametric,
    predict_data_constrained,
)
from .powerlaw import ci95

MUENNIGHOFF = {"R_D_star": 15.4, "R_N_star": 5.3}  # Muennighoff et al. 2023, their fit on C4 (text)
IDENTIFIED_SPAN = 100.0
# Where fits.json says how much repeating the whole train part bends a compute-optimal fit (study key
# repetition_budgets): the default study's budgets, whose 1e12 optimum sees its train part about 3 times.
REPETITION_BUDGETS = (1e11, 3e11, 1e12)


def fresh_point(point: str) -> str:
    """The sweep point without its unique-token subset (`_U<tokens>`, study.sweeps.point_id): its fresh-data twin."""
    return re.sub(r"_U\d+e\d+", "", point)


def _arrays(runs: list[dict]) -> tuple[np.ndarray, ...]:
    n, d, u, loss = (
        np.array(v, float) for v in zip(*((r["n"], r["tokens"], r["unique_tokens"], final_loss(r)) for r in runs))
    )
    return n, d, u, loss


def _fit_once(n, d, u, loss, single: np.ndarray, start: dict | None = None) -> dict:
    """Both stages; from `start` (a law) alone when given, as bootstrap resamples start from the full fit."""
    grid = {k: [np.log(start[K])] for k, K in (("a", "A"), ("b", "B"), ("e", "E"))} if start else None
    grid = {**grid, "alpha": [start["alpha"]], "beta": [start["beta"]]} if start else None
    base = fit_parametric(n[single], d[single], loss[single], grid=grid, starts=1 if start else LBFGS_STARTS)
    terms = [base[k] for k in ("A", "B", "alpha", "beta")]
    if base["degenerate"] or not np.isfinite(terms).all() or min(base["alpha"], base["beta"]) < 1e-3 or min(terms) <= 0:
        # without both terms U_N (the size U tokens are compute-optimal for) is undefined, and so is R_N*
        raise ValueError(base["degenerate"] or "the fitted base law has no N or no D term (exponent ~0)")
    return fit_data_constrained(base, n, d, u, loss, start=start)


def _bootstrap(n, d, u, loss, single, law: dict, draws: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(single), np.flatnonzero(~single)]
    laws = []
    for _ in range(draws):
        pick = np.concatenate([rng.choice(g, g.size) for g in groups])
        try:
            laws.append(_fit_once(n[pick], d[pick], u[pick], loss[pick], single[pick], start=law))
        except ValueError:  # a resample with too few distinct single-epoch points
            continue
    return laws


def _interval(law: dict, laws: list[dict], key: str) -> dict:
    lo, hi = ci95([b[key] for b in laws])
    at_bound = lo <= R_BOUNDS[0] * 1.01 or hi >= R_BOUNDS[1] / 1.01
    return {
        "value": law[key],
        "ci95": [lo, hi],
        "identified": bool(not at_bound and hi / lo < IDENTIFIED_SPAN),
        "muennighoff": MUENNIGHOFF[key],
    }


def gaps(runs: list[dict], sd: float | None, dof: int) -> list[dict]:
    """Every repeated point's mean loss minus its fresh-data twin's, with a 95% interval (none without noise)."""
    points = {p["point"]: p for p in seed_points(runs)}
    unique = {re.sub(r"_s\d+$", "", r["sweep_point"]): r["unique_tokens"] for r in runs}
    rows = []
    for key, p in points.items():
        twin = points.get(fresh_point(key))
        if twin is None or twin is p:
            continue
        row = difference(twin, p, sd, dof) if sd else {"diff": p["mean"] - twin["mean"], "ci95": None}
        epochs = float(np.mean([r["tokens"] for r in runs if r["sweep_point"].startswith(key + "_s")])) / unique[key]
        rows.append(
            {"point": key, "n": p["n"], "unique_tokens": unique[key], "epochs": epochs, "fresh": twin["point"], **row}
        )
    return rows


def repetition_bend(law: dict, u: float, budgets) -> dict:
    """How repeating a train part of U tokens moves the compute-optimal N at these budgets: N_opt of the base law
    (data unlimited) against N_opt of the data-constrained law (on U), and the exponents of both."""
    c = np.asarray(budgets, float)
    n_free, _ = compute_optimal(law, c)
    n_grid = np.logspace(np.log10(n_free.min()) - 3, np.log10(n_free.max()) + 3, 2000)
    n_con = np.array([n_grid[np.argmin(predict_data_constrained(law, n_grid, b / (6 * n_grid), u))] for b in c])
    slope = (lambda n: float(np.polyfit(np.log(c), np.log(n), 1)[0])) if c.size > 1 else (lambda n: None)
    return {
        "budgets": c.tolist(),
        "unique_tokens": float(u),
        "n_opt_free": n_free.tolist(),
        "n_opt_constrained": n_con.tolist(),
        "epochs_at_free_optimum": (c / (6 * n_free) / u).tolist(),
        "exponent_free": slope(n_free),
        "exponent_constrained": slope(n_con),
    }


def repeated_fit(runs: list[dict], sd: float | None, dof: int, budgets=(), bootstrap: int = 200, seed: int = 0) -> dict:
    """fits.json `repeated`: the law with intervals, Muennighoff's values beside it, the measured gaps, and the
    bend of a compute-optimal fit on the whole train part at `budgets` (ours and with Muennighoff's R*)."""
    n, d, u, loss = _arrays(runs)
    single = (d <= u) & (u == u.max())  # fresh: the whole train part, seen at most once (no subset run is base)
    out = {"runs": len(runs), "single_epoch_runs": int(single.sum()), "gaps": gaps(runs, sd, dof), "pooled_sd": sd}
    if (~single).sum() < 2:
        return {**out, "error": "fewer than 2 runs repeat their data (D > U): no R* to fit"}
    try:
        law = _fit_once(n, d, u, loss, single)
    except ValueError as err:
        return {**out, "error": f"base law on the {int(single.sum())} single-epoch runs: {err}"}
    laws = _bootstrap(n, d, u, loss, single, law, bootstrap, seed)
    out.update(law=law, bootstrap=len(laws), R_D_star=_interval(law, laws, "R_D_star"))
    out["R_N_star"] = _interval(law, laws, "R_N_star")
    out["base_degenerate"] = law.get("degenerate")
    if len(budgets):
        whole = float(u.max())  # the study dataset's whole train part
        out["bend"] = {"ours": repetition_bend(law, whole, budgets)}
        out["bend"]["muennighoff"] = repetition_bend({**law, **MUENNIGHOFF}, whole, budgets)
    return out
