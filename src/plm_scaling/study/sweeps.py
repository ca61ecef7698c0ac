"""A study's sweep points: objectives x sizes x budgets (x MLM mask ratios, data variants, unique-token subsets or
transfer shares) x seeds, from one grid or the union of several `sweeps`. A budget is FLOPs (`budgets`) or tokens
(`tokens`).

A transfer share s of budget C (grid key transfer_shares, the transfer study) makes two points: the pre-training
run on the other objective with s·C FLOPs (id ..._pre<s>_...), and the run of the grid's objective that starts from
its final weights with the remaining (1 − s)·C (id ..._<other objective><s>_...); share 0 is the scratch run.

Several grids let each budget (and objective) try sizes around its own optimum, as the paper's IsoFLOP profiles
do, instead of paying for the smallest size at the largest budget.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

from ..config_schema import ConfigError
from ..names import OTHER_OBJECTIVE, RECIPE
from ..sweep_point import PRETRAINING, SweepPoint

GRID_KEYS = ("objectives", "sizes")  # required, with one of BUDGET_KEYS
BUDGET_KEYS = ("budgets", "tokens")  # FLOPs (C = 6·N·D) or tokens D
# optional: MLM mask ratios; data variants (data-scarcity ablation); nested unique subsets of U train tokens
# (repeated-data study); shares of the budget spent pre-training the other objective (transfer study); multiples
# of the peak learning rate and Adam β2 values (tuning study); the grid's own seeds instead of the study's
AXES = ("mask_ratios", "data_variants", "unique_tokens", "transfer_shares", "lr_scales", "beta2s", "seeds")
MIN_SHARE = 0.01  # the least share of a budget either part of a transfer point gets (grid key transfer_shares)
AUX_CORPUS = "results/data/aux/{}/corpus.u8"  # where the workflow builds a corpus of config key aux_corpora


def grids(study: dict, where: str = "") -> list[dict]:
    """The study's grids; exactly one of `sweeps` or the three top-level grid keys must be given."""
    top = [k for k in (*GRID_KEYS, *BUDGET_KEYS) if k in study]
    if "sweeps" in study and top:
        raise ConfigError(f"{where}config key sweeps: give either sweeps or {', '.join(GRID_KEYS)}, not both")
    if "sweeps" in study:
        grids = list(study["sweeps"])
    else:
        missing = [k for k in GRID_KEYS if k not in study]
        if missing:
            raise ConfigError(f"{where}config key {missing[0]}: missing (or give sweeps)")
        grids = [{k: study[k] for k in (*GRID_KEYS, *BUDGET_KEYS, *AXES) if k in study}]
    for i, grid in enumerate(grids):
        key = f"sweeps[{i}]" if "sweeps" in study else ""
        if sum(k in grid for k in BUDGET_KEYS) != 1:
            raise ConfigError(f"{where}config key {key or 'budgets'}: give exactly one of budgets (FLOPs) or tokens")
        _check_transfer(grid, f"{where}config key {key + '.' if key else ''}transfer_shares")
    return grids


def _check_transfer(grid: dict, where: str) -> None:
    """A transfer grid splits FLOP budgets, and is not crossed with the other data or objective axes."""
    if "transfer_shares" not in grid:
        return
    if "budgets" not in grid:
        raise ConfigError(f"{where}: needs budgets (FLOPs), which the shares split")
    crossed = [k for k in ("mask_ratios", "data_variants", "unique_tokens") if k in grid]
    if crossed:
        raise ConfigError(f"{where}: not combined with {crossed[0]} in one grid")
    for share in grid["transfer_shares"]:
        if not _number(share) or not (share == 0 or (MIN_SHARE <= share <= 1 - MIN_SHARE and round(share, 2) == share)):
            raise ConfigError(
                f"{where}: {share!r} is not 0 (scratch) or a share in [{MIN_SHARE:g}, {1 - MIN_SHARE:g}] with at most "
                "2 decimals (its id pre<share> must name it, and both parts need a trainable budget)"
            )


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _unique_tokens(grid: dict, key: str) -> list[int | None]:
    """A grid's unique-token subsets U (whole numbers >= 1: a U that truncates to 0 would mean "no subset" and train
    on the whole split under a subset's id), or [None]: the whole train part."""
    if "unique_tokens" not in grid:
        return [None]
    for u in grid["unique_tokens"]:
        if not _number(u) or u < 1 or u != int(u):
            raise ConfigError(f"{key}: {u!r} is not a whole number of tokens >= 1")
    return [int(u) for u in grid["unique_tokens"]]


