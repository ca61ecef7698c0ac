"""Compute-optimal planning from fitted power laws: N_opt(C), D_opt(C) and L(C), each with a 95% interval.

Given N or D instead of C, the budget is the one whose optimum is that N (or D). Intervals come from the laws'
parameter uncertainty (bootstrap samples, or curve_fit's covariance for the notebook method).
"""

from __future__ import annotations

import math

import numpy as np

from .powerlaw import PF_DAY, ci95, parameter_samples

LAWS = ("n_opt", "d_opt", "loss")  # n_opt required, the others optional
EXPONENT_BOUND = 5.0  # |b| of a D_opt or loss law; beyond it C^b leaves floating point at the budgets planned


def _finite(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key}: {value!r} is not a finite number")
    return float(value)


def _spread_ok(value, part: str) -> bool:
    """A law's uncertainty as parameter_samples reads it: (coef, exponent) rows, or a 2x2 covariance."""
    try:
        a = np.asarray(value, float)
    except (TypeError, ValueError):
        return False
    return a.ndim == 2 and a.shape[1] == 2 and (a.shape[0] == 2 if part == "cov" else True)


def check_laws(laws, where: str) -> dict:
    """`laws` if one can plan with them, else a ValueError naming `where` (file and key prefix) and the key: each
    law an object with a coefficient above 0 and a finite exponent (N_opt's in (0, 1): N_opt and D_opt = C/(6 N_opt)
    both grow with compute, as a compute-optimal law says), samples of (coef, exponent) pairs, a 2x2 covariance."""
    if not isinstance(laws, dict) or "n_opt" not in laws:
        raise ValueError(f"{where}n_opt: missing (no N_opt law)")
    for name in LAWS:
        law, key = laws.get(name), f"{where}{name}"
        if law is None and name != "n_opt":
            continue
        if not isinstance(law, dict):
            raise ValueError(f"{key}: {law!r} is not a law (an object with coef and exponent)")
        coef, exponent = _finite(law.get("coef"), f"{key}.coef"), _finite(law.get("exponent"), f"{key}.exponent")
        if coef <= 0:
            raise ValueError(f"{key}.coef: {coef:g} must be above 0")
        low, high = (0.0, 1.0) if name == "n_opt" else (-EXPONENT_BOUND, EXPONENT_BOUND)
        if not low < exponent < high:
            raise ValueError(f"{key}.exponent: {exponent:g} is outside ({low:g}, {high:g})")
        for part, what in (("samples", "a list of (coef, exponent) pairs"), ("cov", "a 2x2 covariance")):
            if law.get(part) not in (None, []) and not _spread_ok(law[part], part):  # [] or null: no spread
                raise ValueError(f"{key}.{part}: not {what}")
    return laws


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
    try:
        if name == "params":
            return (value / laws["n_opt"]["coef"]) ** (1 / laws["n_opt"]["exponent"])
        if laws.get("d_opt") is not None:
            return (value / laws["d_opt"]["coef"]) ** (1 / laws["d_opt"]["exponent"])
        n_law = laws["n_opt"]  # D = C / (6 N_opt(C)) = C^(1-b) / (6a)
        return (6 * n_law["coef"] * value) ** (1 / (1 - n_law["exponent"]))
    except (OverflowError, ZeroDivisionError):
        raise ValueError(f"{name} {value:g}: the budget the laws give for it is beyond floating point") from None


def plan(laws: dict, flops: float | None = None, params: float | None = None, tokens: float | None = None) -> dict:
    """`laws` holds an "n_opt" power law against FLOPs, and optionally "d_opt" (against FLOPs) and "loss" (against
    PF-days). Without d_opt, D_opt = C / (6 N_opt); without a loss law, no loss is predicted."""
    flops = _budget(laws, flops, params, tokens)
    try:
        return _predict(laws, flops)
    except OverflowError:
        raise ValueError(f"flops {flops:g}: the laws' prediction there is beyond floating point") from None


def _predict(laws: dict, flops: float) -> dict:
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


def _power_laws(doc: dict, objective: str) -> tuple[str, dict] | None:
    """(key, laws) of the objective's power laws in a laws file: at its top (`fit logs --json`), in a paper fits'
    notebook section, or in a study's fits (fits.OBJ.isoflop: the IsoFLOP laws of the study's own runs)."""

    def part(holder, key):
        return holder.get(key) if isinstance(holder, dict) else None

    places = (
        (f"{objective}.", part(doc, objective)),
        (f"notebook.{objective}.", part(part(doc, "notebook"), objective)),
        (f"fits.{objective}.isoflop.", part(part(part(doc, "fits"), objective), "isoflop")),
    )
    return next(((key, laws) for key, laws in places if isinstance(laws, dict) and "n_opt" in laws), None)


def load_laws(objective: str, law_file: str | None = None, logs: str | None = None) -> tuple[dict, str]:
    """(laws of the objective, which law answered): a laws JSON file (fit logs --json output or the workflow's
    fits), else a notebook fit of released `logs` (or $PLM_PAPER_LOGS), else the laws the authors released."""
    import os

    from . import notebook
    from .law_files import read_json_object
    from .released import RELEASED_LAWS

    if law_file:
        doc = read_json_object(law_file)
        found = _power_laws(doc, objective)
        if found is None:
            raise ValueError(f"{law_file}: no {objective} n_opt law in this file")
        key, laws = found
        return check_laws(laws, f"{law_file}: key {key}"), f"laws from {law_file} (key {key.rstrip('.')})"
    logs = logs or os.environ.get("PLM_PAPER_LOGS")
    if logs:
        from .logs import read_table

        return notebook.fit(read_table(logs), objective), f"notebook method fitted to {logs}"
    return RELEASED_LAWS[objective], "the authors' released law (notebook law_weights; N_opt only)"
