"""The fitted law checked by extrapolation (the paper's 7B CLM / 10B MLM check, at a study's own scale).

Plan: from a study's IsoFLOP laws, the check budget C* = factor × the study's largest budget, the predicted N_opt and
loss there (allocation.plan; 95% intervals from the laws' bootstrap samples), and the sizes to train at C*: multiples of
the predicted N_opt (½×, 1×, 2×), rounded to 2 significant digits (their point ids name them).

Assess: the measured final losses of those runs (mean over seeds) against the prediction: measured − predicted, and
whether the measurement falls inside the prediction's interval; and whether the predicted size wins: its loss below
each neighbour's beyond the seed noise (t-interval from the study's pooled seed sd, ablation.difference). A
difference within the noise leaves the question open ("not resolved"), which is itself the answer at CPU scale.
"""

from __future__ import annotations

from ..sweep_point import SweepPoint
from .ablation import difference
from .allocation import plan
from .noise import budget_key, seed_points

MULTIPLES = (0.5, 1.0, 2.0)


def round_size(n: float) -> float:
    """A planned size to 2 significant digits: the point id names it, and the size module picks the shape anyway."""
    return float(f"{n:.2g}")


def check_budget(runs: list[dict], objective: str, factor: float) -> float:
    """factor × the largest budget of the objective's runs (each run's compute rounded to its budget)."""
    return factor * max(budget_key(r["flops"]) for r in runs if r["objective"] == objective)


def plan_objective(laws: dict, budget: float, multiples=MULTIPLES) -> dict:
    """The prediction at `budget` and the sizes to train there (multiple -> size)."""
    predicted = plan(laws, flops=budget)
    sizes = {str(float(m)): round_size(m * predicted["n_opt"]) for m in multiples}
    used = {k: {"coef": laws[k]["coef"], "exponent": laws[k]["exponent"]} for k in ("n_opt", "loss") if k in laws}
    return {"budget": budget, "prediction": predicted, "sizes": sizes, "laws": used}


def _multiple_of(point: str, sizes: dict) -> str | None:
    size = SweepPoint.parse(point).size
    return next((m for m, s in sizes.items() if abs(s - size) <= 1e-9 * s), None)


def assess(planned: dict, runs: list[dict], sd: float | None, dof: int) -> dict:
    """Measured against predicted at the check budget (see the module docstring)."""
    points = [p for p in seed_points(runs) if _multiple_of(p["point"], planned["sizes"]) is not None]
    by_multiple = {_multiple_of(p["point"], planned["sizes"]): p for p in points}
    if "1.0" not in by_multiple:
        return {**planned, "error": "the predicted size (1x) has no finished run"}
    centre, pred = by_multiple["1.0"], planned["prediction"]
    measured = [{"multiple": float(m), **by_multiple[m]} for m in sorted(by_multiple, key=float)]
    out = {**planned, "measured": measured, "best_multiple": min(measured, key=lambda p: p["mean"])["multiple"]}
    if pred["loss"] is not None:
        ci = pred["ci95"]["loss"]  # none when the law carries no uncertainty (a laws file without samples)
        out["loss_error"] = centre["mean"] - pred["loss"]
        out["within_prediction_interval"] = None if ci is None else bool(ci[0] <= centre["mean"] <= ci[1])
    if not sd:
        return {**out, "predicted_size_wins": None, "why": "no seed noise measured: train a point with 2+ seeds"}
    rows = [{"multiple": float(m), **difference(centre, by_multiple[m], sd, dof)} for m in by_multiple if m != "1.0"]
    out["neighbours"] = rows  # neighbour minus 1x: positive when the predicted size is better
    beaten = any(r["diff"] < 0 and r["beyond_noise"] for r in rows)
    resolved = all(r["beyond_noise"] for r in rows)
    out["predicted_size_wins"] = False if beaten else (True if resolved and rows else None)
    if out["predicted_size_wins"] is None:
        out["why"] = "a neighbour's loss is within the seed noise of the predicted size's: not resolved"
    return out