def _variants(study: dict, grid: dict) -> list[dict | None]:
    """A grid's data variants, each {name, dataset, aux_fraction} with the study's dataset and no code as defaults,
    or [None]: the study's dataset as it is, not in the id."""
    if "data_variants" not in grid:
        return [None]
    return [{"dataset": study.get("dataset"), "aux_fraction": 0.0, **v} for v in grid["data_variants"]]


def _aux_corpus(study: dict, variant: dict | None) -> str | None:
    """The corpus file a data variant mixes in (code augmentation), or None."""
    if variant is None or not variant["aux_fraction"]:
        return None
    return AUX_CORPUS.format(study.get("aux_corpus", "python_stdlib"))


def last_override(overrides: list[str], key: str) -> str | None:
    """The value of a run's last `key=` override (later ones win, as in Hydra), or None when unset or null."""
    found = [o.split("=", 1)[1] for o in overrides if o.startswith(f"{key}=")]
    return found[-1] if found and found[-1] not in ("null", "") else None


def aux_corpus_of(overrides: list[str]) -> str | None:
    """The corpus file a run mixes in: its last data.aux.corpus override (a data variant's, or one in the study's
    or the point's own overrides, which come after it), or None. The workflow builds it before the run."""
    return last_override(overrides, "data.aux.corpus")


def recipe_of(overrides: list[str]) -> str | None:
    """The tuned recipe file a run trains with (study key recipe, or an optim.recipe override), or None: an input
    of its training job, so a new tuning result retrains it."""
    return last_override(overrides, "optim.recipe")


def _variant_overrides(corpus: str | None, variant: dict | None) -> list[str]:
    return [f"data.aux.corpus={corpus}", f"data.aux.fraction={float(variant['aux_fraction'])}"] if corpus else []


def _mask_ratios(grid: dict, where: str) -> list[float | None]:
    """A grid's MLM mask ratios (a mask-ratio study), or [None]: the objective's default ratio, not in the id."""
    if "mask_ratios" not in grid:
        return [None]
    if list(grid["objectives"]) != ["mlm"]:
        raise ConfigError(f"{where}config key mask_ratios: only for grids whose objectives are [mlm]")
    return [float(r) for r in grid["mask_ratios"]]


def _tuning(grid: dict) -> list[tuple[float | None, float | None]]:
    """A grid's (peak-LR multiple, β2) cells (a tuning study), or [(None, None)]: the recipe's, not in the id."""
    scales = [float(x) for x in grid["lr_scales"]] if "lr_scales" in grid else [None]
    betas = [float(x) for x in grid["beta2s"]] if "beta2s" in grid else [None]
    return list(itertools.product(scales, betas))


def _tuning_overrides(lr_scale: float | None, beta2: float | None) -> list[str]:
    """A tuning cell's optimiser settings. A cell may diverge (too high an LR is what a tuning grid looks for): it is
    recorded as diverged and left out of the fit, not failed (trainer.on_divergence)."""
    cell = [*([f"optim.lr_scale={lr_scale}"] if lr_scale else []), *([f"optim.beta2={beta2}"] if beta2 else [])]
    return [*cell, "trainer.on_divergence=record"] if cell else []


def recipe_overrides(study: dict) -> list[str]:
    """The tuned recipe every run of a study trains with (study key recipe: the tuning study that wrote it)."""
    return [f"optim.recipe={RECIPE.format(study['recipe'])}"] if study.get("recipe") else []


class Point(NamedTuple):
    overrides: list[str]  # Hydra overrides: the grid's, the study's, then the point's own
    dataset: str  # the dataset it trains on (a data variant's, else the study's)
    unique_tokens: int | None  # a nested unique subset of U train tokens, or None: the dataset's whole train part
    init_from: str | None = None  # the point whose final weights it starts from (transfer), or None: scratch
    aux_corpus: str | None = None  # the corpus file it mixes in (aux_corpus_of its overrides), or None


