"""Repeated data (paper Fig. 1) and the data-constrained law (Muennighoff et al. 2023) fitted on a study's runs.

Each run trains on D tokens drawn from a train part of U unique tokens (a nested subset, or the whole split), so it
sees its data E = D/U times (windows are drawn at random, so E is the expected number of passes). The law is fitted
in the two stages of data_constrained.py: the base law L = E + A/N^α + B/D^β on every run that sees its data at
most once (D ≤ U), then R_D* and R_N* on all runs with the base law frozen, with bootstrap intervals and the
resamples that gave no law counted. The law describes diminishing returns, not a loss that rises: runs that overfit
(their validation loss ended RISE_MARGIN above its minimum) are left out of the fit and listed. R* is "not
identified" when its interval spans more than a factor data_constrained.IDENTIFIED_SPAN or touches its bounds
(repetition then costs nothing measurable, or all of it); the base law is "not identified" as parametric.identified
says, and then neither R* nor the bend it implies is a result.

Beside the law, the direct measurement: each repeated point's mean loss minus the fresh-data run of the same N and D,
with a t-interval from the pooled seed noise; a gap within it is reported as such, and `harmless_up_to` says up to
how many epochs every measured cost is within the noise (with the largest upper bound among them).
"""

from __future__ import annotations

import numpy as np

from ..sweep_point import SweepPoint
from .ablation import difference
from .data_constrained import constrained_optimum, fit_two_stage
from .noise import final_loss, seed_points
from .parametric import compute_optimal

MUENNIGHOFF = {"R_D_star": 15.4, "R_N_star": 5.3}  # Muennighoff et al. 2023, their fit on C4 (text)
RISE_MARGIN = 0.01  # nats a run's validation loss may end above its minimum before it counts as overfitting
# Where fits.json says how much repeating the whole train part bends a compute-optimal fit (study key
# repetition_budgets): the one-decade grid's budgets, whose 1e12 optimum sees its train part about 3 times.
REPETITION_BUDGETS = (1e11, 3e11, 1e12)


def _arrays(runs: list[dict]) -> tuple[np.ndarray, ...]:
    n, d, u, loss = (
        np.array(v, float) for v in zip(*((r["n"], r["tokens"], r["unique_tokens"], final_loss(r)) for r in runs))
    )
    return n, d, u, loss


def gaps(runs: list[dict], sd: float | None, dof: int) -> list[dict]:
    """Every repeated point's mean loss minus its fresh-data twin's, with a 95% interval (none without noise)."""
    points = {p["point"]: p for p in seed_points(runs)}
    unique = {SweepPoint.of(r).seedless_id: r["unique_tokens"] for r in runs}
    rows = []
    for key, p in points.items():
        twin = points.get(SweepPoint.parse(key).fresh_twin.id)
        if twin is None or twin is p:
            continue
        row = difference(twin, p, sd, dof) if sd else {"diff": p["mean"] - twin["mean"], "ci95": None}
        tokens = [r["tokens"] for r in runs if SweepPoint.of(r).seedless_id == key]
        epochs = float(np.mean(tokens)) / unique[key]
        rows.append(
            {"point": key, "n": p["n"], "unique_tokens": unique[key], "epochs": epochs, "fresh": twin["point"], **row}
        )
    return rows


def repetition_bend(law: dict, u: float, budgets) -> dict:
    """How repeating a train part of U tokens moves the compute-optimal N at these budgets: N_opt of the base law
    (data unlimited) against N_opt of the data-constrained law (on U), and the exponents of both."""
    c = np.asarray(budgets, float)
    n_free, _ = compute_optimal(law, c)
    n_con = np.array([constrained_optimum(law, b, u)[0] for b in c])
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


def rising(table, margin: float = RISE_MARGIN) -> set[str]:
    """Runs whose training-time validation loss ended more than `margin` nats above its own minimum: the run got
    worse by training on (overfitting its repeated data), which the law, a law of diminishing returns, cannot fit."""
    out = set()
    for t in table.by_source().values():
        loss = np.asarray(t["loss"][:-1], float)  # the last row is the whole-split loss (collect), not a window
        if loss.size > 1 and loss[-1] - loss.min() > margin:
            out.add(str(t["run"][0]))
    return out


def harmless_up_to(rows: list[dict]) -> dict | None:
    """The most epochs up to which every measured repetition cost is within the seed noise, with the largest upper
    95% bound among those costs; None without noise or when the fewest epochs already cost."""
    within = None
    for epochs in sorted({g["epochs"] for g in rows}):
        at = [g for g in rows if g["epochs"] <= epochs]
        if any(g["ci95"] is None or g["beyond_noise"] for g in at):
            break
        within = {"epochs": epochs, "max_upper_bound": max(g["ci95"][1] for g in at), "points": len(at)}
    return within


def repeated_fit(
    runs: list[dict],
    sd: float | None,
    dof: int,
    budgets=(),
    bootstrap: int = 200,
    seed: int = 0,
    left_out: set[str] = frozenset(),
) -> dict:
    """fits.json `repeated`: the measured gaps and up to how many epochs repetition is free within the noise; the
    law with intervals (runs in `left_out`, see `rising`, not fitted), Muennighoff's values beside it, and the bend
    of a compute-optimal fit on the whole train part at `budgets` (ours and with Muennighoff's R*)."""
    rows = gaps(runs, sd, dof)
    out = {"runs": len(runs), "gaps": rows, "pooled_sd": sd, "harmless_up_to": harmless_up_to(rows)}
    out["left_out"] = sorted(r["sweep_point"] for r in runs if r["sweep_point"] in left_out)
    n, d, u, loss = _arrays([r for r in runs if r["sweep_point"] not in left_out])
    out["single_epoch_runs"] = int((d <= u).sum())  # the base law's runs: every run that sees its data at most once
    try:
        fit = fit_two_stage(n, d, u, loss, bootstrap=bootstrap, seed=seed)
    except ValueError as err:
        return {**out, "error": str(err)}
    fit.pop("profile_R_D_star")  # fits.json keeps the law and its intervals; `fit parametric --u-col` has the profile
    for key in ("R_D_star", "R_N_star"):
        fit[key]["muennighoff"] = MUENNIGHOFF[key]
    out.update(fit, runs=len(runs))
    if len(budgets):
        law, whole = fit["law"], float(u.max())  # the study dataset's whole train part
        out["bend"] = {"ours": repetition_bend(law, whole, budgets)}
        out["bend"]["muennighoff"] = repetition_bend({**law, **MUENNIGHOFF}, whole, budgets)
    return out
