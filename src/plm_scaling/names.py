"""Names that the workflow's rules and the code share, defined once (rules/common.smk imports them).

File layout of a split dataset, the figures each stage draws, and the folders the workflow writes under results/.
"""

from __future__ import annotations

import re

# Data stage: each split is a shard of three files (data/shards.py documents them).
SPLITS = ("train", "valid", "test")
SHARD_SUFFIXES = (".tokens.u8", ".offsets.npy", ".ids.txt")

# Figures of a study (study/figure.py draws them; rules/study.smk picks a study's).
STUDY_FIGURES = ("isoflop", "mask_ratio", "curves", "ablation", "repeated", "transfer", "extrapolation", "tuning")
# The paper stage's figures from the authors' released logs (plotting/paper_figures.py draws them), and Table 2.
PAPER_FIGURES = ("repeated_data", "isoflop", "transfer", "mlm_from_clm", "mask_ratio", "isoloss")
PAPER_TABLE = "table2"

# What a finished run's run.json says of it that the evaluate step and a study's fit carry on.
OTHER_OBJECTIVE = {"clm": "mlm", "mlm": "clm"}  # what a transfer run of each objective pre-trains on
RUN_SUMMARY = ("run_id", "sweep_point", "objective", "n", "flops", "tokens", "final_val_loss")

# The tuned recipe a tuning study writes (study/tuning_recipe.py) and another study trains with (study key recipe).
RECIPE = "results/studies/{}/recipe.json"

# Every figure is written as PNG and SVG, with a provenance sidecar beside the PNG.
FIGURE_FORMATS = (".png", ".svg")
SIDECAR = ".provenance.json"

# Names that become parts of paths (study names, dataset and corpus names, sweep point ids read from a plan): a
# letter or digit first, then letters, digits and . _ + -; never `..`. One check for all of them, so no name read
# from a file or the command line can climb out of the folder it is joined to (results/studies/NAME, ...).
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def check_name(name, where: str) -> str:
    """`name` if it is a safe path part, else a ValueError naming `where` (the config key, file or option)."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{where}: {name!r} is not a safe name (a letter or digit, then letters, digits, '.', '_', '+', '-'; "
            "no '..')"
        )
    return name
