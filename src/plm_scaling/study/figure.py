"""The figure step of a study: an MLflow run of its own that draws the figure with its provenance inside, writes a
sidecar JSON (with the figure's sha256) and logs all three files as artifacts."""

from __future__ import annotations

import json
from pathlib import Path

from ..io import atomic_outputs, read_json, sha256_file, write_json
from ..plotting import figures
from .lineage import start_run

SIDECAR = ".provenance.json"


def sidecar_path(figure: str | Path) -> Path:
    return Path(f"{figure}{SIDECAR}")


def study_figure(name: str, fits_json: str | Path, out_png: str | Path) -> dict:
    if name != "isoflop":
        raise ValueError(f"unknown study figure {name!r} (isoflop)")
    import mlflow

    fits = read_json(fits_json)
    inputs = [r["run_id"] for r in fits["input_runs"] if r["run_id"]]
    with start_run(fits["tracking_uri"], fits["experiment"], f"figure:{name}",
                   {"stage": "figure", "study": fits["study"], "figure": name, "fit_run_id": fits["fit_run_id"],
                    "input_run_ids": ",".join(inputs)}) as run:  # fmt: skip
        provenance = {
            "figure": name, "study": fits["study"], "producing_run_id": run.info.run_id,
            "fit_run_id": fits["fit_run_id"], "tracking_uri": fits["tracking_uri"], "experiment": fits["experiment"],
            "input_runs": [{k: r[k] for k in ("run_id", "sweep_point", "objective", "n", "flops", "final_val_loss")}
                           for r in fits["input_runs"]],
            "table_digest": fits["table_digest"], "config_hash": fits["config_hash"], "study_file": fits["study_file"],
            "data_hash": fits["data_hash"], "data_manifest": fits["data_manifest"], "code": fits["code"],
        }  # fmt: skip
        text = json.dumps(provenance, sort_keys=True)
        figures.isoflop({o: f["isoflop"] for o, f in fits["fits"].items()}, out_png, provenance=text, paper=False)
        png, svg = Path(out_png), Path(out_png).with_suffix(".svg")
        side = {**provenance, "sha256": sha256_file(png), "svg_sha256": sha256_file(svg), "file": png.name}
        with atomic_outputs(sidecar_path(png)) as (tmp,):
            write_json(tmp, side)
        for path in (png, svg, sidecar_path(png)):
            mlflow.log_artifact(str(path))
    return side
