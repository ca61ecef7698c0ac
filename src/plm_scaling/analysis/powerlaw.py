"""Power laws y = a·x^b: the authors' non-linear least squares, and log-log regression with bootstrap intervals."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

PF_DAY = 8.64e19  # FLOPs in one petaflop/s-day


def power(x, a, b):
    return a * np.power(x, b)


def fit_curve_fit(x: np.ndarray, y: np.ndarray) -> dict:
    """The authors' fit: scipy curve_fit of a·x^b from its default start (a = b = 1), unweighted."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2:
        raise ValueError(f"power-law fit needs at least 2 points, got {x.size}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        (a, b), _ = curve_fit(power, x, y, maxfev=20000)
    return {"coef": float(a), "exponent": float(b)}


def fit_loglog(x: np.ndarray, y: np.ndarray) -> dict:
    """Least squares of log y on log x: each point weighs the same in relative terms, whatever its scale."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2:
        raise ValueError(f"power-law fit needs at least 2 points, got {x.size}")
    b, log_a = np.polyfit(np.log(x), np.log(y), 1)
    return {"coef": float(np.exp(log_a)), "exponent": float(b)}
