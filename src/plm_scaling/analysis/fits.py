"""Every fit on the released logs in one place, as the CLI and the workflow run them."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from . import isoflop, notebook, transfer_fits
from .parametric import fit_parametric, fit_seed
from .released import isoflop_runs
from .table import Table

OBJECTIVES = ("clm", "mlm")
# Left out of command-line output; curve_fit's 2x2 covariance stays (a planner's interval needs it).
_BULKY = ("samples", "points", "budgets")


def fit_logs(
    table: Table, method: str, bootstrap: int = 1000, seed: int = 0, floor: bool = False, resample: str = "residual"
) -> dict:
    """{"clm": laws, "mlm": laws} by the notebook or the interp method (bootstrap resamples made as `resample`
    says: analysis/resample.py)."""
    if method == "notebook":
        return {o: notebook.fit(table, o) for o in OBJECTIVES}
    if method == "interp":
        return {
            o: isoflop.fit(isoflop_runs(table, o), o, bootstrap, seed, floor, resample=resample) for o in OBJECTIVES
        }
    raise ValueError(f"unknown method {method!r} (notebook or interp)")


def without_bulk(result: dict) -> dict:
    """The command-line contract: fits without their bootstrap samples, covariances and per-point detail."""
    if isinstance(result, dict):
        return {k: without_bulk(v) for k, v in result.items() if k not in _BULKY}
    return result


def final_points(table: Table, objective: str) -> dict[str, np.ndarray]:
    """(N, D, L) at the end of every IsoFLOP run of an objective (one copy of each): parametric-fit input."""
    sub = isoflop_runs(table, objective)
    rows = [
        (t["n"][0], t.flops[-1], t["loss"][-1])
        for t in sub.by_source().values()
        if not t["duplicate_of"][0] and np.isfinite(t["n"][0])
    ]
    n, c, loss = (np.array([r[i] for r in rows]) for i in range(3))
    return {"n": n, "d": c / (6 * n), "loss": loss}


def curve_points(table: Table, objective: str) -> dict[str, np.ndarray]:
    """(N, D, L) at every logged point of every IsoFLOP run (one copy of each), D = C/(6N). Points before the
    end of a run are not annealed (its cosine schedule has not finished): fits to them mix in that bias."""
    sub = isoflop_runs(table, objective)
    runs = [t for t in sub.by_source().values() if not t["duplicate_of"][0] and np.isfinite(t["n"][0])]
    n = np.concatenate([t["n"] for t in runs])
    return {
        "n": n,
        "d": np.concatenate([t.flops for t in runs]) / (6 * n),
        "loss": np.concatenate([t["loss"] for t in runs]),
    }


def _is_number(text) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def read_points_csv(
    path: str | Path,
    n_col: str,
    d_col: str | None,
    c_col: str | None,
    loss_col: str,
    drop_highest: int = 0,
    extra: dict[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Any table of runs -> N, D, L arrays (D = C/(6N) when C is given), and one array per `extra` {key: column};
    drops the `drop_highest` highest losses."""
    if (d_col is None) == (c_col is None):
        raise ValueError("give exactly one of --d-col and --c-col")
    extra = extra or {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = [n_col, d_col or c_col, loss_col, *extra.values()]
        missing = [c for c in cols if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column {missing[0]!r} (columns: {', '.join(reader.fieldnames or [])})")
        rows = []
        for line, r in enumerate(reader, start=2):
            try:
                rows.append([float(r[c]) for c in cols])
            except (TypeError, ValueError):  # a short row gives None, text a ValueError
                bad = next(c for c in cols if not _is_number(r.get(c)))
                raise ValueError(f"{path}: line {line}: column {bad!r} is {r.get(bad)!r}, not a number") from None
    data = np.array(rows, dtype=float).reshape(-1, len(cols))
    bad = ~np.isfinite(data).all(axis=1)
    if bad.any():
        raise ValueError(f"{path}: row {int(np.flatnonzero(bad)[0]) + 2} has a NaN or empty value")
    if drop_highest:
        data = data[np.argsort(data[:, 2])[: max(0, len(data) - drop_highest)]]
    n, x, loss = data[:, :3].T
    return {"n": n, "d": x if d_col else x / (6 * n), "loss": loss, **dict(zip(extra, data[:, 3:].T))}


def fit_all(table: Table, bootstrap: int = 1000, seed: int = 0) -> dict:
    """Notebook, IsoFLOP (the interp method) and parametric fits of both objectives, warnings collected as text.
    The keys are the paper fits' sections (config/schemas/fits.schema.yaml $defs/paper_fits)."""
    # Thousands of tiny least-squares problems: BLAS worker threads only spin (measured 60 s -> 38 s with one).
    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = {
            "notebook": fit_logs(table, "notebook"),
            "isoflop": fit_logs(table, "interp", bootstrap=bootstrap, seed=seed),  # a study's fits call it so too
            "parametric": {
                o: fit_parametric(**final_points(table, o), bootstrap=bootstrap, seed=seed) for o in OBJECTIVES
            },
            "parametric_seed": {
                o: {"final": fit_seed(**final_points(table, o)), "curves": fit_seed(**curve_points(table, o))}
                for o in OBJECTIVES
            },
            # ~44k points: 8 L-BFGS starts (the same optimum as 32 on these logs, a quarter of the time)
            "parametric_curves": {o: fit_parametric(**curve_points(table, o), starts=8) for o in OBJECTIVES},
            "transfer": {
                o: {
                    "frontiers": transfer_fits.frontiers(table, o),
                    "tokens": transfer_fits.transferred_tokens(table, o),
                }
                for o in OBJECTIVES
            },
        }
    out["warnings"] = sorted({str(w.message) for w in caught})
    return out
