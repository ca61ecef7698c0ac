"""The figure step of a study: an MLflow run of its own that draws the figure with its provenance inside, writes a
sidecar JSON (with the figure's sha256) and logs all three files as artifacts."""

from __future__ import annotations

import json
from pathlib import Path

from ..io import atomic_outputs, read_json, sha256_file, write_json
from ..names import SIDECAR
from ..names import STUDY_FIGURES as FIGURES
from ..plotting import study_figures
from ..plotting.isoflop import isoflop
from .lineage import start_run


def sidecar_path(figure: str | Path) -> Path:
    return Path(f"{figure}{SIDECAR}")


def figure_location(path: str | Path, depth: int = 4) -> str:
    """The figure's last `depth` path parts (studies/NAME/figures/FILE): where it belongs, whatever the checkout."""
    return "/".join(Path(path).resolve().parts[-depth:])


def study_figure(name: str, fits_json: str | Path, out_png: str | Path) -> dict:
    if name not in FIGURES:
        raise ValueError(f"unknown study figure {name!r} ({', '.join(FIGURES)})")

    fits = read_json(fits_json)
    inputs = [r["run_id"] for r in fits["input_runs"] if r["run_id"]]
    with start_run(
        fits["tracking_uri"],
        fits["experiment"],
        f"figure:{name}",
        {
            "stage": "figure",
            "study": fits["study"],
            "figure": name,
            "fit_run_id": fits["fit_run_id"],
            "input_run_ids": ",".join(inputs),
        },
    ) as run:
        provenance = {
            "figure": name,
            "study": fits["study"],
            "producing_run_id": run.info.run_id,
            "fit_run_id": fits["fit_run_id"],
            "tracking_uri": fits["tracking_uri"],
            "experiment": fits["experiment"],
            "location": figure_location(out_png),
            # valid_loss: the full validation split (evaluate), the loss the figure plots; final_val_loss: the
            # training-time validation windows
            "input_runs": [
                {
                    k: r.get(k)
                    for k in ("run_id", "sweep_point", "objective", "n", "flops", "valid_loss", "final_val_loss")
                }
                for r in fits["input_runs"]
            ],
            "table_digest": fits["table_digest"],
            "config_hash": fits["config_hash"],
            "study_file": fits["study_file"],
            "data_hash": fits["data_hash"],
            "data_manifest": fits["data_manifest"],
            "code": fits["code"],
        }
        text = json.dumps(provenance, sort_keys=True)
        if name == "isoflop":
            isoflop(
                {o: f["isoflop"] for o, f in fits["fits"].items()},
                out_png,
                provenance=text,
                paper=False,
                noise={o: f.get("noise") for o, f in fits["fits"].items()},
            )
        elif name == "ablation":
            from ..analysis.table import Table

            fits_by = {o: f["ablation"] for o, f in fits["fits"].items() if "ablation" in f}
            study_figures.ablation(fits_by, Table.read_csv(fits["loss_table"]), out_png, provenance=text)
        elif name == "curves":
            from ..analysis.table import Table

            study_figures.run_curves(Table.read_csv(fits["loss_table"]), out_png, provenance=text)
        else:
            study_figures.mask_ratio_study(fits["fits"]["mlm"]["mask_ratio"], out_png, provenance=text)
        return record([Path(out_png), Path(out_png).with_suffix(".svg")], provenance)


def record(outputs: list[Path], provenance: dict) -> dict:
    """The sidecar of outputs[0]: its provenance plus the sha256 of each output (`sha256` of the first, then
    `<suffix>_sha256`); every output and the sidecar are logged to the active MLflow run."""
    import mlflow

    main = outputs[0]
    side = {
        **provenance,
        "sha256": sha256_file(main),
        "file": main.name,
        **{f"{p.suffix.lstrip('.')}_sha256": sha256_file(p) for p in outputs[1:]},
    }
    with atomic_outputs(sidecar_path(main)) as (tmp,):
        write_json(tmp, side)
    for path in (*outputs, sidecar_path(main)):
        mlflow.log_artifact(str(path))
    return side
