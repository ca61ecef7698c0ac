"""`plm-scaling audit` on figures made by the real fit and figure steps from a fresh MLflow store: one tampering per
message, each seen as exactly that message (and exit 1), then undone and audited clean again.

The fixture logs synthetic finished training runs (the tags, metrics and artifacts training and evaluate write;
losses from a known law, so the IsoFLOP fit has interior minima) into a sqlite store under tmp_path, runs the
study's fit (beside a slice of the authors' released logs as their loss table) and draws its IsoFLOP figure; and
it logs that slice as released runs and draws the paper's mask-ratio figure from them. Nothing is checked in."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from plm_scaling.analysis.parametric import predict
from plm_scaling.io import sha256_file, write_json
from plm_scaling.study.audit import audit
from plm_scaling.study.figure import sidecar_path

from .conftest import PAPER_LOGS

LAW = {"E": 1.8, "A": 400.0, "B": 1200.0, "alpha": 0.34, "beta": 0.28}
STUDY = {
    "description": "audit fixture",
    "dataset": "synthetic",
    "objectives": ["clm"],
    "sizes": [4e6, 1e7, 2.5e7, 6e7, 1.5e8, 4e8],  # around the law's optima at these budgets (1.4e7 .. 1.1e8)
    "budgets": [1e18, 1e19, 1e20],
    "seeds": [0],
    "overrides": [],
    "point_overrides": {},
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


def _log_training_run(client, experiment_id: str, run_dir: Path, point: tuple, manifest: Path, rng) -> None:
    """A finished run as train and evaluate leave it: its folder (run.json, curve.csv, metrics.json) and its MLflow
    run (the tags mlflow_run.logger sets, val_loss against tokens, final_val_loss, eval/valid_loss, artifacts)."""
    from mlflow.entities import Metric

    from plm_scaling.study.lineage import code_revision, stage_hash

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
    metrics = {k: done[k] for k in ("run_id", "sweep_point", "objective", "n", "flops", "tokens", "final_val_loss")}
    metrics["valid_loss"] = curve[-1]["val_loss"] + float(rng.normal(0, 0.001))  # the full split: another estimate
    run_dir.mkdir(parents=True)
    write_json(run_dir / "run.json", done)
    write_json(run_dir / "metrics.json", metrics)
    lines = ["step,tokens,flops,flops_full,val_loss", *(",".join(str(r[k]) for k in r) for r in curve)]
    (run_dir / "curve.csv").write_text("\n".join(lines) + "\n")
    logged = [Metric("val_loss", r["val_loss"], now, r["tokens"]) for r in curve]
    logged += [Metric("final_val_loss", done["final_val_loss"], now, done["tokens"])]
    logged += [Metric("eval/valid_loss", metrics["valid_loss"], now, 0)]
    client.log_batch(run_id, metrics=logged)  # one commit: each is an fsync of the sqlite store
    client.log_artifact(run_id, str(run_dir / "metrics.json"))
    client.set_terminated(run_id, "FINISHED")


def _paper_figure(root: Path, uri: str) -> tuple[Path, Path]:
    """The released slice as runs of the paper experiment (track_released), a fit run recording its table (as
    fit_paper does, without fit_all's fits: this figure is drawn from the curves alone), and the paper stage's
    mask-ratio figure: (figure, the slice's tidy loss table)."""
    from plm_scaling.analysis.logs import ingest
    from plm_scaling.study.lineage import log_table_input, start_run
    from plm_scaling.study.paper import paper_output, track_released
    from plm_scaling.tracking import ensure_experiment

    released = root / "released"
    shutil.copytree(PAPER_LOGS / RELEASED, released / RELEASED)
    paper = root / "results" / "paper"
    paper.mkdir(parents=True)
    table = ingest(released)
    table.write_csv(paper / "loss_table.csv")
    ensure_experiment(uri, "plm-scaling/paper")
    track_released(released, paper / "loss_table.csv", uri, "plm-scaling/paper", paper / "released_runs.json")
    with start_run(uri, "plm-scaling/paper", "fit", {"stage": "fit"}) as run:
        digest = log_table_input(table, "paper-loss-table")
        provenance = {"fit_run_id": run.info.run_id, "table_digest": digest}
        write_json(
            paper / "fits.json", {"provenance": {**provenance, "released_runs": str(paper / "released_runs.json")}}
        )
    figure = paper / "figures" / "mask_ratio.png"
    figure.parent.mkdir()
    paper_output("mask_ratio", paper / "loss_table.csv", paper / "fits.json", figure)
    return figure, paper / "loss_table.csv"


def _study_figure(root: Path, uri: str, paper_table: Path) -> tuple[Path, Path]:
    """The study's runs, its fit (the study stage's fit_study, the authors' table fitted beside) and its IsoFLOP
    figure (study_figure): (figure, data manifest)."""
    from mlflow import MlflowClient

    from plm_scaling.study import fit as fit_module
    from plm_scaling.study.figure import study_figure
    from plm_scaling.study.sweeps import expand, point_id
    from plm_scaling.tracking import ensure_experiment

    study_file, manifest = root / "audit.yaml", root / "data" / "manifest.json"
    study_file.write_text(yaml.safe_dump(STUDY))
    manifest.parent.mkdir()
    write_json(manifest, {"dataset": "synthetic", "splits": {}})
    client, experiment_id = MlflowClient(tracking_uri=uri), ensure_experiment(uri, "plm-scaling")
    studies = root / "results" / "studies" / "audit"
    rng = np.random.default_rng(0)
    points = [(point_id("clm", n, c, 0), n, c) for n in STUDY["sizes"] for c in STUDY["budgets"]]
    assert sorted(p[0] for p in points) == sorted(expand(STUDY))  # named as the study names its points
    for point in points:
        _log_training_run(client, experiment_id, studies / "runs" / point[0], point, manifest, rng)
    fits = studies / "fits.json"
    outputs = (fits, studies / "loss_table.csv", studies / "fits_table.csv")
    run_dirs = [studies / "runs" / p[0] for p in points]
    with pytest.MonkeyPatch.context() as patch:  # the fit's parametric law from 2 L-BFGS starts, not 32 (seconds,
        # not a minute; neither the figure nor the audit reads that law)
        patch.setattr(fit_module, "fit_parametric", functools.partial(fit_module.fit_parametric, starts=2))
        fit_module.fit_study(
            "audit", run_dirs, study_file, manifest, uri, "plm-scaling/analysis", *outputs, 5, 0, paper_table
        )
    figure = studies / "figures" / "isoflop.png"
    study_figure("isoflop", fits, figure)
    return figure, manifest


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Both figures and what they were made from, in one fresh store."""
    root = tmp_path_factory.mktemp("audit")
    uri = f"sqlite:///{root}/mlflow.db"
    paper_figure, paper_table = _paper_figure(root, uri)
    figure, manifest = _study_figure(root, uri, paper_table)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    side = json.loads(sidecar_path(figure).read_text())
    return SimpleNamespace(
        figure=figure, side=side, manifest=manifest, paper_table=paper_table, client=client, paper=paper_figure
    )


@contextlib.contextmanager
def changed_bytes(path: Path, new: bytes):
    """`path` holds `new` inside the block; its bytes are put back after it."""
    old = path.read_bytes()
    path.write_bytes(new)
    try:
        yield
    finally:
        path.write_bytes(old)


def _audits_to(capsys, figure: Path, problems: list[str]) -> None:
    """`plm-scaling audit FIGURE` (in this process) reports exactly `problems`, and exits 1 on them (0 on none)."""
    from plm_scaling.cli import main

    capsys.readouterr()
    code, out = main(["audit", str(figure)]), capsys.readouterr().out
    assert [line.removeprefix("FAIL: ") for line in out.splitlines() if line.startswith("FAIL: ")] == problems, out
    assert code == (1 if problems else 0) and ("OK: figure, runs" in out) == (not problems)


def test_the_untouched_figures_audit_clean(made, capsys):
    lines, problems = audit(made.figure)
    assert problems == [] and len(made.side["input_runs"]) == len(STUDY["sizes"]) * len(STUDY["budgets"])
    assert any("authors' loss table" in line for line in lines)  # the transfer fit's table is part of the lineage
    fits = json.loads((made.figure.parents[1] / "fits.json").read_text())
    assert fits["fits"]["clm"]["isoflop"]["n_budgets"] == 3  # a real IsoFLOP fit: the figure draws its laws
    _audits_to(capsys, made.figure, [])
    _audits_to(capsys, made.paper, [])


def test_embedded_provenance_that_differs_from_the_sidecar(made, capsys):
    side = sidecar_path(made.figure)
    edited = {**made.side, "experiment": "another"}  # read by nothing else: only the comparison can see it
    with changed_bytes(side, json.dumps(edited).encode()):
        _audits_to(capsys, made.figure, ["isoflop.png: embedded provenance is missing or differs from the sidecar"])
    _audits_to(capsys, made.figure, [])


def test_an_input_run_that_is_not_finished(made, capsys):
    run = made.side["input_runs"][2]
    made.client.set_terminated(run["run_id"], "FAILED")
    try:
        _audits_to(capsys, made.figure, [f"input run {run['run_id']} ({run['sweep_point']}) is FAILED"])
    finally:
        made.client.set_terminated(run["run_id"], "FINISHED")
    _audits_to(capsys, made.figure, [])


@pytest.mark.parametrize("metric, key", [("eval/valid_loss", "valid_loss"), ("final_val_loss", "final_val_loss")])
def test_an_input_run_whose_loss_changed_in_mlflow(made, capsys, metric, key):
    run = made.side["input_runs"][4]
    was, step, now = run[key], run["tokens"] if metric == "final_val_loss" else 0, int(time.time() * 1000)
    made.client.log_metric(run["run_id"], metric, was + 0.01, timestamp=now, step=step)  # the latest value now
    try:
        expected = f"input run {run['run_id']} ({run['sweep_point']}) changed: {metric} {was:.6f} -> {was + 0.01}"
        _audits_to(capsys, made.figure, [expected])
    finally:
        made.client.log_metric(run["run_id"], metric, was, timestamp=now + 1, step=step)
    _audits_to(capsys, made.figure, [])


def test_a_stale_data_manifest(made, capsys):
    with changed_bytes(made.manifest, made.manifest.read_bytes() + b" "):
        _audits_to(capsys, made.figure, [f"stale: data manifest {made.manifest} changed since the figure was made"])
    _audits_to(capsys, made.figure, [])


def test_figure_bytes_that_differ_from_the_logged_artifact(made, capsys):
    from urllib.parse import unquote, urlparse

    producer = made.side["producing_run_id"]
    root = Path(unquote(urlparse(made.client.get_run(producer).info.artifact_uri).path))  # file:// beside the db
    logged = root / "isoflop.png"
    with changed_bytes(logged, logged.read_bytes() + b"tampered"):
        _audits_to(capsys, made.figure, [f"isoflop.png: bytes differ from the artifact logged by run {producer}"])
    _audits_to(capsys, made.figure, [])


def test_the_authors_loss_table_changed(made, capsys):
    with changed_bytes(made.paper_table, made.paper_table.read_bytes() + b"\n"):
        expected = f"stale: the authors' loss table {made.paper_table} changed since the figure was made"
        _audits_to(capsys, made.figure, [expected])
    _audits_to(capsys, made.figure, [])


def test_a_released_run_that_records_another_sha256(made, capsys):
    side = json.loads(sidecar_path(made.paper).read_text())
    run = side["released_runs"][3]
    assert len(side["released_runs"]) == 8 and run["source"].startswith(RELEASED)
    made.client.set_tag(run["run_id"], "sha256", "0" * 64)
    try:
        expected = f"released run {run['run_id']} ({run['source']}) records another sha256"
        _audits_to(capsys, made.paper, [expected])
    finally:
        made.client.set_tag(run["run_id"], "sha256", run["sha256"])
    _audits_to(capsys, made.paper, [])
