"""A tuned recipe (a tuning study's recipe.json, study/tuning_recipe.py) as a run reads it: the peak learning rate
LR*(N) = coef·N^exponent and Adam β2 per objective, in place of training/recipe.py's formula and optim.beta2.

The run records what it used (run.json and plan.json `recipe`: the file, its sha256, the tuning study, its fit run
and how many runs the recipe rests on), so `audit` can follow a run to the tuning runs behind its settings. The file
is named relative to the working directory (the workflow's: the repository root), as the study names it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from ..config_schema import ConfigError

KEY = "config key optim.recipe"
MAX_BYTES = 1 << 20  # a recipe is a few hundred bytes; anything larger is not one


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _load(path: Path) -> tuple[dict, str]:
    if not path.is_file():
        raise ConfigError(f"{KEY}: {path} not found (run the tuning study that writes it first)")
    raw = path.read_bytes()
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{KEY}: {path} is {len(raw):,} bytes, not a recipe")
    try:
        recipe = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{KEY}: {path} is not JSON ({err.__class__.__name__})") from None
    if not isinstance(recipe, dict) or not isinstance(recipe.get("objectives"), dict):
        raise ConfigError(f"{KEY}: {path} has no objectives (not a tuned recipe)")
    return recipe, hashlib.sha256(raw).hexdigest()


def recorded_path(path: str | Path) -> str:
    """The recipe file as a run records it: relative to the working directory when it lies under it, so that a
    run's record names no one machine's checkout (audit resolves it against the fit's workdir); else absolute.
    abspath, not resolve: a results/ linked to another disk is still under the working directory."""
    full = Path(os.path.abspath(path))
    try:
        return str(full.relative_to(Path.cwd()))
    except ValueError:
        return str(full)


def read(path: str | Path, objective: str) -> dict:
    """What a run of `objective` takes from the recipe at `path`: {lr: {coef, exponent}, beta2} with its record
    (path, sha256, study, fit_run_id, runs); a ConfigError in one line for a file that is no usable recipe."""
    path = Path(path)
    recipe, digest = _load(path)
    entry = recipe["objectives"].get(objective)
    if not isinstance(entry, dict):
        raise ConfigError(f"{KEY}: {path} has no recipe for objective {objective}")
    lr, beta2 = entry.get("lr") or {}, entry.get("beta2")
    if not (_number(lr.get("coef")) and lr["coef"] > 0 and _number(lr.get("exponent"))):
        raise ConfigError(f"{KEY}: {path}: objectives.{objective}.lr needs a coef above 0 and a finite exponent")
    if not (_number(beta2) and 0 < beta2 < 1):
        raise ConfigError(f"{KEY}: {path}: objectives.{objective}.beta2 {beta2!r} is not in (0, 1)")
    return {
        "lr": {"coef": float(lr["coef"]), "exponent": float(lr["exponent"])},
        "beta2": float(beta2),
        "path": recorded_path(path),
        "sha256": digest,
        "study": recipe.get("study"),
        "fit_run_id": recipe.get("fit_run_id"),
        "runs": len(recipe.get("runs", [])),
    }


def peak_lr(tuned: dict, n: float) -> float:
    """LR*(N) of a tuned recipe."""
    return tuned["lr"]["coef"] * n ** tuned["lr"]["exponent"]
