"""What a study makes beyond its runs, read from the study file alone: which figures it draws, and whether its fit
fits the authors' released logs beside its own runs. The workflow (rules/common.smk) asks these to name its
targets; kept here so that a new study kind changes tested Python, not the rules."""

from __future__ import annotations

from ..names import STUDY_FIGURES, check_name
from ..sweep_point import SweepPoint
from .sweeps import grids

# The grid axis (or study key) whose presence makes a study draw each figure: IsoFLOP profiles and every run's
# curves against compute need FLOP budgets; the extrapolation check is a study key, not a grid axis.
FIGURE_NEEDS = {
    "isoflop": "budgets",
    "curves": "budgets",
    "mask_ratio": "mask_ratios",
    "ablation": "data_variants",
    "repeated": "unique_tokens",
    "transfer": "transfer_shares",
    "extrapolation": "extrapolate",
    "tuning": "lr_scales",
}


def figures_of(study: dict | None) -> list[str]:
    """The study's figures, in names.STUDY_FIGURES order; none without a study."""
    if study is None:
        return []
    present = {axis for grid in grids(study) for axis in grid} | set(study)
    return [name for name in STUDY_FIGURES if FIGURE_NEEDS[name] in present]


def is_transfer_study(study: dict | None) -> bool:
    """Whether a grid of the study trains transfer shares: its fit then also fits the authors' released logs
    (the paper stage's loss table) with the same code, when the paper stage runs."""
    return study is not None and any("transfer_shares" in grid for grid in grids(study))


def is_tuning_study(study: dict | None) -> bool:
    """Whether a grid of the study tunes the optimiser (grid keys lr_scales, beta2s): it then writes a recipe."""
    return study is not None and any("lr_scales" in g or "beta2s" in g for g in grids(study))


def runs_paper_stage(study: dict | None, paper_logs: str | None) -> bool:
    """Whether the workflow builds the paper stage: only with released logs (config key paper_logs), and then
    for no study at all or a study that asks for it (study key paper_stage), so that another study's run and
    report leave the paper stage alone."""
    return bool(paper_logs) and (study is None or bool(study.get("paper_stage")))


def filter_reference(spec: dict, where: str) -> str:
    """The run folder of a perplexity filter's scoring run (config key datasets.NAME.filter): as given
    (reference_run), or the folder of a study's sweep point given by its axes (reference_point)."""
    if "reference_run" in spec:
        return spec["reference_run"]
    fields = dict(spec["reference_point"])
    study = check_name(fields.pop("study"), f"{where}.reference_point.study")
    try:
        point = SweepPoint(**fields)
    except ValueError as err:
        raise ValueError(f"{where}.reference_point: {err}") from None
    return f"results/studies/{study}/runs/{check_name(point.id, f'{where}.reference_point')}"
