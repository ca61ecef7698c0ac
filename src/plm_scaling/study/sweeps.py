"""A study's sweep points: objectives x sizes x budgets (x MLM mask ratios) x seeds, from one grid or the union of
several `sweeps`.

Several grids let each budget (and objective) try sizes around its own optimum, as the paper's IsoFLOP profiles
do, instead of paying for the smallest size at the largest budget.
"""

from __future__ import annotations

import itertools

from ..config_schema import ConfigError

GRID_KEYS = ("objectives", "sizes", "budgets")  # required
AXES = ("mask_ratios", "data_variants")  # optional: MLM mask ratios; data variants (data-scarcity ablation)
AUX_CORPUS = "results/data/aux/{}/corpus.u8"  # where the workflow builds a corpus of config key aux_corpora


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
    return [{k: study[k] for k in (*GRID_KEYS, *AXES) if k in study}]


def point_id(
    objective: str,
    size: float,
    flops: float | None,
    seed: int,
    mask_ratio: float | None = None,
    tokens=None,
    variant: str | None = None,
) -> str:
    """A sweep point's (and any run's) name: objective, the size asked for, the budget (C, or D when given in
    tokens), the MLM mask ratio or data variant when a study sweeps one, the seed; e.g. clm_N10000_C1e12_s0."""
    mask = f"_m{float(mask_ratio):g}" if mask_ratio is not None else ""
    data = f"_v{variant}" if variant is not None else ""
    budget = f"C{float(flops):.0e}" if flops is not None else f"D{float(tokens):.0e}"
    return f"{objective}_N{float(size):g}_{budget}{mask}{data}_s{seed}".replace("+", "")


def _variants(study: dict, grid: dict) -> list[dict | None]:
    """A grid's data variants, each {name, dataset, aux_fraction} with the study's dataset and no code as defaults,
    or [None]: the study's dataset as it is, not in the id."""
    if "data_variants" not in grid:
        return [None]
    return [{"dataset": study.get("dataset"), "aux_fraction": 0.0, **v} for v in grid["data_variants"]]


def _variant_overrides(study: dict, variant: dict | None) -> list[str]:
    if variant is None or not variant["aux_fraction"]:
        return []
    corpus = AUX_CORPUS.format(study.get("aux_corpus", "python_stdlib"))
    return [f"data.aux.corpus={corpus}", f"data.aux.fraction={float(variant['aux_fraction'])}"]


def _mask_ratios(grid: dict, where: str) -> list[float | None]:
    """A grid's MLM mask ratios (a mask-ratio study), or [None]: the objective's default ratio, not in the id."""
    if "mask_ratios" not in grid:
        return [None]
    if list(grid["objectives"]) != ["mlm"]:
        raise ConfigError(f"{where}config key mask_ratios: only for grids whose objectives are [mlm]")
    return [float(r) for r in grid["mask_ratios"]]


def point_datasets(study: dict, where: str = "") -> dict[str, str]:
    """Sweep point id -> the dataset it trains on (a data variant's, else the study's)."""
    return {point: dataset for point, (_, dataset) in _expand(study, where).items()}


def sweep_points(study: dict, where: str = "") -> dict[str, list[str]]:
    """Sweep point id -> Hydra overrides (study-wide overrides, then the point's own), in grid order."""
    return {point: overrides for point, (overrides, _) in _expand(study, where).items()}


def _expand(study: dict, where: str) -> dict[str, tuple[list[str], str]]:
    points = {}
    for grid in grids(study, where):
        axes = (grid["objectives"], grid["sizes"], grid["budgets"], _mask_ratios(grid, where))
        for objective, size, flops, mask, variant, seed in itertools.product(
            *axes, _variants(study, grid), study["seeds"]
        ):
            point = point_id(objective, size, flops, seed, mask, variant=variant and variant["name"])
            overrides = [
                f"objective={objective}",
                f"model.target_params={float(size)}",
                f"budget.flops={float(flops)}",
                f"seed={seed}",
                f"run.id={point}",
                *([f"objective.mask_ratio={mask}"] if mask is not None else []),
                *_variant_overrides(study, variant),
                *study["overrides"],
                *study["point_overrides"].get(point, []),
            ]
            points[point] = (overrides, variant["dataset"] if variant else study.get("dataset"))
    unknown = sorted(set(study["point_overrides"]) - set(points))
    if unknown:
        raise ConfigError(f"{where}config key point_overrides: unknown sweep points {unknown}")
    return points
