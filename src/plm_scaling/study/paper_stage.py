"""The paper stage in MLflow: every released curve of the authors a run of its own, the paper fits a run that names
them, and every paper figure and Table 2 a run whose provenance lies inside the file and in a sidecar.

Released curves live in their own experiment (e.g. `plm-scaling/paper`) with tags objective, size label, N, group,
source path and the CSV's sha256; the curve is a metric `<metric>_vs_<x kind>` (e.g. `valid_loss_vs_gigaflos`)
with step = its x (gigaflos, tokens or samples) and the authors' wall time as timestamp. A curve whose (source,
sha256) is already a finished run of the experiment is not logged again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..analysis.logs import file_digests
from ..analysis.table import Table
from ..code_stages import code_revision, stage_hash
from ..digests import digest_tags, read_inputs
from ..io import atomic_outputs, read_json, write_json
from ..names import PAPER_TABLE
from ..provenance.lineage import log_table_input, start_run
from ..tracking import absolute_uri
from .fits_schema import check_fits, parse_fits, read_fits

BATCH = 1000  # MLflow's limit of metrics per log_batch call


def _existing(client, experiment_id: str) -> dict[tuple[str, str], str]:
    """(source, sha256) -> run id of the finished, active released-curve runs already in the experiment."""
    runs = client.search_runs([experiment_id], "tags.stage = 'released'", max_results=50000)
    return {
        (r.data.tags["source"], r.data.tags["sha256"]): r.info.run_id
        for r in runs
        if r.info.status == "FINISHED" and r.info.lifecycle_stage == "active"
    }


def _log_curve(client, experiment_id: str, source: str, sha256: str, curve: Table) -> str:
    from mlflow.entities import Metric

    first = {k: curve[k][0] for k in ("objective", "size_label", "n", "group", "x_kind", "metric", "run")}
    tags = {
        "stage": "released",
        "source": source,
        "sha256": sha256,
        "objective": first["objective"],
        "size_label": first["size_label"],
        "N": "" if np.isnan(first["n"]) else str(int(first["n"])),
        "group": first["group"],
        "x_kind": first["x_kind"],
        "duplicate_of": curve["duplicate_of"][0],
    }
    run = client.create_run(experiment_id, run_name=first["run"], tags=tags)
    key = f"{first['metric']}_vs_{first['x_kind']}"
    metrics = [
        Metric(key, float(loss), int(wall * 1000), int(round(x)))
        for x, loss, wall in zip(curve["x"], curve["loss"], curve["wall_time"])
    ]
    for i in range(0, len(metrics), BATCH):
        client.log_batch(run.info.run_id, metrics=metrics[i : i + BATCH])
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def track_released(
    root: str | Path, table_csv: str | Path, tracking_uri: str, experiment: str, out_json: str | Path
) -> dict:
    """One MLflow run per released curve (reusing unchanged ones); out_json lists them with source and sha256."""
    from mlflow import MlflowClient

    tracking_uri = absolute_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(
            f"MLflow experiment {experiment!r} not found in {tracking_uri} (run `plm-scaling study init` first)"
        )
    digests, existing, runs, new = file_digests(root), _existing(client, found.experiment_id), [], 0
    for source, curve in Table.read_csv(table_csv).by_source().items():
        sha = digests.get(source)
        if sha is None:
            raise ValueError(f"{table_csv}: source {source!r} is not a CSV under {root}")
        run_id = existing.get((source, sha))
        if run_id is None:
            run_id, new = _log_curve(client, found.experiment_id, source, sha, curve), new + 1
        runs.append({"run_id": run_id, "source": source, "sha256": sha, "group": curve["group"][0]})
    result = {
        "tracking_uri": tracking_uri,
        "experiment": experiment,
        "paper_logs": str(Path(root).resolve()),
        "runs": runs,
        "new_runs": new,
    }
    with atomic_outputs(out_json) as (tmp,):
        write_json(tmp, result)
    return result


def fit_paper(
    table_csv: str | Path, released_json: str | Path, out_json: str | Path, bootstrap: int, seed: int
) -> dict:
    """All paper fits as an MLflow run: the tidy table as its input (log_input), the released runs as an artifact."""
    import mlflow

    from ..analysis.fits import fit_all

    released = read_json(released_json)
    raw, inputs = read_inputs(**{"loss_table.csv": table_csv})
    table = Table.read_text(raw["loss_table.csv"].decode(), table_csv)
    with start_run(
        released["tracking_uri"],
        released["experiment"],
        "fit",
        {"stage": "fit", "released_runs": len(released["runs"])},
    ) as run:
        digest = log_table_input(table, "paper-loss-table")
        fits = fit_all(table, bootstrap=bootstrap, seed=seed)
        fits["provenance"] = {
            "fit_run_id": run.info.run_id,
            "table_digest": digest,
            "released_runs": str(Path(released_json).resolve()),
            "inputs": inputs,  # the loss table it fitted, with its sha256
            "derivation": {"step": "paper", "bootstrap": bootstrap, "seed": seed},
        }
        check_fits(fits, out_json, "paper")  # the shape every reader of it checks too: refused before it is written
        with atomic_outputs(out_json) as (tmp,):
            write_json(tmp, fits)
        mlflow.log_artifact(str(out_json))
        mlflow.set_tags(digest_tags({"fits.json": out_json}))  # the hash chain (digests.py)
        mlflow.log_artifact(str(released_json))
    return fits


def paper_provenance(name: str, out: str | Path, fits: dict, producing_run_id: str, inputs: dict) -> dict:
    """What a paper figure or table was made from: its run, the fit run, every released run with its sha256."""
    from .figure import figure_location

    released = read_json(fits["provenance"]["released_runs"])
    return {
        "figure": name,
        "kind": "paper",
        "producing_run_id": producing_run_id,
        "fit_run_id": fits["provenance"]["fit_run_id"],
        "table_digest": fits["provenance"]["table_digest"],
        "tracking_uri": released["tracking_uri"],
        "experiment": released["experiment"],
        "location": figure_location(out, depth=3),
        "inputs": inputs,  # the fits JSON and loss table it was drawn from, with their sha256
        "paper_logs": released["paper_logs"],
        "released_runs": [{k: r[k] for k in ("run_id", "source", "sha256")} for r in released["runs"]],
        "code": {**code_revision(), "analysis": stage_hash("analysis")},
    }


def paper_output(name: str, table_csv: str | Path, fits_json: str | Path, out: str | Path) -> dict:
    """Draw one paper figure (or Table 2) inside an MLflow run, with its provenance inside and in a sidecar."""
    from .figure import record

    raw, inputs = read_inputs(**{"fits.json": fits_json, "loss_table.csv": table_csv})
    fits = parse_fits(raw["fits.json"], fits_json, "paper")
    if "provenance" not in fits:
        raise ValueError(f"{fits_json}: no provenance (made by `paper fits` without --released); rerun the fit")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    released = read_json(fits["provenance"]["released_runs"])
    with start_run(
        released["tracking_uri"],
        released["experiment"],
        f"figure:{name}",
        {"stage": "figure", "figure": name, "fit_run_id": fits["provenance"]["fit_run_id"]},
    ) as run:
        provenance = paper_provenance(name, out, fits, run.info.run_id, inputs)
        table = lambda: Table.read_text(raw["loss_table.csv"].decode(), table_csv)  # noqa: E731 (read if drawn)
        draw_output(name, table, fits, out, json.dumps(provenance, sort_keys=True))
        return record([Path(out), Path(out).with_suffix(".md" if name == PAPER_TABLE else ".svg")], provenance)


def draw_output(name: str, table, fits: dict, out: str | Path, text: str) -> None:
    """A paper figure or Table 2 from the fits and the loss table (`table()` reads it), provenance text inside."""
    from ..plotting import paper_figures
    from .table2 import table2

    if name == PAPER_TABLE:
        table2(fits, out, provenance=text)
    else:
        paper_figures.draw_paper_figure(name, table, fits, out, provenance=text)


def draw(name: str, table: str | Path, fits_json: str | Path, out: str | Path) -> None:
    """A paper figure or Table 2: as an MLflow run with provenance when the fits were (the workflow), else plainly
    from a tidy table (or a folder of released logs) and a fits file."""
    fits = read_fits(fits_json, "paper")
    if "provenance" in fits:
        paper_output(name, table, fits_json, out)
    elif name == PAPER_TABLE:
        from .table2 import table2

        table2(fits, out)
    else:
        from ..analysis.logs import read_table
        from ..plotting import paper_figures

        paper_figures.draw_paper_figure(name, lambda: read_table(table), fits, out)
