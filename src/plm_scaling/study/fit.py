"""The fit step of a study: collect its runs, fit IsoFLOP and parametric laws, record it all as an MLflow run."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..analysis import isoflop, noise, tuning
from ..analysis.ablation import ablation_fit
from ..analysis.mask_ratio import mask_ratio_fit
from ..analysis.parametric import fit_parametric
from ..analysis.repeated import REPETITION_BUDGETS, repeated_fit, rising
from ..analysis.table import Table
from ..analysis.transfer_study import transfer_fit
from ..analysis.vpnls import fit_vpnls
from ..code_stages import code_revision, sha256_text, stage_hash
from ..digests import digest_tags
from ..io import atomic_outputs, sha256_file, write_json
from ..provenance.lineage import log_table_input, start_run
from ..sweep_point import SweepPoint
from ..tracking import absolute_uri
from .collect import collect
from .fit_tracking import log_step
from .fits_schema import check_fits
from .fits_table import write_fits_table
from .rounds import rounds_record
from .step_files import FitOutputs, StepInputs, Tracking
from .study_file import load_study
from .sweeps import grids


def _fit_objective(table, objective: str, runs: list[dict], bootstrap: int, seed: int, study: dict, paper) -> dict:
    """Interp IsoFLOP laws, or the profiles and the reason when no law can be fitted; parametric law if it can;
    the seed noise; in a tuning study, LR*(N) and the best β2 (the laws then use the recipe's cell); in a mask-ratio
    study, the best ratio; in a data-variant study, the ablation against the first
    variant; in a repeated-data study, the data-constrained law; in a transfer study, the transfer fits beside the
    authors' (`paper`: their loss table, or None) (the laws then use the common ratio's, the first variant's, the
    fresh-data or the scratch runs only). Pre-training runs of the other objective's transfer are left out."""
    mine = [r for r in runs if r["objective"] == objective and not SweepPoint.of(r).is_pretraining]
    diverged = [r for r in mine if r.get("diverged")]  # recorded (trainer.on_divergence=record): listed, not fitted
    mine = [r for r in mine if not r.get("diverged")]
    # sizes are compared among scratch runs at the recipe's cell (a tuning study's other cells are not other sizes)
    compared = lambda point: point.transfer is None and tuning.recipe_cell(point)  # noqa: E731
    out: dict = {"noise": noise.seed_noise(mine, compared=compared)}
    out |= {"diverged": [{"run": r["sweep_point"], "why": r["diverged"]} for r in diverged]} if diverged else {}
    if tuning.is_tuning(mine + diverged):
        out["tuning"] = tuning.tuning_fit(mine, objective, out["noise"]["pooled_sd"], seed, diverged)
        mine = [r for r in mine if tuning.at_recipe_cell(r)]
    if len({r.get("mask_ratio") for r in mine}) > 1:
        out["mask_ratio"] = mask_ratio_fit(mine, out["noise"]["pooled_sd"])
        mine = [r for r in mine if r["mask_ratio"] == r["common_mask_ratio"]]
    variants = _variant_order(study)
    if variants:
        out["ablation"] = ablation_fit(mine, variants)
        mine = [r for r in mine if SweepPoint.of(r).variant == variants[0]]
    if any(SweepPoint.of(r).unique_tokens is not None for r in mine):
        budgets = study.get("repetition_budgets", REPETITION_BUDGETS)
        sd, dof, rose = out["noise"]["pooled_sd"], out["noise"]["dof"], rising(table)
        out["repeated"] = repeated_fit(mine, sd, dof, budgets, min(bootstrap, 200), seed, left_out=rose)
        mine = [r for r in mine if SweepPoint.of(r).unique_tokens is None]
    if any(SweepPoint.of(r).is_transferred for r in mine):
        out["transfer"] = transfer_fit(table, mine, objective, out["noise"]["pooled_sd"], out["noise"]["dof"], paper)
        mine = [r for r in mine if SweepPoint.of(r).transfer is None]
    table = table.where(np.isin(table["run"], [r["sweep_point"] for r in mine]))
    if any("budgets" in g for g in grids(study)):  # IsoFLOP profiles need FLOP budgets, not token counts
        compute = study.get("compute", "paper")  # the FLOP count its budgets were met in
        try:
            out["isoflop"] = isoflop.fit(table, f"study-{objective}", bootstrap, seed, compute=compute)
        except ValueError as err:
            out["isoflop"] = {"error": str(err), **isoflop.profiles(table, f"study-{objective}", compute=compute)}
    try:
        out["parametric"] = fit_parametric(
            [r["n"] for r in mine],
            [r["tokens"] for r in mine],
            [r["final_val_loss"] for r in mine],
            bootstrap=min(bootstrap, 200),
        )
    except ValueError as err:
        out["parametric"] = {"error": str(err)}
    out["vpnls"] = _vpnls(mine, bootstrap, seed)
    return out


