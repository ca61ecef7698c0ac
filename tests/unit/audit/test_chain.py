"""The hash chain from figure to FASTA and the re-derivation: each tampering the issue names (a plotted number
edited and redrawn, a curve lowered and refitted, the MLflow history lowered, a shard byte, fits files edited, a
checkpoint changed, other runs handed to the fit) fails naming the broken link or the number."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from pathlib import Path

import pytest

from plm_scaling.io import write_json
from plm_scaling.study.figure import sidecar_path

from .conftest import (
    audit_fails,
    audits_then_clean,
    audits_to,
    changed_bytes,
    curve_rows,
    outputs,
    rerun_fit,
    restored,
    sha,
    step_files,
    store_sql,
    tampered,
)


def test_a_plotted_loss_edited_in_fits_json_then_the_figure_redrawn(made, capsys):
    from plm_scaling.study.figure import study_figure

    fits = json.loads(made.fits.read_text())
    fit_run = fits["fit_run_id"]
    with restored(*outputs(made)):
        logged = sha(made.fits)
        point = fits["fits"]["clm"]["isoflop"]["points"][3]  # one plotted point
        was = point["loss"]
        point["loss"] = was - 0.5
        write_json(made.fits, fits)
        study_figure("isoflop", made.fits, made.figure)  # the figure step, as snakemake reruns it
        expected = [
            f"link fit run -> fits.json: {made.fits} sha256 {sha(made.fits)} now, {logged} logged by fit run {fit_run}",
            f"recompute: fits.json: fits.clm.isoflop.points[3].loss: recorded {was - 0.5!r}, recomputed {was!r}",
            f"recompute: figure: isoflop.png is not what the recomputed numbers draw (sha256 {sha(made.figure)}, ",
        ]
        out = audit_fails(capsys, made.figure, len(expected) + 1)
        assert out[:2] == expected[:2] and out[2].startswith(expected[2]) and "isoflop.svg" in out[3], out
    audits_to(capsys, made.figure, [])


def test_a_curve_lowered_then_the_fit_rerun(made, capsys):
    run = made.side["input_runs"][5]
    run_dir = made.fits.parent / "runs" / run["sweep_point"]
    curve, curves = run_dir / "curve.csv", made.figure.with_name("curves.png")
    with restored(curve, *outputs(made)):
        logged = sha(curve)
        head, rows = curve_rows(curve)
        for row in rows[:-1]:
            row[-1] = repr(float(row[-1]) - 0.5)
        curve.write_text("\n".join([head, *(",".join(r) for r in rows)]) + "\n")
        rerun_fit(made)  # the fit reads the invented curve; curves.png plots it
        tokens, loss = int(rows[0][1]), float(rows[0][-1])
        expected = [
            f"link run -> fit: {run['sweep_point']} curve.csv: the fit read sha256 {sha(curve)}, training run "
            f"{run['run_id']} logged {logged}",
            f"link MLflow -> curve.csv: {run['sweep_point']} val_loss at {tokens:,} tokens is {loss!r} in curve.csv, "
            f"{loss + 0.5!r} in training run {run['run_id']}",
        ]
        audits_to(capsys, curves, expected)
    audits_to(capsys, curves, [])


def test_the_val_loss_history_lowered_in_mlflow(made, capsys):
    run = made.side["input_runs"][7]
    first = min(made.client.get_metric_history(run["run_id"], "val_loss"), key=lambda m: m.step)
    lower = "update metrics set value = value + ? where run_uuid = ? and key = 'val_loss'"
    store_sql(made, lower, -0.5, run["run_id"])  # the history edited in place: timestamps as they were
    expected = (
        f"link MLflow -> curve.csv: {run['sweep_point']} val_loss at {first.step:,} tokens is {first.value!r} in "
        f"curve.csv, {first.value - 0.5!r} in training run {run['run_id']}"
    )
    undo = functools.partial(store_sql, made, lower, 0.5, run["run_id"])
    audits_then_clean(capsys, made.figure, [expected], undo, "--no-recompute")


def test_a_val_loss_logged_after_the_run_ended(made, capsys):
    """Through the client, a value logged later wins: the audit refuses a curve written after training ended."""
    run = made.side["input_runs"][8]
    first = min(made.client.get_metric_history(run["run_id"], "val_loss"), key=lambda m: m.step)
    made.client.log_metric(run["run_id"], "val_loss", first.value - 0.5, step=first.step)
    expected = (
        f"link MLflow -> curve.csv: {run['sweep_point']} has 1 val_loss values logged after training run "
        f"{run['run_id']} ended"
    )
    added = "delete from metrics where run_uuid = ? and key = 'val_loss' and value = ?"
    undo = functools.partial(store_sql, made, added, run["run_id"], first.value - 0.5)
    audits_then_clean(capsys, made.figure, [expected], undo, "--no-recompute")


@pytest.mark.parametrize("shard", ["train.tokens.u8", "train.offsets.npy"])
def test_one_byte_of_a_shard_changed(made, capsys, shard):
    path = made.manifest.parent / shard
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    with changed_bytes(path, bytes(data)):
        recorded = json.loads(made.manifest.read_text())["files"][shard][:12]
        expected = f"data: shard {path}: sha256 {sha(path)} now, {recorded} recorded in {made.manifest}"
        audits_to(capsys, made.figure, [expected], "--no-recompute")
    audits_to(capsys, made.figure, [], "--no-recompute")


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
    tampered(capsys, made.figure, made.fits, new, expected)


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
    tampered(capsys, made.figure, table, new, expected)


def test_a_changed_checkpoint(made, capsys):
    run = made.side["input_runs"][3]
    ckpt = made.fits.parent / "runs" / run["sweep_point"] / "final.ckpt"
    with changed_bytes(ckpt, ckpt.read_bytes() + b"\0"):
        logged = made.client.get_run(run["run_id"]).data.tags["sha256.final.ckpt"][:12]
        expected = (
            f"link run -> checkpoint: {ckpt} sha256 {sha(ckpt)} now, {logged} logged by training run "
            f"{run['run_id']} ({run['sweep_point']})"
        )
        audits_to(capsys, made.figure, [expected], "--no-recompute")
    audits_to(capsys, made.figure, [], "--no-recompute")


def test_another_runs_data_tag_is_seen_too(made, capsys):
    """Each run's data link is checked, not only the first run's per manifest."""
    run = made.side["input_runs"][1]
    made.client.set_tag(run["run_id"], "data_manifest_sha256", "0" * 64)
    expected = (
        f"link data -> run: {made.manifest} sha256 {sha(made.manifest)} now, {'0' * 12} logged by training run "
        f"{run['run_id']} ({run['sweep_point']})"
    )
    undo = functools.partial(made.client.set_tag, run["run_id"], "data_manifest_sha256", made.side["data_hash"])
    audits_then_clean(capsys, made.figure, [expected], undo, "--no-recompute")


def test_a_fit_handed_other_runs_than_the_study_defines(made, capsys):
    """One point left out and another read twice, fitted and drawn by the workflow's own steps: every number
    re-derives (the fit is what it was given), so only the comparison with the study's points sees it."""
    from plm_scaling.study.figure import study_figure
    from plm_scaling.study.fit import fit_study

    fits = json.loads(made.fits.read_text())
    run_dirs = [r["run_dir"] for r in fits["input_runs"]]
    left_out, doubled = Path(run_dirs[0]).name, Path(run_dirs[1]).name
    with restored(*outputs(made)), contextlib.chdir(fits["workdir"]):
        fit_study("audit", [*run_dirs[1:], run_dirs[1]], *step_files(made, fits), 5, 0, made.paper_table)
        study_figure("isoflop", made.fits, made.figure)
        expected = [
            f"fit: sweep point {doubled} was read 2 times",
            f"fit: runs of sweep points {left_out} are missing from what the study defines",
        ]
        audits_to(capsys, made.figure, expected)
    audits_to(capsys, made.figure, [])


def test_a_run_trained_with_a_tuned_recipe_links_to_it_and_a_changed_recipe_is_a_broken_link(made, capsys):
    from plm_scaling.cli import main

    recipe = made.root / "results" / "studies" / "tuning" / "recipe.json"
    (used,) = [r["recipe"] for r in made.side["input_runs"] if r.get("recipe")]
    assert used["path"] == "results/studies/tuning/recipe.json" and Path.cwd() != made.root  # audited from elsewhere
    capsys.readouterr()
    main(["audit", str(made.figure), "--no-recompute"])
    out = capsys.readouterr().out
    assert f"trained with the recipe of study tuning ({sha(recipe)}, 0 tuning runs)  fit run" in out
    changed = hashlib.sha256(b"{}").hexdigest()[:12]
    problem = f"link recipe -> run: {recipe} now has sha256 {changed}, the run trained with {sha(recipe)}"
    tampered(capsys, made.figure, recipe, b"{}", [problem], "--no-recompute")
