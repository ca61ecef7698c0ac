"""A study's sweep points: objectives x sizes x budgets (x MLM mask ratios) x seeds, from one grid or the union of
several `sweeps`.

Several grids let each budget (and objective) try sizes around its own optimum, as the paper's IsoFLOP profiles
do, instead of paying for the smallest size at the largest budget.
"""

from __future__ import annotations

import itertools

from ..config_schema import ConfigError

GRID_KEYS = ("objectives", "sizes", "budgets")  # required; `mask_ratios` (MLM only) is optional


def grids(study: dict, where: str = "") -> list[dict]:
    """The study's grids; exactly one of `sweeps` or the three top-level grid keys must be given."""
    top = [k for k in GRID_KEYS if k in study]
    if "sweeps" in study and top:
        raise ConfigError(f"{where}config key sweeps: give either sweeps or {', '.join(GRID_KEYS)}, not both")
    if "sweeps" in study:
        return list(study["sweeps"])
    missing = [k for k in GRID_KEYS if k not in study]
    if missing:
        raise ConfigError(f"{where}config key {missing[0]}: missing (or give sweeps)")
    return [{k: study[k] for k in (*GRID_KEYS, "mask_ratios") if k in study}]


def point_id(
    objective: str, size: float, flops: float | None, seed: int, mask_ratio: float | None = None, tokens=None
) -> str:
    """A sweep point's (and any run's) name: objective, the size asked for, the budget (C, or D when given in
    tokens), the MLM mask ratio when a study sweeps it, the seed; e.g. clm_N1e+04_C1e+12_s0 -> clm_N10000_C1e12_s0."""
    mask = f"_m{float(mask_ratio):g}" if mask_ratio is not None else ""
    budget = f"C{float(flops):.0e}" if flops is not None else f"D{float(tokens):.0e}"
    return f"{objective}_N{float(size):g}_{budget}{mask}_s{seed}".replace("+", "")


def _mask_ratios(grid: dict, where: str) -> list[float | None]:
    """A grid's MLM mask ratios (a mask-ratio study), or [None]: the objective's default ratio, not in the id."""
    if "mask_ratios" not in grid:
        return [None]
    if list(grid["objectives"]) != ["mlm"]:
        raise ConfigError(f"{where}config key mask_ratios: only for grids whose objectives are [mlm]")
    return [float(r) for r in grid["mask_ratios"]]


def sweep_points(study: dict, where: str = "") -> dict[str, list[str]]:
    """Sweep point id -> Hydra overrides (study-wide overrides, then the point's own), in grid order."""
    points = {}
    for grid in grids(study, where):
        grid_points = itertools.product(
            grid["objectives"], grid["sizes"], grid["budgets"], _mask_ratios(grid, where), study["seeds"]
        )
        for objective, size, flops, mask, seed in grid_points:
            point = point_id(objective, size, flops, seed, mask)
            points[point] = [
                f"objective={objective}",
                f"model.target_params={float(size)}",
                f"budget.flops={float(flops)}",
                f"seed={seed}",
                f"run.id={point}",
                *([f"objective.mask_ratio={mask}"] if mask is not None else []),
                *study["overrides"],
                *study["point_overrides"].get(point, []),
            ]
    unknown = sorted(set(study["point_overrides"]) - set(points))
    if unknown:
        raise ConfigError(f"{where}config key point_overrides: unknown sweep points {unknown}")
    return points
