"""Compute-optimal planning from fitted power laws: N_opt(C), D_opt(C) and L(C), each with a 95% interval.

Given N or D instead of C, the budget is the one whose optimum is that N (or D). Intervals come from the laws'
parameter uncertainty (bootstrap samples, or curve_fit's covariance for the notebook method).
"""

from __future__ import annotations

import numpy as np

from .powerlaw import PF_DAY, ci95, parameter_samples


def _interval(values: np.ndarray) -> list[float]:
    return ci95(values[np.isfinite(values)])


def plan(laws: dict, flops: float | None = None, params: float | None = None, tokens: float | None = None) -> dict:
    """`laws` holds "n_opt", "d_opt" (against FLOPs) and "loss" (against PF-days) power laws of one objective."""
    if sum(v is not None for v in (flops, params, tokens)) != 1:
        raise ValueError("give exactly one of flops, params, tokens")
    n_law, d_law, l_law = laws["n_opt"], laws["d_opt"], laws["loss"]
    if flops is None:  # invert the law of the given quantity
        law, value = (n_law, params) if params is not None else (d_law, tokens)
        flops = (value / law["coef"]) ** (1 / law["exponent"])
    if not flops > 0:
        raise ValueError(f"compute must be positive, got {flops}")
    ns, ds, ls = (parameter_samples(x) for x in (n_law, d_law, l_law))
    n_draw = ns[:, 0] * flops ** ns[:, 1]
    d_draw = ds[:, 0] * flops ** ds[:, 1]
    l_draw = ls[:, 0] * (flops / PF_DAY) ** ls[:, 1]
    return {
        "flops": float(flops),
        "n_opt": float(n_law["coef"] * flops ** n_law["exponent"]),
        "d_opt": float(d_law["coef"] * flops ** d_law["exponent"]),
        "loss": float(l_law["coef"] * (flops / PF_DAY) ** l_law["exponent"]),
        "ci95": {"n_opt": _interval(n_draw), "d_opt": _interval(d_draw), "loss": _interval(l_draw)},
    }
