"""Power laws y = a·x^b: the authors' non-linear least squares, and log-log regression with bootstrap intervals."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

PF_DAY = 8.64e19  # FLOPs in one petaflop/s-day


def ci95(values) -> list[float]:
    """The 95% percentile interval of bootstrap or parameter draws."""
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def failed_resamples(law: dict, bootstrap: int) -> int:
    """How many of a law's `bootstrap` resamples gave it no value (left out of its ci95): its `failed`, or, in a
    fits JSON written before that key, the resamples its samples lack."""
    return law.get("failed", bootstrap - len(law.get("samples", [])))


def resample_note(law: dict, bootstrap: int | None, method: str | None = None) -> str:
    """What an interval rests on: its bootstrap resamples (made as `method` says, when given), and how many of them
    gave the law no value."""
    if not bootstrap or "samples" not in law:
        return ""
    failed = failed_resamples(law, bootstrap)
    how = f"; {method} bootstrap" if method else ""
    return f"95% interval from {bootstrap - failed} of {bootstrap} bootstrap resamples ({failed} gave no law{how})"


def power(x, a, b):
    return a * np.power(x, b)


def fit_curve_fit(x: np.ndarray, y: np.ndarray) -> dict:
    """The authors' fit: scipy curve_fit of a·x^b from its default start (a = b = 1), unweighted."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2:
        raise ValueError(f"power-law fit needs at least 2 points, got {x.size}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        (a, b), cov = curve_fit(power, x, y, maxfev=20000)
    # cov (of coef, exponent) lets the planner draw parameter samples for its intervals.
    return {"coef": float(a), "exponent": float(b), "cov": np.asarray(cov, float).tolist()}


def parameter_samples(law: dict, draws: int = 4000, seed: int = 0) -> np.ndarray:
    """(coef, exponent) pairs spreading a fitted power law's uncertainty: its bootstrap samples when it has them,
    else draws from the normal approximation of curve_fit's covariance, else the point estimate alone."""
    if law.get("samples"):
        return np.asarray(law["samples"], float)
    if law.get("cov") is not None and np.all(np.isfinite(law["cov"])):
        # Normal in (log coef, exponent), by the delta method: coef stays positive, and the strong correlation
        # of coef and exponent is kept.
        a = law["coef"]
        (vaa, vab), (_, vbb) = law["cov"]
        cov = [[vaa / a**2, vab / a], [vab / a, vbb]]
        rng = np.random.default_rng(seed)
        log_a, b = rng.multivariate_normal([np.log(a), law["exponent"]], cov, size=draws).T
        return np.column_stack([np.exp(log_a), b])
    return np.array([[law["coef"], law["exponent"]]])


def fit_loglog(x: np.ndarray, y: np.ndarray) -> dict:
    """Least squares of log y on log x: each point weighs the same in relative terms, whatever its scale."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2:
        raise ValueError(f"power-law fit needs at least 2 points, got {x.size}")
    b, log_a = np.polyfit(np.log(x), np.log(y), 1)
    return {"coef": float(np.exp(log_a)), "exponent": float(b)}
