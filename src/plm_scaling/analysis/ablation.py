"""The data-scarcity ablation: at equal compute, the final validation loss of each data variant (repeated raw
data, deduplicated, perplexity-filtered, code-augmented, ...) against the first variant (the baseline), with a 95%
interval from the seed noise.

Each (size, budget) compares its variants: mean loss over seeds, and the difference to the baseline with a
t-interval whose standard error is the pooled seed sd (noise.pooled_sd) times sqrt(1/k_v + 1/k_base). A difference
whose interval, widened by the thread spread (noise.THREAD_SPREAD), holds 0 is reported as within the noise: "no
gain" measured well is a result.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..sweep_point import SweepPoint
from .noise import budget_key, pooled_sd, seed_points, thread_spread


def difference(base: dict, point: dict, sd: float, dof: int) -> dict:
    """A seed point's mean loss minus a baseline's (noise.seed_points entries), with a t-interval from the pooled
    seed sd; beyond_noise when the interval, widened on each side by the thread spread (noise.THREAD_SPREAD),
    excludes 0."""
    diff = point["mean"] - base["mean"]
    se = sd * np.sqrt(1 / point["seeds"] + 1 / base["seeds"])
    half, spread = float(stats.t.ppf(0.975, dof) * se), thread_spread(point)
    return {
        "seeds": point["seeds"],
        "mean": point["mean"],
        "losses": point["losses"],
        "diff": float(diff),
        "ci95": [float(diff - half), float(diff + half)],
        "thread_spread": spread,
        "beyond_noise": bool(abs(diff) > half + spread),
    }


def ablation_fit(runs: list[dict], order: list[str]) -> dict:
    """Per (N, budget): every variant's mean final loss and its difference to order[0] with a 95% interval. The
    loss is each run's on the baseline dataset's valid split (`valid_loss_common_data`) where the evaluate step
    measured it, so that variants that train on other data are compared on one held-out set."""
    runs = [{**r, "valid_loss": r.get("valid_loss_common_data", r.get("valid_loss"))} for r in runs]
    points = seed_points(runs)
    for p in points:
        p["variant"] = SweepPoint.parse(p["point"]).variant
    sd, dof = pooled_sd(points)
    groups = []
    for key in sorted({(p["n"], budget_key(p["c"])) for p in points}):
        mine = {p["variant"]: p for p in points if (p["n"], budget_key(p["c"])) == key}
        if order[0] not in mine:
            continue
        base = mine[order[0]]
        rows = [{"variant": v, **difference(base, mine[v], sd, dof)} for v in order if v in mine] if sd else []
        groups.append({"n": key[0], "c": key[1], "baseline": order[0], "variants": rows})
    why = None if sd else "no seed noise: train every variant with two or more seeds"
    return {"order": order, "pooled_sd": sd, "dof": dof, "groups": groups, **({"error": why} if why else {})}
