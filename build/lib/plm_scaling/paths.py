"""Where the project's configuration lives, defined once for the code that reads it and the code that hashes it."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def config_root(package: Path = PACKAGE) -> Path:
    """`config/` of the workflow checkout that holds `package` (src/plm_scaling): the schema and the studies."""
    return package.parents[1] / "config"


def train_config_dir(package: Path = PACKAGE) -> Path:
    """The Hydra config groups of a training run, shipped inside the package (so an installed, non-editable
    package finds them); $PLM_TRAIN_CONFIG_DIR points elsewhere."""
    return Path(os.environ.get("PLM_TRAIN_CONFIG_DIR", package / "conf"))
