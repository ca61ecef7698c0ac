"""The figure step of a study: an MLflow run of its own that draws the figure with its provenance inside, writes a
sidecar JSON (with the figure's sha256) and logs all three files as artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..digests import read_inputs
from ..io import atomic_outputs, sha256_file, write_json
from ..names import SIDECAR
from ..names import STUDY_FIGURES as FIGURES
from ..plotting import study_figures
from ..plotting.extrapolation import extrapolation
from ..plotting.isoflop import isoflop
from ..plotting.repeated import repeated
from ..plotting.transfer import transfer_study
from ..plotting.tuning import tuning_study
from ..provenance.lineage import start_run
from ..sweep_point import SweepPoint
from .fits_schema import parse_fits, read_fits


def sidecar_path(figure: str | Path) -> Path:
    return Path(f"{figure}{SIDECAR}")


def figure_location(path: str | Path, depth: int = 4) -> str:
    """The figure's last `depth` path parts (studies/NAME/figures/FILE): where it belongs, whatever the checkout."""
    return "/".join(Path(path).resolve().parts[-depth:])


def _diverged(run: dict) -> dict:
    return {"diverged": run["diverged"]} if run.get("diverged") else {}


def _provenance(name: str, fits: dict, run_id: str, out_png: str | Path, inputs: dict) -> dict:
    """What a study figure was made from: its run, the fit run, every input run with both losses, hashes."""
    # valid_loss: the full validation split (evaluate), the loss the figures plot; final_val_loss: the training-time
    # validation windows
    keys = ("run_id", "sweep_point", "objective", "n", "flops", "valid_loss", "final_val_loss")
    keys += ("valid_loss_common_data",)  # a data variant on the study dataset's held-out set (the ablation's loss)
    keys += ("tokens", "unique_tokens")  # D and U: a repeated-data run's epochs
    keys += ("init",)  # the run a transferred run started from: its point, MLflow run, checkpoint sha256, compute
    keys += ("recipe",)  # the tuned recipe it trained with: file, sha256, tuning study and fit run
    return {
        "figure": name,
        "study": fits["study"],
        "producing_run_id": run_id,
        "fit_run_id": fits["fit_run_id"],
        "tracking_uri": fits["tracking_uri"],
        "experiment": fits["experiment"],
        "location": figure_location(out_png),
        "inputs": inputs,  # the fits JSON and loss table it was drawn from, with their sha256
        # a run recorded as diverged (trainer.on_divergence=record) says so: audit then expects its MLflow run FAILED
        "input_runs": [{k: r.get(k) for k in keys} | _diverged(r) for r in fits["input_runs"]],
        **{k: fits[k] for k in ("table_digest", "config_hash", "study_file", "data_hash", "data_manifest", "code")},
        **({"planned_from": fits["planned_from"]} if "planned_from" in fits else {}),  # the extrapolation check
        **({"paper_table": fits["paper_table"]} if "paper_table" in fits else {}),  # the authors' logs, fitted beside
    }


def draw(name: str, fits: dict, table, out_png: str | Path, text: str) -> None:
    """One study figure from a fits JSON's content and its loss table (a Table), provenance text inside."""
    per_objective = fits["fits"]
    if name == "isoflop":
        laws = {o: f["isoflop"] for o, f in per_objective.items()}
        noise = {o: f.get("noise") for o, f in per_objective.items()}
        rounds = {point: r["round"] for r in fits.get("rounds", []) for point in r["points"]}
        isoflop(laws, out_png, provenance=text, paper=False, noise=noise, rounds=rounds)
    elif name == "ablation":
        fits_by = {o: f["ablation"] for o, f in per_objective.items() if "ablation" in f}
        study_figures.ablation(fits_by, table, out_png, provenance=text)
    elif name == "repeated":
        fit = next(f["repeated"] for f in per_objective.values() if "repeated" in f)
        repeated(fit, table, fits["input_runs"], out_png, provenance=text)
    elif name == "transfer":
        transfer_study(per_objective, table, out_png, provenance=text)
    elif name == "extrapolation":
        extrapolation({o: f["extrapolation"] for o, f in per_objective.items()}, out_png, provenance=text)
    elif name == "tuning":
        tuning_study(per_objective, out_png, provenance=text)
    elif name == "curves":  # the IsoFLOP points' runs; a transfer study's own runs are in its figure
        scratch = np.array([SweepPoint.parse(str(run)).transfer is None for run in table["run"]])
        compute = next((f["isoflop"].get("compute") for f in per_objective.values() if "isoflop" in f), None)
        study_figures.run_curves(table.where(scratch), out_png, provenance=text, compute=compute or "paper")
    else:
        study_figures.mask_ratio_study(per_objective["mlm"]["mask_ratio"], out_png, provenance=text)


def study_figure(name: str, fits_json: str | Path, out_png: str | Path) -> dict:
    """Draw one of FIGURES inside an MLflow run of its own, with its provenance inside the file and in a sidecar."""
    if name not in FIGURES:
        raise ValueError(f"unknown study figure {name!r} ({', '.join(FIGURES)})")
    from ..analysis.table import Table

    loss_table = read_fits(fits_json)["loss_table"]
    raw, digests = read_inputs(**{"fits.json": fits_json, "loss_table.csv": loss_table})
    fits, table = parse_fits(raw["fits.json"], fits_json), Table.read_text(raw["loss_table.csv"].decode(), loss_table)
    inputs = [r["run_id"] for r in fits["input_runs"] if r["run_id"]]
    tags = {"stage": "figure", "study": fits["study"], "figure": name, "fit_run_id": fits["fit_run_id"]}
    with start_run(
        fits["tracking_uri"], fits["experiment"], f"figure:{name}", {**tags, "input_run_ids": ",".join(inputs)}
    ) as run:
        provenance = _provenance(name, fits, run.info.run_id, out_png, digests)
        draw(name, fits, table, out_png, json.dumps(provenance, sort_keys=True))
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