def point_datasets(study: dict, where: str = "") -> dict[str, str]:
    """Sweep point id -> the dataset it trains on (a data variant's, else the study's)."""
    return {point: p.dataset for point, p in expand(study, where).items()}


def sweep_points(study: dict, where: str = "") -> dict[str, list[str]]:
    """Sweep point id -> Hydra overrides (study-wide overrides, then the point's own), in grid order."""
    return {point: p.overrides for point, p in expand(study, where).items()}


def _budget_axis(grid: dict) -> list[tuple[str, float]]:
    key = "budgets" if "budgets" in grid else "tokens"
    return [(key, float(b)) for b in grid[key]]


def _transfer_parts(point: SweepPoint, share: float | None) -> list[tuple[SweepPoint, float | None]]:
    """(point, FLOPs it trains) of the runs one grid entry makes: itself, or for a transfer share the pre-training
    run on the other objective and the run that starts from it (both named by the whole budget C)."""
    if not share:
        return [(point, point.flops)]
    other = OTHER_OBJECTIVE[point.objective]
    pre, rest = (float(f"{x:.6g}") for x in (share * point.flops, (1 - share) * point.flops))
    return [
        (point.replace(objective=other, transfer=PRETRAINING, share=share), pre),
        (point.replace(transfer=other, share=share), rest),
    ]


def expand(study: dict, where: str = "") -> dict[str, Point]:
    """Every sweep point of the study, by id, in grid order."""
    points, compute = {}, study.get("compute", "paper")  # the FLOP count budgets are met in (model/sizes.py)
    for i, grid in enumerate(grids(study, where)):
        key = f"{where}config key {f'sweeps[{i}].' if 'sweeps' in study else ''}"
        axes = (grid["objectives"], grid["sizes"], _budget_axis(grid), _mask_ratios(grid, where))
        extra = (
            _variants(study, grid),
            _unique_tokens(grid, f"{key}unique_tokens"),
            grid.get("transfer_shares", [None]),
            _tuning(grid),
        )
        for objective, size, (kind, budget), mask, variant, unique, share, (lr, b2), seed in itertools.product(
            *axes, *extra, grid.get("seeds", study["seeds"])
        ):
            total, tokens = (budget, None) if kind == "budgets" else (None, budget)
            grid_point = SweepPoint(
                objective, float(size), seed, total, tokens, mask, variant and variant["name"], unique and float(unique)
            ).replace(lr_scale=lr, beta2=b2)
            corpus = _aux_corpus(study, variant)
            for point, flops in _transfer_parts(grid_point, share):
                ident = point.id
                overrides = [
                    f"objective={point.objective}",
                    f"model.target_params={float(size)}",
                    *([f"budget.flops={flops}"] if flops else ["budget.flops=null", f"budget.tokens={tokens}"]),
                    *([f"budget.count={compute}"] if flops and compute != "paper" else []),
                    f"seed={seed}",
                    f"run.id={ident}",
                    *([f"objective.mask_ratio={mask}"] if mask is not None else []),
                    *_variant_overrides(corpus, variant),
                    *_tuning_overrides(lr, b2),
                    *recipe_overrides(study),
                    *study["overrides"],
                    *study["point_overrides"].get(ident, []),
                ]
                dataset = variant["dataset"] if variant else study.get("dataset")
                init = point.pretraining.id if point.is_transferred else None
                points[ident] = Point(overrides, dataset, unique, init, aux_corpus_of(overrides))
    unknown = sorted(set(study["point_overrides"]) - set(points))
    if unknown:
        raise ConfigError(f"{where}config key point_overrides: unknown sweep points {unknown}")
    return points


def budget_points(study: dict, objective: str, sizes: list[float], budget: float, seeds: list[int]) -> dict:
    """Sweep point id -> overrides of `sizes` × `seeds` at one FLOP budget, as the study's grid points get them
    (its overrides and compute count): the points a checkpoint plans from a fit (extrapolation, adaptive rounds)."""
    grid = {"objectives": [objective], "sizes": list(sizes), "budgets": [budget], "seeds": list(seeds)}
    mini = {"sweeps": [grid], "seeds": list(seeds), "overrides": study["overrides"], "point_overrides": {}}
    mini |= {k: study[k] for k in ("compute", "recipe") if k in study}
    return {pid: p.overrides for pid, p in expand(mini).items()}
