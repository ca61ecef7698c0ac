"""The paper stage through real Snakemake and a real MLflow store: every released curve a run, the fit a run, every
figure and Table 2 auditable down to the released CSVs."""

import json
import shutil

import pytest
from mlflow import MlflowClient

from plm_scaling.names import PAPER_FIGURES as FIGURES
from plm_scaling.study.figure import sidecar_path

from ..conftest import PAPER_LOGS, copy_workflow, run_cli, run_snakemake

pytestmark = pytest.mark.slow  # the whole paper stage through Snakemake on the released logs


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    """A copy of the workflow run with no study, on a copy of the released logs (so a test may change one)."""
    wf = tmp_path_factory.mktemp("paper_wf")
    logs = wf / "released"
    shutil.copytree(PAPER_LOGS, logs)
    copy_workflow(wf, paper_logs=str(logs), study=None, analysis={"bootstrap": 20, "seed": 0})
    run = run_snakemake(wf, wf, wf / "test_config.yaml", "--cores", "2")
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return wf


def _released(wf):
    return json.loads((wf / "results" / "paper" / "released_runs.json").read_text())


def test_every_released_curve_is_a_run_and_unchanged_ones_are_not_logged_twice(paper):
    released = _released(paper)
    csvs = sorted(p for p in (paper / "released").rglob("*") if p.suffix.lower() == ".csv")
    assert len(released["runs"]) == len(csvs) > 250
    client = MlflowClient(tracking_uri=released["tracking_uri"])
    run = client.get_run(next(r["run_id"] for r in released["runs"] if "approach3_flops/13M_flops" in r["source"]))
    tags = run.data.tags
    assert tags["objective"] == "clm" and tags["size_label"] == "13M" and tags["N"] == "13192320"
    assert tags["group"] == "gpt_valid/approach3_flops" and len(tags["sha256"]) == 64
    history = client.get_metric_history(run.info.run_id, "valid_loss_vs_gigaflos")
    table = (paper / "released" / tags["source"]).read_text().splitlines()
    assert len(history) == len(table) - 1  # one metric point per data row, step = gigaflos
    again = run_cli(
        "paper",
        "track",
        paper / "released",
        paper / "results" / "paper" / "loss_table.csv",
        paper / "again.json",
        "--tracking-uri",
        released["tracking_uri"],
        "--experiment",
        released["experiment"],
    )
    assert again.returncode == 0 and f"0 logged now, {len(csvs)} unchanged" in again.stdout


def test_every_paper_figure_and_table2_audit_to_the_released_runs(paper):
    """Every output re-derived from the released CSVs (ingested and fitted again, drawn again byte for byte), in
    one audit: the fit is recomputed once for all of them."""
    fit_run = json.loads((paper / "results" / "paper" / "fits.json").read_text())["provenance"]["fit_run_id"]
    paths = [*(f"figures/{f}.png" for f in FIGURES), "figures/isoflop.svg", "table2.csv", "table2.md"]
    proc = run_cli("audit", *(paper / "results" / "paper" / p for p in paths))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK: figure, runs, code, config and data agree; re-derived from its runs") == len(paths)
    assert proc.stdout.count(f"fit run {fit_run}") == len(paths) and "released curves: " in proc.stdout
    client = MlflowClient(tracking_uri=_released(paper)["tracking_uri"])
    fit = client.get_run(fit_run)
    assert len(fit.inputs.dataset_inputs) == 1  # the tidy table, logged with log_input
    assert "released_runs.json" in {a.path for a in client.list_artifacts(fit_run)}


def test_paper_audit_fails_on_a_deleted_released_run_and_on_a_changed_csv(paper):
    figure = paper / "results" / "paper" / "figures" / "isoflop.png"
    released = _released(paper)
    client = MlflowClient(tracking_uri=released["tracking_uri"])
    victim = released["runs"][5]
    client.delete_run(victim["run_id"])
    try:
        proc = run_cli("audit", figure, "--no-recompute")
    finally:
        client.restore_run(victim["run_id"])
    assert proc.returncode == 1 and f"released run {victim['run_id']}" in proc.stdout and "is deleted" in proc.stdout
    csv = paper / "released" / victim["source"]
    original = csv.read_bytes()
    csv.write_bytes(original.replace(b"2.", b"3.", 1))
    try:
        proc = run_cli("audit", figure, "--no-recompute")  # the chain alone sees it (the fit again: 30 s more)
    finally:
        csv.write_bytes(original)
    assert proc.returncode == 1 and f"stale: released CSV {csv} changed since the figure was made" in proc.stdout
    assert run_cli("audit", figure, "--no-recompute").returncode == 0


def test_paper_fits_edited_then_a_figure_redrawn(paper):
    """A number of the paper fits edited, then the figure step run on it: the fit run's sha256 of fits.json, the
    recomputed fit (naming the number) and the redrawn figure all disagree."""
    results = paper / "results" / "paper"
    fits_path, figure = results / "fits.json", results / "figures" / "isoflop.png"
    kept = {p: p.read_bytes() for p in (fits_path, figure, figure.with_suffix(".svg"), sidecar_path(figure))}
    fits = json.loads(fits_path.read_text())
    was = fits["isoflop"]["clm"]["n_opt"]["exponent"]
    fits["isoflop"]["clm"]["n_opt"]["exponent"] = was + 0.1
    fits_path.write_text(json.dumps(fits, indent=2, sort_keys=True) + "\n")
    try:
        redraw = run_cli("paper", "figure", "isoflop", results / "loss_table.csv", fits_path, figure)
        assert redraw.returncode == 0, redraw.stderr
        proc = run_cli("audit", figure)
    finally:
        for path, data in kept.items():
            path.write_bytes(data)
    assert proc.returncode == 1
    assert f"FAIL: link fit run -> fits.json: {fits_path} sha256 " in proc.stdout, proc.stdout
    number = f"fits.isoflop.clm.n_opt.exponent: recorded {was + 0.1!r}, recomputed {was!r}"
    assert f"FAIL: recompute: fits.json: {number}" in proc.stdout, proc.stdout
    assert "FAIL: recompute: figure: isoflop.png is not what the recomputed numbers draw" in proc.stdout
