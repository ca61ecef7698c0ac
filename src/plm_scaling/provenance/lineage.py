"""MLflow runs of the fit and figure steps, tagged with the code revision, and the loss table as their input."""

from __future__ import annotations

from ..code_stages import code_revision


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
