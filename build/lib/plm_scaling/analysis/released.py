"""Everything specific to the authors' released logs (their repository's data/training_logs, arXiv 2411.02142):
folder names, the size map, the groups each analysis reads, and the numbers the paper and its notebook publish.
Our own studies never read this module; the paper stage and its figures do."""

from __future__ import annotations

import numpy as np

from .table import Table

PAPER_LOGS_URL = "data/training_logs of the code repository linked from arXiv 2411.02142"

# Folder layout: <experiment folder>/<approach>/<size>/<file>.csv for the IsoFLOP sweeps, transfer_valid/<to>/...
EXPERIMENT_FOLDERS = ("gpt_valid", "mlm_valid")
TRANSFER_FOLDER = "transfer_valid"
ISOFLOP_SUFFIX = "approach3_flops"
# The tidy table's `group` of each analysis.
ISOFLOP_GROUPS = {"clm": "gpt_valid/approach3_flops", "mlm": "mlm_valid/approach3_flops"}
TRANSFER_GROUPS = {"mlm": ("CLM→MLM", "transfer_valid/mlm"), "clm": ("MLM→CLM", "transfer_valid/gpt")}
REPEATED_DATA_PREFIX = "ur50_all1ep_valid_loss/"  # Fig. 1: UR50/S repeated vs UniMeta200B once
REPEATED_FOLDER_PREFIX = "ur50"  # the repeated-data runs' folders start so; the others saw UniMeta200B once
MLM_FROM_CLM_PREFIX = "transfer_valid/mlm/tokens"

# Size folder label -> the paper's non-embedding parameter count.
PAPER_N: dict[str, int] = {
    "3M": 3538944,
    "6M": 6291456,
    "10M": 9830400,
    "13M": 13192320,
    "20M": 19267584,
    "25M": 25165824,
    "34M": 33690624,
    "40M": 39813120,
    "47M": 47775744,
    "65M": 65728000,
    "85M": 84934656,
    "106M": 106168320,
    "127M": 127699968,
    "154M": 154448288,
    "170M": 170233344,
    "200M": 202309632,
    "230M": 231211008,
    "300M": 302426080,
    "393M": 393216000,
    "470M": 472435184,
    "550M": 550502400,
    "650M": 650930624,
    "680M": 680205312,
    "880M": 886308864,
    "1.2B": 1208881136,
    "1.5B": 1528823808,
    "1.7B": 1784851968,
    "2B": 2044723200,
    "2.4B": 2359296000,
    "2.8B": 2834283904,
    "3.4B": 3425697792,
    "4B": 4076863488,
    "5B": 4917322640,
    "6B": 6165626880,
    "7B": 7247758312,
    "10B": 10682105856,
}

# The paper's fitted exponents (Table 2 / Fig. 3): N_opt ∝ C^a, D_opt ∝ C^b.
PAPER_EXPONENTS = {"clm": {"n_opt": 0.578, "d_opt": 0.422}, "mlm": {"n_opt": 0.776, "d_opt": 0.230}}
# The laws the authors released beside their notebook (its `law_weights`): N_opt = a·C^b, C in FLOPs.
RELEASED_LAWS = {
    "clm": {"n_opt": {"coef": 3.30571e-3, "exponent": 0.556107}},
    "mlm": {"n_opt": {"coef": 1.36464e-7, "exponent": 0.759802}},
}


def isoflop_runs(table: Table, objective: str) -> Table:
    """The objective's released IsoFLOP curves, x in gigaflos."""
    return table.select(group=ISOFLOP_GROUPS[objective], x_kind="gigaflos")


def with_prefix(table: Table, prefix: str) -> Table:
    """Rows whose group starts with `prefix` (a released folder)."""
    return table.where(np.char.startswith(table["group"].astype(str), prefix))