def _vpnls(runs: list[dict], bootstrap: int, seed: int) -> dict:
    """The parametric law by variable projection (analysis/vpnls.py) on the loss the IsoFLOP fit plots: on
    synthetic studies shaped like ours its N_opt exponent is unbiased and its interval the narrowest that covers
    (README "Fitting methods against known truth"); reported beside interp, which stays the study's first method."""
    try:
        n, d = ([r[k] for r in runs] for k in ("n", "tokens"))
        loss = [noise.final_loss(r) for r in runs]
        return fit_vpnls(n, d, loss, bootstrap=min(bootstrap, 200), seed=seed)
    except ValueError as err:
        return {"error": str(err)}


def _variant_order(study: dict) -> list[str]:
    """The data variants of a study in the order its grids name them (the first is the baseline); [] if none."""
    names = [v["name"] for g in grids(study) for v in g.get("data_variants", [])]
    return list(dict.fromkeys(names))


def fit_study(
    study: str,
    run_dirs: list[str | Path],
    inputs: StepInputs,
    outputs: FitOutputs,
    bootstrap: int = 1000,
    seed: int = 0,
    paper_table: str | Path | None = None,
    rounds: list[str | Path] = (),
) -> dict:
    """The fit step; `paper_table`: the authors' released logs as the paper stage's loss table, which a transfer
    study fits beside its own runs (its path and sha256 go into the fits JSON, for audit); `rounds`: the plans of
    an adaptive study's rounds (study/rounds.py), recorded with their sha256 for audit."""
    analyse = study_analysis(load_study(inputs.study_file).spec, paper_table, bootstrap, seed)
    extra = {"derivation": {"step": "fit", "bootstrap": bootstrap, "seed": seed}}
    if paper_table:
        extra["paper_table"] = {"path": str(Path(paper_table).resolve()), "sha256": sha256_file(paper_table)}
    if rounds:
        extra["rounds"] = rounds_record(rounds)
    return analysis_run("fit", study, run_dirs, inputs, outputs, analyse, extra)


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
    inputs: StepInputs,
    outputs: FitOutputs,
    analyse,
    extra: dict | None = None,
) -> dict:
    """An analysis step of a study as an MLflow run of its own: collect the runs, `analyse(table, runs)` them into
    per-objective fits, and write the fits JSON (with everything audit checks: runs, table digest, study file,
    data manifest, code; its shape checked against config/schemas/fits.schema.yaml), the loss table and the fits
    table."""
    import mlflow

    tracking = Tracking(absolute_uri(inputs.tracking.uri), inputs.tracking.experiment)  # audit opens it from anywhere
    # exactly these points (a runs folder may hold older ones); none when a check could plan nothing
    table, runs = collect(run_dirs, study) if run_dirs else (Table.from_rows([]), [])
    source_ids = [r["run_id"] for r in runs if r["run_id"]]
    tags = {"stage": name, "study": study, "source_run_ids": ",".join(source_ids)}
    with start_run(tracking.uri, tracking.experiment, name, tags) as run:
        digest = log_table_input(table, f"{study}-{name}-loss-table")
        # one BLAS thread: faster on thousands of tiny problems (fits.fit_all), and the same arithmetic as the
        # audit's re-derivation whatever the machine's core count
        with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fits = analyse(table, runs)
        result = {
            "study": study,
            "fit_run_id": run.info.run_id,
            "tracking_uri": tracking.uri,
            "experiment": tracking.experiment,
            "input_runs": runs,
            "table_digest": digest,
            **_recorded_files(inputs, outputs),
            "code": {**code_revision(), "train": stage_hash("train"), "analysis": stage_hash("analysis")},
            "warnings": sorted({str(w.message) for w in caught}),
            "fits": fits,
            **(extra or {}),
        }
        for message in result["warnings"]:  # the log says what the fit left out, as the JSON does
            print(f"warning: {message}", file=sys.stderr)
        check_fits(result, outputs.fits)  # the shape every reader of it checks too: refused before it is written
        with atomic_outputs(*outputs.paths()) as (tmp_json, tmp_table, tmp_summary):
            write_json(tmp_json, result)
            table.write_csv(tmp_table)
            write_fits_table(fits, tmp_summary)
        for path in outputs.paths():
            mlflow.log_artifact(str(path))
        mlflow.set_tags(digest_tags({p.name: p for p in outputs.paths()}))  # the hash chain (digests.py)
        log_step(name, study, fits, runs)  # exponents with intervals; the links to its training runs
    return result


def _recorded_files(inputs: StepInputs, outputs: FitOutputs) -> dict:
    """The files a fits JSON names for audit, by absolute path, with the sha256 of those the step read."""
    return {
        "loss_table": str(outputs.loss_table.resolve()),
        "fits_table": str(outputs.fits_table.resolve()),
        "workdir": str(Path.cwd()),  # where the run folders (input_runs' run_dir) were read from
        "study_file": str(inputs.study_file.resolve()),
        "config_hash": sha256_text(inputs.study_file.read_text()),
        "data_manifest": str(inputs.manifest.resolve()),
        "data_hash": sha256_file(inputs.manifest),
    }


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
