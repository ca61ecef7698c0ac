"""The fit step of a study: collect its runs, fit IsoFLOP and parametric laws, record it all as an MLflow run."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..analysis import isoflop, noise
from ..analysis.ablation import ablation_fit, variant_of
from ..analysis.mask_ratio import mask_ratio_fit
from ..analysis.parametric import fit_parametric
from ..analysis.repeated import REPETITION_BUDGETS, fresh_point, repeated_fit, rising
from ..analysis.table import Table
from ..analysis.transfer_runs import transfer_fit, transfer_part
from ..digests import digest_tags
from ..io import atomic_outputs, sha256_file, write_json
from ..tracking import absolute_uri
from .collect import collect
from .lineage import code_revision, log_table_input, sha256_text, stage_hash, start_run
from .summary import write_fits_table
from .sweeps import grids


def _fit_objective(table, objective: str, runs: list[dict], bootstrap: int, seed: int, study: dict, paper) -> dict:
    """Interp IsoFLOP laws, or the profiles and the reason when no law can be fitted; parametric law if it can;
    the seed noise; in a mask-ratio study, the best ratio; in a data-variant study, the ablation against the first
    variant; in a repeated-data study, the data-constrained law; in a transfer study, the transfer fits beside the
    authors' (`paper`: their loss table, or None) (the laws then use the common ratio's, the first variant's, the
    fresh-data or the scratch runs only). Pre-training runs of the other objective's transfer are left out."""
    mine = [r for r in runs if r["objective"] == objective and transfer_part(r["sweep_point"])[0] != "pre"]
    out: dict = {"noise": noise.seed_noise(mine, compared=lambda point: transfer_part(point)[0] is None)}
    if len({r.get("mask_ratio") for r in mine}) > 1:
        out["mask_ratio"] = mask_ratio_fit(mine, out["noise"]["pooled_sd"])
        mine = [r for r in mine if r["mask_ratio"] == r["common_mask_ratio"]]
    variants = _variant_order(study)
    if variants:
        out["ablation"] = ablation_fit(mine, variants)
        mine = [r for r in mine if variant_of(r["sweep_point"]) == variants[0]]
    if any(fresh_point(r["sweep_point"]) != r["sweep_point"] for r in mine):
        budgets = study.get("repetition_budgets", REPETITION_BUDGETS)
        sd, dof, rose = out["noise"]["pooled_sd"], out["noise"]["dof"], rising(table)
        out["repeated"] = repeated_fit(mine, sd, dof, budgets, min(bootstrap, 200), seed, left_out=rose)
        mine = [r for r in mine if fresh_point(r["sweep_point"]) == r["sweep_point"]]
    if any(transfer_part(r["sweep_point"])[0] for r in mine):
        out["transfer"] = transfer_fit(table, mine, objective, out["noise"]["pooled_sd"], out["noise"]["dof"], paper)
        mine = [r for r in mine if transfer_part(r["sweep_point"])[0] is None]
    table = table.where(np.isin(table["run"], [r["sweep_point"] for r in mine]))
    if any("budgets" in g for g in grids(study)):  # IsoFLOP profiles need FLOP budgets, not token counts
        try:
            out["isoflop"] = isoflop.fit(table, f"study-{objective}", bootstrap=bootstrap, seed=seed)
        except ValueError as err:
            out["isoflop"] = {"error": str(err), **isoflop.profiles(table, f"study-{objective}")}
    try:
        out["parametric"] = fit_parametric(
            [r["n"] for r in mine],
            [r["tokens"] for r in mine],
            [r["final_val_loss"] for r in mine],
            bootstrap=min(bootstrap, 200),
        )
    except ValueError as err:
        out["parametric"] = {"error": str(err)}
    return out


def _variant_order(study: dict) -> list[str]:
    """The data variants of a study in the order its grids name them (the first is the baseline); [] if none."""
    names = [v["name"] for g in grids(study) for v in g.get("data_variants", [])]
    return list(dict.fromkeys(names))


def fit_study(
    study: str,
    run_dirs: list[str | Path],
    study_file: str | Path,
    manifest: str | Path,
    tracking_uri: str,
    experiment: str,
    out_json: str | Path,
    out_table: str | Path,
    out_summary: str | Path,
    bootstrap: int = 1000,
    seed: int = 0,
    paper_table: str | Path | None = None,
) -> dict:
    """The fit step; `paper_table`: the authors' released logs as the paper stage's loss table, which a transfer
    study fits beside its own runs (its path and sha256 go into the fits JSON, for audit)."""
    import yaml

    analyse = study_analysis(yaml.safe_load(Path(study_file).read_text()), paper_table, bootstrap, seed)
    where = (study_file, manifest, tracking_uri, experiment)
    outputs = (out_json, out_table, out_summary)
    extra = {"derivation": {"step": "fit", "bootstrap": bootstrap, "seed": seed}}
    if paper_table:
        extra["paper_table"] = {"path": str(Path(paper_table).resolve()), "sha256": sha256_file(paper_table)}
    return analysis_run("fit", study, run_dirs, *where, outputs, analyse, extra)


