"""A study and a paper figure made by the real fit and figure steps from synthetic finished training runs, in a
fresh sqlite MLflow store: the audit tests' material (conftest.py builds it once for the package).

The training runs carry what train and evaluate leave (folders, tags, the data.manifest parameter, metrics,
artifacts, the sha256 tags of their files), on a copy of a real split (clean + split with MMseqs2) whose manifest
seals its shards' sha256; losses come from a known law, so the IsoFLOP fit has interior minima. The paper part logs
a slice of the authors' released logs as released runs and draws the paper's mask-ratio figure. Nothing is checked
in."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import yaml

from plm_scaling.analysis.parametric import predict
from plm_scaling.digests import CHECKPOINT, RUN_FILES, digest_tags
from plm_scaling.io import sha256_file, write_json
from plm_scaling.names import RECIPE

from ...conftest import PAPER_LOGS
from ...fixtures.make_runs import BUDGETS, LAW, sizes

# The law and sizes of tests/fixtures/make_runs.py: five sizes per budget from N_opt/4 to 4·N_opt, each budget with an
# interior minimum (15 runs: a parabola through 3 sizes leaves the residual bootstrap no residuals).
STUDY = {
    "description": "audit fixture",
    "dataset": "synthetic",
    "sweeps": [{"objectives": ["clm"], "sizes": sizes(c), "budgets": [c]} for c in BUDGETS],
    "seeds": [0],
    "overrides": [],  # point_overrides left to the schema's default, as a study file may
}
RELEASED = "mask_ratio_data/85M"  # 8 of the authors' curves: what the paper's mask-ratio figure draws


def _curve(n: float, c: float, rng) -> list[dict]:
    """curve.csv rows of a run of size n at budget c: 10 validations along its tokens, losses from LAW."""
    rows = []
    for i, frac in enumerate(np.linspace(0.1, 1.0, 10)):
        tokens = int(frac * c / (6 * n))
        loss = float(predict(LAW, n, tokens)) + float(rng.normal(0, 0.002))
        rows.append({"step": i + 1, "tokens": tokens, "flops": 6 * n * tokens, "flops_full": 7 * n * tokens})
        rows[-1]["val_loss"] = loss
    return rows


def _log_training_run(
    client, experiment_id: str, run_dir: Path, point: tuple, manifest: Path, rng, recipe: dict | None = None
) -> None:
    """A finished run as train and evaluate leave it: its folder (run.json, curve.csv, final.ckpt, metrics.json) and
    its MLflow run (the tags mlflow_run.logger sets, the data.manifest parameter, val_loss against tokens,
    final_val_loss, eval/valid_loss, artifacts, and the sha256 tags train and evaluate log of their files)."""
    from mlflow.entities import Metric, Param

    from plm_scaling.code_stages import code_revision, stage_hash

    point_id, n, c = point
    curve = _curve(n, c, rng)
    rev = code_revision()
    tags = {"objective": "clm", "N": str(int(n)), "C": f"{c:.6g}", "D": str(curve[-1]["tokens"])}
    tags |= {"sweep_point": point_id, "code_revision": rev["revision"], "code_dirty": str(rev["dirty"])}
    tags |= {"code_hash": stage_hash("train"), "data_manifest_sha256": sha256_file(manifest)}
    run = client.create_run(experiment_id, run_name=point_id, tags=tags)
    run_id, now = run.info.run_id, int(time.time() * 1000)
    done = {"run_id": run_id, "sweep_point": point_id, "objective": "clm", "n": int(n), "flops": c}
    done |= {"tokens": curve[-1]["tokens"], "final_val_loss": curve[-1]["val_loss"], "steps": 10, "steps_done": 10}
    done |= {"recipe": recipe} if recipe else {}  # the tuned recipe it trained with (training/tuned.py)
    metrics = {k: done[k] for k in ("run_id", "sweep_point", "objective", "n", "flops", "tokens", "final_val_loss")}
    metrics["valid_loss"] = curve[-1]["val_loss"] + float(rng.normal(0, 0.001))  # the full split: another estimate
    run_dir.mkdir(parents=True)
    (run_dir / "final.ckpt").write_bytes(rng.bytes(256))  # audit hashes it, nothing loads it
    write_json(run_dir / "run.json", done)
    write_json(run_dir / "metrics.json", metrics)
    lines = ["step,tokens,flops,flops_full,val_loss", *(",".join(str(r[k]) for k in r) for r in curve)]
    (run_dir / "curve.csv").write_text("\n".join(lines) + "\n")
    logged = [Metric("val_loss", r["val_loss"], now, r["tokens"]) for r in curve]
    logged += [Metric("final_val_loss", done["final_val_loss"], now, done["tokens"])]
    logged += [Metric("eval/valid_loss", metrics["valid_loss"], now, 0)]
    params = [Param("data.manifest", str(manifest))]
    client.log_batch(run_id, metrics=logged, params=params)  # one commit: each is an fsync of the sqlite store
    client.log_artifact(run_id, str(run_dir / "metrics.json"))
    for key, value in digest_tags({name: run_dir / name for name in (*RUN_FILES, CHECKPOINT)}).items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id, "FINISHED")


def paper_figure(root: Path, uri: str) -> tuple[Path, Path]:
    """The released slice as runs of the paper experiment (track_released), the paper stage's fit run (fit_paper,
    with fit_all's fits left out by the `made` fixture: that needs every released folder, and this figure is drawn
    from the curves alone) and its mask-ratio figure: (figure, the slice's tidy loss table)."""
    from plm_scaling.analysis.logs import ingest
    from plm_scaling.study.paper_stage import fit_paper, paper_output, track_released
    from plm_scaling.tracking import ensure_experiment

    released = root / "released"
    shutil.copytree(PAPER_LOGS / RELEASED, released / RELEASED)
    paper = root / "results" / "paper"
    paper.mkdir(parents=True)
    table = ingest(released)
    table.write_csv(paper / "loss_table.csv")
    ensure_experiment(uri, "plm-scaling/paper")
    track_released(released, paper / "loss_table.csv", uri, "plm-scaling/paper", paper / "released_runs.json")
    fit_paper(paper / "loss_table.csv", paper / "released_runs.json", paper / "fits.json", bootstrap=5, seed=0)
    figure = paper / "figures" / "mask_ratio.png"
    figure.parent.mkdir()
    paper_output("mask_ratio", paper / "loss_table.csv", paper / "fits.json", figure)
    return figure, paper / "loss_table.csv"


def _tuned_recipe(root: Path, client, experiment_id: str) -> dict:
    """A tuning study's recipe file and the fit run it names, as a run that trained with it records them."""
    from plm_scaling.training.tuned import read

    fit = client.create_run(experiment_id, run_name="fit", tags={"stage": "fit", "study": "tuning"})
    client.set_terminated(fit.info.run_id, "FINISHED")
    path = root / RECIPE.format("tuning")
    path.parent.mkdir(parents=True)
    entry = {"lr": {"coef": 0.3, "exponent": -0.4}, "beta2": 0.99}
    write_json(path, {"study": "tuning", "fit_run_id": fit.info.run_id, "objectives": {"clm": entry}, "runs": []})
    return read(RECIPE.format("tuning"), "clm")  # as a study names it (optim.recipe), from the working directory


def study_figure(root: Path, uri: str, paper_table: Path, split: Path) -> tuple[Path, Path]:
    """The study's runs (on a copy of a real split: clean + split with MMseqs2, its manifest sealed with its shards'
    sha256), its fit (the study stage's fit_study, the authors' table fitted beside) and its IsoFLOP and curves
    figures (study_figure): (IsoFLOP figure, data manifest)."""
    from mlflow import MlflowClient

    from plm_scaling.study import fit as fit_module
    from plm_scaling.study.figure import study_figure
    from plm_scaling.study.step_files import FitOutputs, StepInputs
    from plm_scaling.study.sweeps import expand
    from plm_scaling.sweep_point import SweepPoint
    from plm_scaling.tracking import ensure_experiment

    study_file, manifest = root / "audit.yaml", root / "data" / "split" / "manifest.json"
    study_file.write_text(yaml.safe_dump(STUDY))
    shutil.copytree(split, manifest.parent)
    client, experiment_id = MlflowClient(tracking_uri=uri), ensure_experiment(uri, "plm-scaling")
    studies = root / "results" / "studies" / "audit"
    rng = np.random.default_rng(0)
    points = [
        (SweepPoint("clm", n, 0, flops=c).id, n, c) for g in STUDY["sweeps"] for n in g["sizes"] for c in g["budgets"]
    ]
    assert sorted(p[0] for p in points) == sorted(
        expand({**STUDY, "point_overrides": {}})
    )  # named as the study names its points
    recipe = _tuned_recipe(root, client, experiment_id)
    for i, point in enumerate(points):
        used = recipe if i == 0 else None  # one run trained with a tuned recipe: audit shows the link
        _log_training_run(client, experiment_id, studies / "runs" / point[0], point, manifest, rng, used)
    fits = studies / "fits.json"
    outputs = FitOutputs.of(fits, studies / "loss_table.csv", studies / "fits_table.csv")
    run_dirs = [studies / "runs" / p[0] for p in points]
    inputs = StepInputs.of(study_file, manifest, uri, "plm-scaling/analysis")
    fit_module.fit_study("audit", run_dirs, inputs, outputs, 5, 0, paper_table)
    figure = studies / "figures" / "isoflop.png"
    study_figure("isoflop", fits, figure)
    study_figure("curves", fits, figure.with_name("curves.png"))
    return figure, manifest
