"""Code revision, hashes and MLflow runs for the fit and figure steps."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from ..paths import PACKAGE, config_root, train_config_dir

STAGES = {
    "data": ("data", "io.py", "digests.py"),
    "train": ("model", "training", "io.py", "paths.py", "digests.py"),
    "analysis": ("analysis", "plotting", "study", "io.py", "digests.py"),
}
# Configuration that decides a stage's output besides its code: the schema's defaults fill every config, and the
# Hydra groups compose every training run.
STAGE_CONFIG = {"data": ("schemas",), "train": ("schemas", "train"), "analysis": ("schemas",)}


def _stage_files(stage: str, package: Path) -> list[tuple[str, Path]]:
    """(name, path) of every file a stage's output depends on: its source and its configuration."""
    files = []
    for part in STAGES[stage]:
        paths = sorted((package / part).rglob("*.py")) if (package / part).is_dir() else [package / part]
        files += [(p.relative_to(package).as_posix(), p) for p in paths]
    for part in STAGE_CONFIG[stage]:
        folder = train_config_dir(package) if part == "train" else config_root(package) / part
        files += [(f"config/{part}/{p.relative_to(folder).as_posix()}", p) for p in sorted(folder.rglob("*.yaml"))]
    return files


def stage_hash(stage: str, package: Path = PACKAGE) -> str:
    """sha256 (16 hex) of a stage's source and configuration files; the workflow puts it in its rules' params."""
    h = hashlib.sha256()
    for name, path in _stage_files(stage, package):
        h.update(name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def code_revision() -> dict:
    """Git commit of the project and whether its tracked files differ from it (dirty)."""
    root = PACKAGE.parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"revision": "unknown", "dirty": True}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def start_run(tracking_uri: str, experiment: str, name: str, tags: dict):
    """An MLflow run of a workflow step (not a training run); the caller ends it."""
    import mlflow

    from ..tracking import end_killed_runs, ensure_experiment, process_tag

    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = ensure_experiment(tracking_uri, experiment)
    mlflow.set_experiment(experiment_id=experiment_id)
    end_killed_runs(tracking_uri, experiment_id, name)  # this step's earlier run, if a kill left it RUNNING
    rev = code_revision()
    return mlflow.start_run(
        run_name=name,
        tags={
            **{k: str(v) for k, v in tags.items()},
            "code_revision": rev["revision"],
            "code_dirty": str(rev["dirty"]),
            **process_tag(),
        },
    )


def log_table_input(table, name: str) -> str:
    """Log a tidy loss table as the active MLflow run's input (mlflow.log_input); its digest, returned, identifies
    exactly which rows, hence which runs, went into a fit."""
    import mlflow
    import pandas as pd

    frame = pd.DataFrame({k: v.tolist() for k, v in table.cols.items()})
    dataset = mlflow.data.from_pandas(frame, name=name)
    mlflow.log_input(dataset, context="fit")
    return dataset.digest
