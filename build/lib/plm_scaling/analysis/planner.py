"""Compute-optimal planning from fitted power laws: N_opt(C), D_opt(C) and L(C), each with a 95% interval.

Given N or D instead of C, the budget is the one whose optimum is that N (or D). Intervals come from the laws'
parameter uncertainty (bootstrap samples, or curve_fit's covariance for the notebook method).
"""

from __future__ import annotations

import numpy as np

from .powerlaw import PF_DAY, ci95, parameter_samples


def _interval(law: dict, draw) -> list[float] | None:
    """95% interval of draw(coef, exponent) over the law's parameter samples; None when the law carries no
    uncertainty (a point estimate alone would give a zero-width interval, which is not an interval)."""
    if not law.get("samples") and law.get("cov") is None:
        return None
    s = parameter_samples(law)
    values = draw(s[:, 0], s[:, 1])
    return ci95(values[np.isfinite(values)])


def _budget(laws: dict, flops, params, tokens) -> float:
    given = {"flops": flops, "params": params, "tokens": tokens}
    if sum(v is not None for v in given.values()) != 1:
        raise ValueError("give exactly one of flops, params, tokens")
    name, value = next((k, v) for k, v in given.items() if v is not None)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    if name == "flops":
        return float(value)
    if name == "params":
        return (value / laws["n_opt"]["coef"]) ** (1 / laws["n_opt"]["exponent"])
    if "d_opt" in laws:
        return (value / laws["d_opt"]["coef"]) ** (1 / laws["d_opt"]["exponent"])
    n_law = laws["n_opt"]  # D = C / (6 N_opt(C)) = C^(1-b) / (6a)
    return (6 * n_law["coef"] * value) ** (1 / (1 - n_law["exponent"]))


def plan(laws: dict, flops: float | None = None, params: float | None = None, tokens: float | None = None) -> dict:
    """`laws` holds an "n_opt" power law against FLOPs, and optionally "d_opt" (against FLOPs) and "loss" (against
    PF-days). Without d_opt, D_opt = C / (6 N_opt); without a loss law, no loss is predicted."""
    flops = _budget(laws, flops, params, tokens)
    n_law, d_law, l_law = laws["n_opt"], laws.get("d_opt"), laws.get("loss")
    n_opt = float(n_law["coef"] * flops ** n_law["exponent"])
    ci = {"n_opt": _interval(n_law, lambda a, b: a * flops**b)}
    if d_law is not None:
        d_opt = float(d_law["coef"] * flops ** d_law["exponent"])
        ci["d_opt"] = _interval(d_law, lambda a, b: a * flops**b)
    else:
        d_opt = flops / (6 * n_opt)
        ci["d_opt"] = _interval(n_law, lambda a, b: flops / (6 * a * flops**b))
    loss = None if l_law is None else float(l_law["coef"] * (flops / PF_DAY) ** l_law["exponent"])
    ci["loss"] = None if l_law is None else _interval(l_law, lambda a, b: a * (flops / PF_DAY) ** b)
    return {"flops": flops, "n_opt": n_opt, "d_opt": d_opt, "loss": loss, "ci95": ci}


def load_laws(objective: str, law_file: str | None = None, logs: str | None = None) -> tuple[dict, str]:
    """(laws of the objective, which law answered): a laws JSON file (fit logs --json output or the workflow's
    fits), else a notebook fit of released `logs` (or $PLM_PAPER_LOGS), else the laws the authors released."""
    import json
    import os

    from ..io import read_json
    from . import notebook
    from .released import RELEASED_LAWS

    if law_file:
        try:
            laws = read_json(law_file)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{law_file}: not a JSON file ({err})") from None
        if not isinstance(laws, dict):
            raise ValueError(f"{law_file}: not a JSON object of laws")
        laws = laws.get("notebook", laws) if objective not in laws else laws
        if not isinstance(laws.get(objective), dict) or "n_opt" not in laws[objective]:
            raise ValueError(f"{law_file}: no {objective} n_opt law in this file")
        return laws[objective], f"laws from {law_file}"
    logs = logs or os.environ.get("PLM_PAPER_LOGS")
    if logs:
        from .logs import read_table

        return notebook.fit(read_table(logs), objective), f"notebook method fitted to {logs}"
    return RELEASED_LAWS[objective], "the authors' released law (notebook law_weights; N_opt only)"
