"""Mask ratio (paper Sec. 3.3, Fig. A): which fraction of masked residues trains the best MLM at a fixed budget.

Runs of one size and budget differ only in their training mask ratio; all are compared on one masking (the common
ratio, 0.15: evaluate.py), since a loss at another ratio is a different task (fewer masks, more context). Per size
and budget, a parabola in log(ratio) through the common-mask losses gives the best ratio; its interval comes from
a parametric bootstrap: the losses redrawn with the seed noise (pooled over seeds when the study measured it, else
the parabola's residual spread, said in `noise_source`), the parabola refitted. A vertex outside the ratios tried,
or a parabola that opens downward, is reported as an edge, not as a best ratio. Because the parabola is only a
local model, `near_best` also lists the ratios whose mean loss is within 2 standard errors of the best mean.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .noise import THREAD_SPREAD, Z, budget_key, final_loss

BOOTSTRAP = 1000


def vertex(log_r: np.ndarray, loss: np.ndarray) -> float | None:
    """The parabola's minimum in log ratio, or None when it opens downward."""
    a, b, _ = np.polyfit(log_r, loss, 2)
    return float(-b / (2 * a)) if a > 0 else None


def near_best(ratios: np.ndarray, losses: np.ndarray, sd: float, spread: float) -> list[float]:
    """The ratios whose mean loss is within Z standard errors plus `spread` (noise.THREAD_SPREAD) of the best mean:
    what the data cannot tell apart (the parabola's interval is narrower, but it assumes the curve is a parabola in
    log ratio)."""
    tried = np.unique(ratios)
    means = np.array([losses[ratios == r].mean() for r in tried])
    counts = np.array([(ratios == r).sum() for r in tried])
    best = int(np.argmin(means))
    se = sd * np.sqrt(1 / counts + 1 / counts[best])
    return [float(r) for r, m, e in zip(tried, means, se) if m - means[best] <= Z * e + spread]


def best_ratio(
    ratios: np.ndarray, losses: np.ndarray, sd: float, seed: int = 0, spread: float = THREAD_SPREAD["mlm"]
) -> dict:
    """Best ratio of one (size, budget): vertex, 95% bootstrap interval, status ok / edge / too few ratios, and the
    ratios within the noise (plus `spread`; masking: MLM runs only) of the best observed one. A tuning study calls it
    with peak LRs for ratios (analysis/tuning.py)."""
    log_r = np.log(ratios)
    out = {
        "ratios": ratios.tolist(),
        "losses": losses.tolist(),
        "observed_best": float(ratios[np.argmin(losses)]),
        "near_best": near_best(ratios, losses, sd, spread),
    }
    if np.unique(ratios).size < 3:
        return {**out, "status": "too few ratios", "best": None, "ci95": None}
    v = vertex(log_r, losses)
    if v is None or not log_r.min() < v < log_r.max():
        return {**out, "status": "edge", "best": None, "ci95": None}
    if sd <= 0:  # nothing to redraw the losses with: a point estimate, said to be one
        return {
            **out,
            "status": "ok",
            "best": float(np.exp(v)),
            "ci95": None,
            "note": "no noise estimate (one seed, three ratios): no interval",
        }
    rng = np.random.default_rng(seed)
    boot = [vertex(log_r, losses + rng.normal(0, sd, losses.size)) for _ in range(BOOTSTRAP)]
    vs = np.array([b for b in boot if b is not None])
    if vs.size == 0:  # every redrawn parabola opened downward: the noise swamps the curvature
        return {**out, "status": "ok", "best": float(np.exp(v)), "ci95": None, "unstable_share": 1.0}
    lo, hi = np.exp(np.clip(np.percentile(vs, [2.5, 97.5]), log_r.min(), log_r.max()))
    return {
        **out,
        "status": "ok",
        "best": float(np.exp(v)),
        "ci95": [float(lo), float(hi)],
        "unstable_share": 1 - vs.size / BOOTSTRAP,
    }


def _noise(ratios: np.ndarray, losses: np.ndarray, pooled_sd: float | None) -> tuple[float, str]:
    """(sd, source): the seeds' pooled sd, else the parabola's residual sd (needs 4+ runs), else none (0)."""
    if pooled_sd is not None:
        return pooled_sd, "seeds"
    if ratios.size <= 3:
        return 0.0, "none"
    resid = losses - np.polyval(np.polyfit(np.log(ratios), losses, 2), np.log(ratios))
    return float(np.sqrt((resid**2).sum() / (ratios.size - 3))), "residuals"


def mask_ratio_fit(runs: list[dict], pooled_sd: float | None) -> dict:
    """Per (size, budget) of an MLM mask-ratio study: losses at the common mask and at their own ratio, best ratio."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        groups[(r["n"], budget_key(r["flops"]))].append(r)
    fits = []
    for (n, c), rs in sorted(groups.items()):
        ratios = np.array([r["mask_ratio"] for r in rs])
        if np.unique(ratios).size < 2:  # a point of the study's other grids, trained at one ratio only
            continue
        common = np.array([r["valid_loss_common"] for r in rs])
        sd, source = _noise(ratios, common, pooled_sd)
        fit = best_ratio(ratios, common, sd)
        fits.append(
            {
                "n": n,
                "c": c,
                **fit,
                "noise_sd": sd,
                "noise_source": source,
                "own_ratio_losses": [final_loss(r) for r in rs],
            }
        )
    return {"common_mask_ratio": runs[0].get("common_mask_ratio"), "fits": fits}
