"""MLflow store set-up, done once before parallel jobs: creating a sqlite store's schema is not safe to race."""

from __future__ import annotations

from pathlib import Path

from .io import atomic_outputs, write_json

SQLITE = "sqlite:///"


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a sqlite tracking URI (relative to the working folder unless absolute), else None."""
    return Path(tracking_uri.removeprefix(SQLITE)) if tracking_uri.startswith(SQLITE) else None


def absolute_uri(tracking_uri: str) -> str:
    """A sqlite URI that names its file absolutely, so that it can be opened from any folder (audit)."""
    db = sqlite_path(tracking_uri)
    return SQLITE + str(db.resolve()) if db is not None and not db.is_absolute() else tracking_uri


# MLflow 3's UI opens an experiment by its kind; untagged ones open on the GenAI view ("Traces 0 / No data").
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def set_training_kind(client, experiment_id: str) -> None:
    """Tag an experiment so that the MLflow UI opens it as a model-training experiment (its runs table)."""
    client.set_experiment_tag(experiment_id, *EXPERIMENT_KIND)


def ensure_experiment(tracking_uri: str, experiment: str) -> str:
    """The experiment's id, created when missing: artifacts beside a sqlite database (MLflow's default is ./mlruns
    in whatever folder the job runs in), opened by the UI as a model-training experiment. A sqlite store this call
    creates is left without MLflow's empty Default experiment (drop_default)."""
    from mlflow import MlflowClient

    artifacts = None
    db = sqlite_path(tracking_uri)
    new = db is not None and (not db.exists() or db.stat().st_size == 0)  # MLflow writes its schema into it now
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
        artifacts = (db.parent / "mlartifacts").resolve().as_uri()
    client = MlflowClient(tracking_uri=tracking_uri)  # creates and migrates the schema on first use
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment, artifacts)
    set_training_kind(client, experiment_id)
    if new and experiment_id != DEFAULT_EXPERIMENT[0]:
        drop_default(client)
    return experiment_id


DEFAULT_EXPERIMENT = ("0", "Default")  # what MLflow puts into every store it creates (tracking servers' too)


def drop_default(client) -> None:
    """Delete MLflow's Default experiment of a store just created, if it is still empty, so that the UI lists the
    workflow's experiments only. MLflow deletes softly: the experiment stays in the store as `deleted` (the UI hides
    it), and because it is there, MLflow does not make it again when it opens the store."""
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    try:
        default = client.get_experiment(DEFAULT_EXPERIMENT[0])
    except MlflowException:  # a store without one
        return
    if (default.name, default.lifecycle_stage) != (DEFAULT_EXPERIMENT[1], "active"):
        return
    if not client.search_runs([default.experiment_id], run_view_type=ViewType.ALL, max_results=1):
        client.delete_experiment(default.experiment_id)


def init_store(tracking_uri: str, experiment: str, marker: str | Path) -> dict:
    experiment_id = ensure_experiment(tracking_uri, experiment)
    info = {"tracking_uri": tracking_uri, "experiment": experiment, "experiment_id": experiment_id}
    with atomic_outputs(marker) as (tmp,):
        write_json(tmp, info)
    return info


PROCESS_TAG = "plm.process"  # host:pid of the process that runs a workflow step's MLflow run


def process_tag() -> dict[str, str]:
    import os
    import socket

    return {PROCESS_TAG: f"{socket.gethostname()}:{os.getpid()}"}


def end_killed_runs(tracking_uri: str, experiment_id: str, run_name: str) -> list[str]:
    """Mark KILLED the RUNNING runs named `run_name` whose process, on this host, is gone (a job killed with
    SIGKILL runs no clean-up, and its run would say RUNNING for ever). Runs of other hosts are left alone."""
    import socket

    from mlflow import MlflowClient

    from .io import alive

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000)
    ended = []
    for run in found:
        host, _, pid = run.data.tags.get(PROCESS_TAG, "").rpartition(":")
        if run.info.run_name == run_name and host == socket.gethostname() and pid.isdigit() and not alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            ended.append(run.info.run_id)
    return ended
