"""A study's sweep points: objectives x sizes x budgets x seeds, from one grid or the union of several `sweeps`.

Several grids let each budget (and objective) try sizes around its own optimum, as the paper's IsoFLOP profiles
do, instead of paying for the smallest size at the largest budget.
"""

from __future__ import annotations

from ..config_schema import ConfigError

GRID_KEYS = ("objectives", "sizes", "budgets")


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
    return [{k: study[k] for k in GRID_KEYS}]


def point_id(objective: str, size: float, flops: float, seed: int) -> str:
    return f"{objective}_N{float(size):g}_C{float(flops):.0e}_s{seed}".replace("+", "")


def sweep_points(study: dict, where: str = "") -> dict[str, list[str]]:
    """Sweep point id -> Hydra overrides (study-wide overrides, then the point's own), in grid order."""
    points = {}
    for grid in grids(study, where):
        for objective in grid["objectives"]:
            for size in grid["sizes"]:
                for flops in grid["budgets"]:
                    for seed in study["seeds"]:
                        point = point_id(objective, size, flops, seed)
                        points[point] = [f"objective={objective}", f"model.target_params={float(size)}",
                                         f"budget.flops={float(flops)}", f"seed={seed}", f"run.id={point}",
                                         *study["overrides"], *study["point_overrides"].get(point, [])]  # fmt: skip
    unknown = sorted(set(study["point_overrides"]) - set(points))
    if unknown:
        raise ConfigError(f"{where}config key point_overrides: unknown sweep points {unknown}")
    return points
