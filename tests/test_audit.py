"""`plm-scaling audit` on figures made by the real fit and figure steps from a fresh MLflow store: one tampering per
message, each seen as exactly that message (and exit 1), then undone and audited clean again.

The fixture logs synthetic finished training runs (the tags, metrics and artifacts training and evaluate write;
losses from a known law, so the IsoFLOP fit has interior minima) into a sqlite store under tmp_path, runs the
study's fit (beside a slice of the authors' released logs as their loss table) and draws its IsoFLOP figure; and
it logs that slice as released runs and draws the paper's mask-ratio figure from them. Nothing is checked in."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from plm_scaling.analysis.parametric import predict
from plm_scaling.digests import CHECKPOINT, RUN_FILES, digest_tags
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
    """A finished run as train and evaluate leave it: its folder (config.yaml naming its data, run.json, curve.csv,
    final.ckpt, metrics.json) and its MLflow run (the tags mlflow_run.logger sets, val_loss against tokens,
    final_val_loss, eval/valid_loss, artifacts, and the sha256 tags train and evaluate log of their files)."""
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
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"data": {"manifest": str(manifest)}}))
    (run_dir / "final.ckpt").write_bytes(rng.bytes(256))  # audit hashes it, nothing loads it
    write_json(run_dir / "run.json", done)
    write_json(run_dir / "metrics.json", metrics)
    lines = ["step,tokens,flops,flops_full,val_loss", *(",".join(str(r[k]) for k in r) for r in curve)]
    (run_dir / "curve.csv").write_text("\n".join(lines) + "\n")
    logged = [Metric("val_loss", r["val_loss"], now, r["tokens"]) for r in curve]
    logged += [Metric("final_val_loss", done["final_val_loss"], now, done["tokens"])]
    logged += [Metric("eval/valid_loss", metrics["valid_loss"], now, 0)]
    client.log_batch(run_id, metrics=logged)  # one commit: each is an fsync of the sqlite store
    client.log_artifact(run_id, str(run_dir / "metrics.json"))
    for key, value in digest_tags({name: run_dir / name for name in (*RUN_FILES, CHECKPOINT)}).items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id, "FINISHED")


def _paper_figure(root: Path, uri: str) -> tuple[Path, Path]:
    """The released slice as runs of the paper experiment (track_released), the paper stage's fit run (fit_paper,
    with fit_all's fits left out by the `made` fixture: that needs every released folder, and this figure is drawn
    from the curves alone) and its mask-ratio figure: (figure, the slice's tidy loss table)."""
    from plm_scaling.analysis.logs import ingest
    from plm_scaling.study.paper import fit_paper, paper_output, track_released
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


def _study_figure(root: Path, uri: str, paper_table: Path, split: Path) -> tuple[Path, Path]:
    """The study's runs (on a copy of a real split: clean + split with MMseqs2, its manifest sealed with its shards'
    sha256), its fit (the study stage's fit_study, the authors' table fitted beside) and its IsoFLOP and curves
    figures (study_figure): (IsoFLOP figure, data manifest)."""
    from mlflow import MlflowClient

    from plm_scaling.study import fit as fit_module
    from plm_scaling.study.figure import study_figure
    from plm_scaling.study.sweeps import expand, point_id
    from plm_scaling.tracking import ensure_experiment

    study_file, manifest = root / "audit.yaml", root / "data" / "split" / "manifest.json"
    study_file.write_text(yaml.safe_dump(STUDY))
    shutil.copytree(split, manifest.parent)
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
    fit_module.fit_study(
        "audit", run_dirs, study_file, manifest, uri, "plm-scaling/analysis", *outputs, 5, 0, paper_table
    )
    figure = studies / "figures" / "isoflop.png"
    study_figure("isoflop", fits, figure)
    study_figure("curves", fits, figure.with_name("curves.png"))
    return figure, manifest


@pytest.fixture(scope="module")
def made(tmp_path_factory, small_manifest):
    """The figures and what they were made from, in one fresh store. The study's fit (and every re-derivation of
    it by audit) fits its parametric law from 2 L-BFGS starts, not 32: seconds, not a minute; the paper fit's
    numbers are left out (tests/test_paper_stage.py re-derives them from every released CSV)."""
    from plm_scaling.analysis import fits as fits_module
    from plm_scaling.study import fit as fit_module

    patch = pytest.MonkeyPatch()
    patch.setattr(fit_module, "fit_parametric", functools.partial(fit_module.fit_parametric, starts=2))
    patch.setattr(fits_module, "fit_all", lambda table, bootstrap, seed: {"warnings": []})
    root = tmp_path_factory.mktemp("audit")
    uri = f"sqlite:///{root}/mlflow.db"
    paper_figure, paper_table = _paper_figure(root, uri)
    figure, manifest = _study_figure(root, uri, paper_table, small_manifest.parent)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    side = json.loads(sidecar_path(figure).read_text())
    yield SimpleNamespace(
        figure=figure,
        side=side,
        manifest=manifest,
        paper_table=paper_table,
        client=client,
        paper=paper_figure,
        root=root,
        uri=uri,
        fits=figure.parents[1] / "fits.json",
    )
    patch.undo()


@contextlib.contextmanager
def changed_bytes(path: Path, new: bytes):
    """`path` holds `new` inside the block; its bytes are put back after it."""
    old = path.read_bytes()
    path.write_bytes(new)
    try:
        yield
    finally:
        path.write_bytes(old)


def _tampered(capsys, figure: Path, path: Path, new: bytes, expected: list[str], *flags: str) -> None:
    """With `path` holding `new`, auditing `figure` reports exactly `expected`; restored, it audits clean."""
    with changed_bytes(path, new):
        _audits_to(capsys, figure, expected, *flags)
    _audits_to(capsys, figure, [], *flags)


def _sha(path: Path) -> str:
    return sha256_file(path)[:12]


def _audits_to(capsys, figure: Path, problems: list[str], *flags: str) -> None:
    """`plm-scaling audit FIGURE` (in this process) reports exactly `problems`, and exits 1 on them (0 on none)."""
    from plm_scaling.cli import main

    capsys.readouterr()
    code, out = main(["audit", str(figure), *flags]), capsys.readouterr().out
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
    first = made.side["input_runs"][0]  # the first run whose chain reaches the manifest names it
    with changed_bytes(made.manifest, made.manifest.read_bytes() + b" "):
        expected = [
            f"link data -> run: {made.manifest} sha256 {_sha(made.manifest)} now, "
            f"{made.side['data_hash'][:12]} logged by training run {first['run_id']} ({first['sweep_point']})",
            f"stale: data manifest {made.manifest} changed since the figure was made",
        ]
        _audits_to(capsys, made.figure, expected, "--no-recompute")
    _audits_to(capsys, made.figure, [], "--no-recompute")


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


@contextlib.contextmanager
def restored(*paths: Path):
    """Whatever the block does to `paths` (rewrites them through the workflow's own steps), their bytes are put
    back after it."""
    old = {p: p.read_bytes() for p in paths}
    try:
        yield
    finally:
        for p, data in old.items():
            p.write_bytes(data)


def _outputs(made) -> list[Path]:
    """The fit's and the figures' files, which a test that re-runs a step rewrites."""
    study = made.fits.parent
    figures = [study / "figures" / f"{name}{ext}" for name in ("isoflop", "curves") for ext in (".png", ".svg")]
    figures += [sidecar_path(f) for f in figures if f.suffix == ".png"]
    return [made.fits, study / "loss_table.csv", study / "fits_table.csv", *figures]


def _rerun_fit(made) -> None:
    """The study's fit step again, as `snakemake -R fit_study` would run it, then its figures."""
    from plm_scaling.study.figure import study_figure
    from plm_scaling.study.fit import fit_study

    fits = json.loads(made.fits.read_text())
    run_dirs = [r["run_dir"] for r in fits["input_runs"]]
    study = made.fits.parent
    outputs = (made.fits, study / "loss_table.csv", study / "fits_table.csv")
    with contextlib.chdir(fits["workdir"]):
        fit_study(
            "audit",
            run_dirs,
            fits["study_file"],
            made.manifest,
            made.uri,
            "plm-scaling/analysis",
            *outputs,
            5,
            0,
            made.paper_table,
        )
    for name in ("isoflop", "curves"):
        study_figure(name, made.fits, study / "figures" / f"{name}.png")


def test_a_plotted_loss_edited_in_fits_json_then_the_figure_redrawn(made, capsys):
    from plm_scaling.study.figure import study_figure

    fits = json.loads(made.fits.read_text())
    fit_run = fits["fit_run_id"]
    with restored(*_outputs(made)):
        logged = _sha(made.fits)
        point = fits["fits"]["clm"]["isoflop"]["points"][3]  # one plotted point
        was = point["loss"]
        point["loss"] = was - 0.5
        write_json(made.fits, fits)
        study_figure("isoflop", made.fits, made.figure)  # the figure step, as snakemake reruns it
        expected = [
            f"link fit run -> fits.json: {made.fits} sha256 {_sha(made.fits)} now, {logged} logged by fit run "
            f"{fit_run}",
            f"recompute: fits.json: fits.clm.isoflop.points[3].loss: recorded {was - 0.5!r}, recomputed {was!r}",
            f"recompute: figure: isoflop.png is not what the recomputed numbers draw (sha256 {_sha(made.figure)}, ",
        ]
        out = _audit_fails(capsys, made.figure, len(expected) + 1)
        assert out[:2] == expected[:2] and out[2].startswith(expected[2]) and "isoflop.svg" in out[3], out
    _audits_to(capsys, made.figure, [])


def _audit_fails(capsys, figure: Path, count: int) -> list[str]:
    from plm_scaling.cli import main

    capsys.readouterr()
    code, out = main(["audit", str(figure)]), capsys.readouterr().out
    problems = [line.removeprefix("FAIL: ") for line in out.splitlines() if line.startswith("FAIL: ")]
    assert code == 1 and len(problems) == count, out
    return problems


def _curve_rows(path: Path) -> tuple[str, list[list[str]]]:
    head, *rows = path.read_text().splitlines()
    return head, [r.split(",") for r in rows]


def test_a_curve_lowered_then_the_fit_rerun(made, capsys):
    run = made.side["input_runs"][5]
    run_dir = made.fits.parent / "runs" / run["sweep_point"]
    curve, curves = run_dir / "curve.csv", made.figure.with_name("curves.png")
    with restored(curve, *_outputs(made)):
        logged = _sha(curve)
        head, rows = _curve_rows(curve)
        for row in rows[:-1]:
            row[-1] = repr(float(row[-1]) - 0.5)
        curve.write_text("\n".join([head, *(",".join(r) for r in rows)]) + "\n")
        _rerun_fit(made)  # the fit reads the invented curve; curves.png plots it
        tokens, loss = int(rows[0][1]), float(rows[0][-1])
        expected = [
            f"link run -> fit: {run['sweep_point']} curve.csv: the fit read sha256 {_sha(curve)}, training run "
            f"{run['run_id']} logged {logged}",
            f"link MLflow -> curve.csv: {run['sweep_point']} val_loss at {tokens:,} tokens is {loss!r} in curve.csv, "
            f"{loss + 0.5!r} in training run {run['run_id']}",
        ]
        _audits_to(capsys, curves, expected)
    _audits_to(capsys, curves, [])


def test_the_val_loss_history_lowered_in_mlflow(made, capsys):
    run = made.side["input_runs"][7]
    history = made.client.get_metric_history(run["run_id"], "val_loss")
    now = int(time.time() * 1000)
    for m in history:  # the latest value at each step is what the store says
        made.client.log_metric(run["run_id"], "val_loss", m.value - 0.5, timestamp=now, step=m.step)
    try:
        first = min(history, key=lambda m: m.step)
        expected = (
            f"link MLflow -> curve.csv: {run['sweep_point']} val_loss at {first.step:,} tokens is {first.value!r} in "
            f"curve.csv, {first.value - 0.5!r} in training run {run['run_id']}"
        )
        _audits_to(capsys, made.figure, [expected], "--no-recompute")
    finally:
        for m in history:
            made.client.log_metric(run["run_id"], "val_loss", m.value, timestamp=now + 1, step=m.step)
    _audits_to(capsys, made.figure, [], "--no-recompute")


@pytest.mark.parametrize("shard", ["train.tokens.u8", "train.offsets.npy"])
def test_one_byte_of_a_shard_changed(made, capsys, shard):
    path = made.manifest.parent / shard
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    with changed_bytes(path, bytes(data)):
        recorded = json.loads(made.manifest.read_text())["files"][shard][:12]
        expected = f"data: shard {path}: sha256 {_sha(path)} now, {recorded} recorded in {made.manifest}"
        _audits_to(capsys, made.figure, [expected], "--no-recompute")
    _audits_to(capsys, made.figure, [], "--no-recompute")


def test_fits_json_edited_without_a_redraw(made, capsys):
    fits = json.loads(made.fits.read_text())
    side = json.loads(sidecar_path(made.figure).read_text())
    was = fits["fits"]["clm"]["isoflop"]["n_opt"]["exponent"]
    fits["fits"]["clm"]["isoflop"]["n_opt"]["exponent"] = 0.5
    new = (json.dumps(fits, indent=2, sort_keys=True) + "\n").encode()
    now, read = hashlib.sha256(new).hexdigest()[:12], side["inputs"]["fits.json"]["sha256"][:12]
    expected = [
        f"link fits.json -> figure: {made.fits} sha256 {now} now, {read} when the figure read it",
        f"link fit run -> fits.json: {made.fits} sha256 {now} now, {read} logged by fit run {fits['fit_run_id']}",
        f"recompute: fits.json: fits.clm.isoflop.n_opt.exponent: recorded 0.5, recomputed {was!r}",
    ]
    _tampered(capsys, made.figure, made.fits, new, expected)


def test_fits_table_edited(made, capsys):
    table = made.fits.parent / "fits_table.csv"
    lines = table.read_text().splitlines()
    edited = [lines[0], lines[1].replace(",", ",9", 1), *lines[2:]]  # one cell of the first row
    fit_run = json.loads(made.fits.read_text())["fit_run_id"]
    new = ("\n".join(edited) + "\n").encode()
    expected = [
        f"link fit run -> fits_table.csv: {table} sha256 {hashlib.sha256(new).hexdigest()[:12]} now, "
        f"{made.client.get_run(fit_run).data.tags['sha256.fits_table.csv'][:12]} logged by fit run {fit_run}",
        f"recompute: fits table: {table} line 2 is {edited[1]!r}, recomputed {lines[1]!r}",
    ]
    _tampered(capsys, made.figure, table, new, expected)


def test_a_changed_checkpoint(made, capsys):
    run = made.side["input_runs"][3]
    ckpt = made.fits.parent / "runs" / run["sweep_point"] / "final.ckpt"
    with changed_bytes(ckpt, ckpt.read_bytes() + b"\0"):
        logged = made.client.get_run(run["run_id"]).data.tags["sha256.final.ckpt"][:12]
        expected = (
            f"link run -> checkpoint: {ckpt} sha256 {_sha(ckpt)} now, {logged} logged by training run "
            f"{run['run_id']} ({run['sweep_point']})"
        )
        _audits_to(capsys, made.figure, [expected], "--no-recompute")
    _audits_to(capsys, made.figure, [], "--no-recompute")


def test_audit_reads_and_never_creates_a_store(made, capsys):
    db = made.root / "mlflow.db"
    moved = db.with_name("moved.db")
    db.rename(moved)
    try:
        before = sorted(p for p in made.root.rglob("*"))
        _audits_to(capsys, made.figure, [f"MLflow store {db} is missing (audit never creates one)"])
        assert sorted(p for p in made.root.rglob("*")) == before  # nothing created, here or beside the figure
    finally:
        moved.rename(db)


def test_the_svg_twin_audits_as_the_png(made, capsys):
    svg = made.figure.with_suffix(".svg")
    _audits_to(capsys, svg, [])
    with changed_bytes(svg, svg.read_bytes().replace(b"</svg>", b"<!-- x --></svg>")):
        expected = [
            "isoflop.svg: bytes differ from the sha256 recorded when it was made",
            f"isoflop.svg: bytes differ from the artifact logged by run {made.side['producing_run_id']}",
        ]
        out = _audit_fails(capsys, svg, 3)
        assert out[:2] == expected and out[2].startswith("recompute: figure: isoflop.svg is not what"), out
