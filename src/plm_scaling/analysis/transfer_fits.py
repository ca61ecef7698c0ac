"""Transfer between objectives (CLM→MLM and MLM→CLM) from the released `transfer_valid/` logs.

- Frontiers: the lower envelope of loss against compute over all scratch runs, and over all transfer runs, each
  fitted as L = A·C^α by log-log regression (C = compute of the run itself, as logged: the fine-tuning compute for
  transfer runs; the pre-training compute is reported beside it, parsed from the run name).
- Effectively transferred tokens: for each point of a transfer run (D_F fine-tuning tokens, loss L), the scratch
  run of the same size reaches L after D_S tokens (log-interpolated on its loss curve); D_T = D_S − D_F. Points
  where L lies outside the scratch curve's range, or D_T ≤ 0, are left out. Fitted as
  log D_T = log k + α·log D_F + β·log N. β > 0: larger models gain more tokens from transfer.
"""

from __future__ import annotations

import re
from pathlib import PurePath

import numpy as np

from .curves import running_mean
from .logs import size_label
from .powerlaw import ci95, fit_loglog
from .released import PAPER_N, TRANSFER_GROUPS, with_prefix
from .table import Table


def is_transfer(source: str) -> bool:
    name = PurePath(source).name
    return "transfer_from" in name or "pretrain" in name


def parameters(label: str) -> float:
    """N of a size label: the paper's map, else the label's own number (e.g. '25M' -> 25e6)."""
    if label in PAPER_N:
        return float(PAPER_N[label])
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([MB])", label)
    if not m:
        raise ValueError(f"cannot read a model size from label {label!r}")
    return float(m.group(1)) * (1e6 if m.group(2) == "M" else 1e9)


MIN_RUNS_RESAMPLED = 4


