"""Loss curves as logged: noisy evaluations. What an analysis or a figure takes from a curve is its trend."""

from __future__ import annotations

import numpy as np


def running_mean(values: np.ndarray, share: float = 0.03) -> np.ndarray:
    """Centred running mean over `share` of the points (an odd count, at least 1): the trend through evaluation
    noise. A minimum taken over raw evaluations follows their downward spikes instead."""
    k = max(1, int(len(values) * share)) | 1
    padded = np.pad(np.asarray(values, dtype=float), k // 2, mode="edge")
    return np.convolve(padded, np.ones(k) / k, mode="valid")
