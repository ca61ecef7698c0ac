"""`plm-scaling audit`: the lineage it prints and what it checks of the figure file, its sidecar, its runs and the
store: one tampering per message, each seen as exactly that message (and exit 1), then undone and audited clean."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from plm_scaling.provenance.audit import audit, listing_order
from plm_scaling.study.figure import sidecar_path
from plm_scaling.study.sweeps import expand

from .conftest import (
    audit_fails,
    audits_to,
    changed_bytes,
    sha,
)
from .synthetic import RELEASED, STUDY


def test_the_untouched_figures_audit_clean(made, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
    before = dict(os.environ)
    lines, problems = audit(made.figure)
    # its one-retry setting is the audit's alone: jobs started after an in-process audit ride out a server restart
    assert dict(os.environ) == before
    assert problems == [] and len(made.side["input_runs"]) == len(expand({**STUDY, "point_overrides": {}}))
    assert any("authors' loss table" in line for line in lines)  # the transfer fit's table is part of the lineage
    fits = json.loads((made.figure.parents[1] / "fits.json").read_text())
    assert fits["fits"]["clm"]["isoflop"]["n_budgets"] == 3  # a real IsoFLOP fit: the figure draws its laws
    audits_to(capsys, made.figure, [])
    audits_to(capsys, made.paper, [])


def test_embedded_provenance_that_differs_from_the_sidecar(made, capsys):
    side = sidecar_path(made.figure)
    edited = {**made.side, "experiment": "another"}  # read by nothing else: only the comparison can see it
    with changed_bytes(side, json.dumps(edited).encode()):
        audits_to(capsys, made.figure, ["isoflop.png: embedded provenance is missing or differs from the sidecar"])
    audits_to(capsys, made.figure, [])


def test_an_input_run_that_is_not_finished(made, capsys):
    run = made.side["input_runs"][2]
    made.client.set_terminated(run["run_id"], "FAILED")
    try:
        audits_to(capsys, made.figure, [f"input run {run['run_id']} ({run['sweep_point']}) is FAILED"])
    finally:
        made.client.set_terminated(run["run_id"], "FINISHED")
    audits_to(capsys, made.figure, [])


@pytest.mark.parametrize("metric, key", [("eval/valid_loss", "valid_loss"), ("final_val_loss", "final_val_loss")])
def test_an_input_run_whose_loss_changed_in_mlflow(made, capsys, metric, key):
    run = made.side["input_runs"][4]
    was, step, now = run[key], run["tokens"] if metric == "final_val_loss" else 0, int(time.time() * 1000)
    made.client.log_metric(run["run_id"], metric, was + 0.01, timestamp=now, step=step)  # the latest value now
    try:
        expected = f"input run {run['run_id']} ({run['sweep_point']}) changed: {metric} {was:.6f} -> {was + 0.01}"
        audits_to(capsys, made.figure, [expected])
    finally:
        made.client.log_metric(run["run_id"], metric, was, timestamp=now + 1, step=step)
    audits_to(capsys, made.figure, [])


def test_a_stale_data_manifest(made, capsys):
    first = min(made.side["input_runs"], key=listing_order)  # the first run listed whose chain reaches it names it
    with changed_bytes(made.manifest, made.manifest.read_bytes() + b" "):
        expected = [
            f"link data -> run: {made.manifest} sha256 {sha(made.manifest)} now, "
            f"{made.side['data_hash'][:12]} logged by training run {first['run_id']} ({first['sweep_point']})",
            f"stale: data manifest {made.manifest} changed since the figure was made",
        ]
        audits_to(capsys, made.figure, expected, "--no-recompute")
    audits_to(capsys, made.figure, [], "--no-recompute")


def test_figure_bytes_that_differ_from_the_logged_artifact(made, capsys):
    from urllib.parse import unquote, urlparse

    producer = made.side["producing_run_id"]
    root = Path(unquote(urlparse(made.client.get_run(producer).info.artifact_uri).path))  # file:// beside the db
    logged = root / "isoflop.png"
    with changed_bytes(logged, logged.read_bytes() + b"tampered"):
        audits_to(capsys, made.figure, [f"isoflop.png: bytes differ from the artifact logged by run {producer}"])
    audits_to(capsys, made.figure, [])


def test_the_authors_loss_table_changed(made, capsys):
    with changed_bytes(made.paper_table, made.paper_table.read_bytes() + b"\n"):
        expected = f"stale: the authors' loss table {made.paper_table} changed since the figure was made"
        audits_to(capsys, made.figure, [expected])
    audits_to(capsys, made.figure, [])


def test_a_released_run_that_records_another_sha256(made, capsys):
    side = json.loads(sidecar_path(made.paper).read_text())
    run = side["released_runs"][3]
    assert len(side["released_runs"]) == 8 and run["source"].startswith(RELEASED)
    made.client.set_tag(run["run_id"], "sha256", "0" * 64)
    try:
        expected = f"released run {run['run_id']} ({run['source']}) records another sha256"
        audits_to(capsys, made.paper, [expected])
    finally:
        made.client.set_tag(run["run_id"], "sha256", run["sha256"])
    audits_to(capsys, made.paper, [])


def test_audit_reads_and_never_creates_a_store(made, capsys):
    db = made.root / "mlflow.db"
    moved = db.with_name("moved.db")
    db.rename(moved)
    try:
        before = sorted(p for p in made.root.rglob("*"))
        audits_to(capsys, made.figure, [f"MLflow store {db} is missing (audit never creates one)"])
        assert sorted(p for p in made.root.rglob("*")) == before  # nothing created, here or beside the figure
    finally:
        moved.rename(db)


def test_the_svg_twin_audits_as_the_png(made, capsys):
    svg = made.figure.with_suffix(".svg")
    audits_to(capsys, svg, [])
    with changed_bytes(svg, svg.read_bytes().replace(b"</svg>", b"<!-- x --></svg>")):
        expected = [
            "isoflop.svg: bytes differ from the sha256 recorded when it was made",
            f"isoflop.svg: bytes differ from the artifact logged by run {made.side['producing_run_id']}",
        ]
        out = audit_fails(capsys, svg, 3)
        assert out[:2] == expected and out[2].startswith("recompute: figure: isoflop.svg is not what"), out


def test_an_edited_sidecar_is_seen_from_the_svg_twin(made, capsys):
    side = sidecar_path(made.figure)
    edited = {**made.side, "location": "studies/other/figures/isoflop.png"}
    expected = ["isoflop.png: embedded provenance is missing or differs from the sidecar"]
    with changed_bytes(side, json.dumps(edited).encode()):
        out = audit_fails(capsys, made.figure.with_suffix(".svg"), None)
        assert expected[0] in out and any("but its provenance was made for studies/other" in p for p in out), out


def test_a_file_that_is_not_an_mlflow_store_is_left_as_it_is(made, capsys):
    db = made.root / "mlflow.db"
    with changed_bytes(db, b""):
        audits_to(capsys, made.figure, [f"MLflow store {db} is not an MLflow database (audit never creates one)"])
        assert db.read_bytes() == b""  # MLflow would have written its schema into it


def test_a_missing_fits_json_is_a_broken_link_not_a_crash(made, capsys):
    moved = made.fits.with_name("moved.json")
    made.fits.rename(moved)
    try:
        out = audit_fails(capsys, made.figure, None)
    finally:
        moved.rename(made.fits)
    read = made.side["inputs"]["fits.json"]["sha256"][:12]
    assert out == [f"link fits.json -> figure: {made.fits} sha256 none now, {read} when the figure read it"], out


def test_a_figure_that_never_had_provenance_is_a_wrong_argument(made, capsys, tmp_path):
    """A data-stage plot (stats.png) carries no lineage: exit 2 with what audit takes, not exit 1 ("changed"). A
    workflow figure whose sidecar is gone still carries its embedded provenance: that is a broken link, exit 1."""
    import matplotlib.pyplot as plt

    from ...conftest import cli

    plain = tmp_path / "stats.png"
    plt.figure().savefig(plain)
    plt.close("all")
    done = cli(capsys, "audit", plain)
    assert done.returncode == 2 and "stats.png: no provenance (no sidecar" in done.stderr
    copy = tmp_path / "isoflop.png"
    copy.write_bytes(made.figure.read_bytes())  # embedded provenance, no sidecar
    assert cli(capsys, "audit", copy).returncode == 1


def test_input_runs_are_listed_by_budget_and_size_as_numbers(made):
    lines, _ = audit(made.figure, recompute=False)
    listed = [line for line in lines if line.lstrip().startswith("├─ ")]
    keys = [
        (
            line.split(": ")[1].split()[0],
            float(line.split(" C=")[1].split()[0]),
            int(line.split(" N=")[1].split()[0].replace(",", "")),
        )
        for line in listed
    ]
    assert len(keys) == len(made.side["input_runs"]) and keys == sorted(keys)