def envelope(c: np.ndarray, loss: np.ndarray, points: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Lower envelope (best loss reached by any run at compute ≤ C) on a log grid of C."""
    order = np.argsort(c)
    c, best = c[order], np.minimum.accumulate(loss[order])
    grid = np.logspace(np.log10(c[0]), np.log10(c[-1]), points)
    # clipped: logspace's rounding can put grid[0] a hair below c[0], and index -1 would be the overall best
    idx = np.clip(np.searchsorted(c, grid, side="right") - 1, 0, None)
    return grid, best[idx]


def frontier_fit(curves: list[tuple[np.ndarray, np.ndarray]], bootstrap: int = 0, seed: int = 0) -> dict:
    """L = A·C^α through the lower envelope of runs' curves (compute, loss); with `bootstrap`, 95% intervals of A
    and α from resampling the runs (the envelope and fit redone on each resample); none from fewer than
    MIN_RUNS_RESAMPLED runs, whose few distinct resamples would give an interval that means nothing."""

    def fit(picked):
        grid, env = envelope(np.concatenate([c for c, _ in picked]), np.concatenate([lo for _, lo in picked]))
        return grid, env, fit_loglog(grid, env)

    grid, env, law = fit(curves)
    out = {**law, "envelope_c": grid.tolist(), "envelope_loss": env.tolist()}
    if bootstrap and len(curves) >= MIN_RUNS_RESAMPLED:
        rng = np.random.default_rng(seed)
        draws = [fit([curves[i] for i in rng.integers(0, len(curves), len(curves))])[2] for _ in range(bootstrap)]
        out["ci95"] = {k: ci95([d[k] for d in draws]) for k in ("coef", "exponent")}
        out["bootstrap"] = {"draws": bootstrap, "over": "runs"}
    return out


def frontiers(table: Table, objective: str, bootstrap: int = 0) -> dict:
    """Scratch and transfer frontiers of the released logs (each run's running mean: the minimum of its noisy
    evaluations would follow their downward spikes)."""
    direction, folder = TRANSFER_GROUPS[objective]
    out = {"direction": direction}
    for kind in ("scratch", "transfer"):
        sub = with_prefix(table, folder).select(x_kind="gigaflos")
        runs = [t for s, t in sub.by_source().items() if is_transfer(s) == (kind == "transfer")]
        if not runs:
            raise ValueError(f"{folder}: no {kind} runs with a gigaflos axis")
        curves = [(t.flops, running_mean(t["loss"])) for t in runs]
        out[kind] = {**frontier_fit(curves, bootstrap), "runs": [t["source"][0] for t in runs]}
    return out


def scratch_tokens(sx: np.ndarray, sl: np.ndarray, loss: float) -> float | None:
    """D_S: the tokens at which a scratch curve (tokens sx, losses sl) first reaches `loss`, log-interpolated on
    its monotone envelope; None when the loss lies outside the curve's range."""
    order = np.argsort(sx)
    sx, env = sx[order], np.minimum.accumulate(sl[order])
    if not env[-1] <= loss <= env[0]:
        return None
    j = int(np.argmax(env <= loss))
    if j == 0:
        return None
    frac = (env[j - 1] - loss) / (env[j - 1] - env[j]) if env[j - 1] > env[j] else 0.0
    return float(np.exp(np.log(sx[j - 1]) + frac * (np.log(sx[j]) - np.log(sx[j - 1]))))


def transferred_rows(scratch: dict, transfers: list[tuple]) -> list[tuple]:
    """(label, N, D_F, D_T) for every point of the transfer curves (label, N, tokens, losses) whose loss the
    scratch curve of the same label (tokens, losses) reaches after more tokens than the transfer run trained on."""
    rows = []
    for label, n, x, losses in transfers:
        if label not in scratch:
            continue
        for d_f, loss in zip(x, losses):
            d_s = scratch_tokens(*scratch[label], loss)
            if d_s is not None and d_s > d_f:
                rows.append((label, float(n), float(d_f), d_s - float(d_f)))
    return rows


def fit_transferred(rows: list[tuple], where: str) -> dict:
    """The fit log D_T = log k + α·log D_F + β·log N over transferred_rows, with per-size summaries."""
    if len({r[0] for r in rows}) < 2:
        raise ValueError(f"{where}: D_T needs matched scratch/transfer curves of at least 2 sizes")
    n, d_f, d_t = (np.array([r[i] for r in rows]) for i in (1, 2, 3))
    design = np.column_stack([np.ones_like(n), np.log(d_f), np.log(n)])
    (log_k, alpha, beta), *_ = np.linalg.lstsq(design, np.log(d_t), rcond=None)
    per_size = {}
    for label in sorted({r[0] for r in rows}, key=lambda lab: next(r[1] for r in rows if r[0] == lab)):
        sel = [r for r in rows if r[0] == label]
        per_size[label] = {
            "n": sel[0][1],
            "points": len(sel),
            "median_gain": float(np.median([r[3] / r[2] for r in sel])),
        }
    return {
        "k": float(np.exp(log_k)),
        "alpha": float(alpha),
        "beta": float(beta),
        "n_points": len(rows),
        "per_size": per_size,
        "gain_with_size": "grows" if beta > 0 else "shrinks",
        "points": [{"size_label": r[0], "n": r[1], "d_f": r[2], "d_t": r[3]} for r in rows],
    }


def transferred_tokens(table: Table, objective: str) -> dict:
    """D_T points per size and the fit D_T = k·D_F^α·N^β of the released logs."""
    _, folder = TRANSFER_GROUPS[objective]
    sub = table.select(group=f"{folder}/tokens", x_kind="tokens")
    scratch, transfers = {}, []
    for s, t in sub.by_source().items():
        label = size_label(PurePath(s).name)
        if is_transfer(s):
            transfers.append((label, parameters(label), t["x"], t["loss"]))
        else:
            scratch[label] = (t["x"], t["loss"])
    transfers = [t for t in sorted(transfers, key=lambda t: t[0])]
    return fit_transferred(transferred_rows(scratch, transfers), f"{folder}/tokens")
