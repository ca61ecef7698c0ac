"""Seed noise: the run-to-run spread of the final loss at sweep points trained with several seeds, and which loss
differences between the sizes of one budget exceed it.

At CPU scale sizes differ by 0.001-0.06 nats, the same order as a change of seed, so a reader must see which
differences are real. The spread is pooled over every point with two or more seeds (one variance per objective,
weighted by degrees of freedom: seeds minus one per point) and applied to every point of that objective, single-
seed points included. Two sizes differ beyond the noise when |mean difference| > 2 standard errors, the standard
error being pooled_sd·sqrt(1/k_a + 1/k_b) for k seeds each. The IsoFLOP fit's bootstrap redraws the residuals of its
parabolas (analysis/resample.py), which hold the runs' scatter, seeds included: its intervals carry this noise.

The seed noise is not the only spread. The same seed trained with another thread count (or, by the same token, on
another machine's kernels) sums in another order and ends elsewhere: THREAD_SPREAD. Every verdict "beyond the
noise" (here, ablation.difference and its callers) asks the difference to exceed its seed-noise margin plus that
spread, so that no verdict rests on a difference another machine could undo.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..sweep_point import SweepPoint

Z = 2.0  # differences beyond Z standard errors "exceed the noise" (~95% two-sided)
# The largest |final loss, 2 torch threads - 1 thread| (nats) over the default study's five 1e11 points of each
# objective, same seed (README "Run-to-run variation", 2026-11-30): CLM 0.0038 (mean 0.0016), MLM 0.00009. Measured
# at one budget on one machine; another machine's kernels were not measured and are assumed to move sums no more.
THREAD_SPREAD = {"clm": 0.0038, "mlm": 0.0001}


def thread_spread(point: dict) -> float:
    """THREAD_SPREAD of a seed point's objective (seed_points entry)."""
    return THREAD_SPREAD[SweepPoint.parse(point["point"]).objective]


def final_loss(run: dict) -> float:
    """The loss the figures plot: the full validation split (evaluate), else the training-time windows."""
    return run["valid_loss"] if run.get("valid_loss") is not None else run["final_val_loss"]


def seed_points(runs: list[dict]) -> list[dict]:
    """One entry per sweep point (seed left out): its seeds' losses, mean and sample standard deviation."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        groups[SweepPoint.of(r).seedless_id].append(r)
    points = []
    for key, rs in sorted(groups.items()):
        losses = np.array([final_loss(r) for r in rs])
        points.append(
            {
                "point": key,
                "objective": rs[0]["objective"],
                "n": float(rs[0]["n"]),
                "c": float(np.mean([r["flops"] for r in rs])),
                "seeds": len(rs),
                "losses": losses.tolist(),
                "mean": float(losses.mean()),
                "sd": float(losses.std(ddof=1)) if len(rs) > 1 else None,
            }
        )
    return sorted(points, key=lambda p: (p["objective"], budget_key(p["c"]), p["n"]))


def pooled_sd(points: list[dict]) -> tuple[float | None, int]:
    """(pooled standard deviation, its degrees of freedom) over points with two or more seeds; (None, 0) if none."""
    multi = [p for p in points if p["seeds"] > 1]
    dof = sum(p["seeds"] - 1 for p in multi)
    if dof == 0:
        return None, 0
    return float(np.sqrt(sum((p["seeds"] - 1) * p["sd"] ** 2 for p in multi) / dof)), dof


def budget_key(c: float) -> float:
    """Runs of one budget end within 1% of it: their compute rounded to 1 significant digit names the budget."""
    return float(f"{c:.0e}")


def size_differences(points: list[dict], sd: float | None) -> list[dict]:
    """Adjacent sizes of each budget: the difference of mean losses (larger N minus smaller), its standard error
    and whether it exceeds Z of them plus the thread spread (None when no seed noise was measured)."""
    by_budget: dict[float, list[dict]] = defaultdict(list)
    for p in points:
        by_budget[budget_key(p["c"])].append(p)
    rows = []
    for c, ps in sorted(by_budget.items()):
        ps = sorted(ps, key=lambda p: p["n"])
        for a, b in zip(ps, ps[1:]):
            diff = b["mean"] - a["mean"]
            se = sd * np.sqrt(1 / a["seeds"] + 1 / b["seeds"]) if sd is not None else None
            spread = thread_spread(a)
            rows.append(
                {
                    "c": c,
                    "n_small": a["n"],
                    "n_large": b["n"],
                    "diff": diff,
                    "se": se,
                    "thread_spread": spread,
                    "exceeds_noise": bool(abs(diff) > Z * se + spread) if se is not None else None,
                }
            )
    return rows


def seed_noise(runs: list[dict], compared=None) -> dict:
    """The noise summary of one objective's runs (fits.json `noise`): the sd pooled over all of them, the size
    differences of the points `compared(SweepPoint)` accepts (all by default; a transfer study compares its scratch
    runs, whose budgets are whole)."""
    points = seed_points(runs)
    sd, dof = pooled_sd(points)
    diffs = size_differences([p for p in points if compared is None or compared(SweepPoint.parse(p["point"]))], sd)
    measured = [d for d in diffs if d["exceeds_noise"] is not None]
    return {
        "pooled_sd": sd,
        "dof": dof,
        "z": Z,
        "points": points,
        "differences": diffs,
        "below_noise": sum(not d["exceeds_noise"] for d in measured),
        "compared": len(measured),
    }