def study_analysis(spec: dict, paper_table: str | Path | None, bootstrap: int, seed: int):
    """`analyse(table, runs) -> fits per objective` of a study's fit step; audit --recompute calls it again with the
    settings the fits JSON recorded."""
    paper = Table.read_csv(paper_table) if paper_table else None

    def analyse(table, runs):
        objectives = sorted(set(table["objective"]))
        return {o: _fit_objective(table.select(objective=o), o, runs, bootstrap, seed, spec, paper) for o in objectives}

    return analyse


def analysis_run(
    name: str,
    study: str,
    run_dirs: list[str | Path],
    study_file: str | Path,
    manifest: str | Path,
    tracking_uri: str,
    experiment: str,
    outputs: tuple,
    analyse,
    extra: dict | None = None,
) -> dict:
    """An analysis step of a study as an MLflow run of its own: collect the runs, `analyse(table, runs)` them into
    per-objective fits, and write the fits JSON (with everything audit checks: runs, table digest, study file,
    data manifest, code), the loss table and the fits table (outputs, in that order)."""
    import mlflow

    tracking_uri = absolute_uri(tracking_uri)  # recorded in the JSON: audit opens it from any folder
    # exactly these points (a runs folder may hold older ones); none when a check could plan nothing
    table, runs = collect(run_dirs, study) if run_dirs else (Table.from_rows([]), [])
    source_ids = [r["run_id"] for r in runs if r["run_id"]]
    tags = {"stage": name, "study": study, "source_run_ids": ",".join(source_ids)}
    with start_run(tracking_uri, experiment, name, tags) as run:
        digest = log_table_input(table, f"{study}-{name}-loss-table")
        # one BLAS thread: faster on thousands of tiny problems (fits.fit_all), and the same arithmetic as the
        # audit's re-derivation whatever the machine's core count
        with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fits = analyse(table, runs)
        result = {
            "study": study,
            "fit_run_id": run.info.run_id,
            "tracking_uri": tracking_uri,
            "experiment": experiment,
            "input_runs": runs,
            "table_digest": digest,
            "loss_table": str(Path(outputs[1]).resolve()),
            "fits_table": str(Path(outputs[2]).resolve()),
            "workdir": str(Path.cwd()),  # where the run folders (input_runs' run_dir) were read from
            "study_file": str(Path(study_file).resolve()),
            "config_hash": sha256_text(Path(study_file).read_text()),
            "data_manifest": str(Path(manifest).resolve()),
            "data_hash": sha256_file(manifest),
            "code": {**code_revision(), "train": stage_hash("train"), "analysis": stage_hash("analysis")},
            "warnings": sorted({str(w.message) for w in caught}),
            "fits": fits,
            **(extra or {}),
        }
        for message in result["warnings"]:  # the log says what the fit left out, as the JSON does
            print(f"warning: {message}", file=sys.stderr)
        with atomic_outputs(*outputs) as (tmp_json, tmp_table, tmp_summary):
            write_json(tmp_json, result)
            table.write_csv(tmp_table)
            write_fits_table(fits, tmp_summary)
        for path in outputs:
            mlflow.log_artifact(str(path))
        mlflow.set_tags(digest_tags({Path(p).name: p for p in outputs}))  # the hash chain (digests.py)
        _log_exponents(fits)
    return result


def _log_exponents(fits: dict) -> None:
    """The fitted N_opt and D_opt exponents as metrics of the active run (comparable across fits in MLflow)."""
    import mlflow

    for o, f in fits.items():
        for key in ("n_opt", "d_opt"):
            if key in f.get("isoflop", {}):
                mlflow.log_metric(f"{o}_{key}_exponent", f["isoflop"][key]["exponent"])


def exponent_table(fits: dict) -> list[list[str]]:
    rows = []
    for o, f in fits["fits"].items():
        iso = f.get("isoflop", {"error": "no IsoFLOP fit in this step"})
        for key in ("n_opt", "d_opt"):
            if key in iso:
                lo, hi = iso[key]["ci95"] or (np.nan, np.nan)
                rows.append([o, key, f"{iso[key]['exponent']:.3f}", f"[{lo:.3f}, {hi:.3f}]"])
            else:
                rows.append([o, key, "", iso.get("error", "")])
    return rows
