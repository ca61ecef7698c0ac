"""MLflow store set-up, done once before parallel jobs: creating a sqlite store's schema is not safe to race."""

from __future__ import annotations

from pathlib import Path

from .io import atomic_outputs, write_json


def init_store(tracking_uri: str, experiment: str, marker: str | Path) -> dict:
    from mlflow import MlflowClient

    artifacts = None
    if tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri.removeprefix("sqlite:///")).parent
        folder.mkdir(parents=True, exist_ok=True)
        # Artifacts beside the database (MLflow's default is ./mlruns in whatever folder the job runs in).
        artifacts = (folder / "mlartifacts").resolve().as_uri()
    client = MlflowClient(tracking_uri=tracking_uri)  # creates and migrates the schema on first use
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment, artifacts)
    info = {"tracking_uri": tracking_uri, "experiment": experiment, "experiment_id": experiment_id}
    with atomic_outputs(marker) as (tmp,):
        write_json(tmp, info)
    return info
