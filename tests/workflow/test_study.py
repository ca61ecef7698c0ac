"""The smoke study end to end in a copy of the workflow, submitted to a real one-node SLURM cluster through the
project's SLURM profile (locally at 4 jobs where SLURM cannot run): parallel jobs on one MLflow tracking server, a
training job cancelled mid-run and resumed, figure provenance and its audit, and partial re-runs seen by dry runs."""

import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml
from mlflow import MlflowClient

from plm_scaling import chaos
from plm_scaling.sweep_point import SweepPoint

from ..conftest import (
    COMMAND_TIMEOUT,
    REPO,
    WORKFLOW_TIMEOUT,
    cancel_slurm_job,
    copy_workflow,
    end_session,
    kill_server,
    mlflow_server,
    run_bounded,
    run_cli,
    run_snakemake,
    slurm_available,
    slurm_cluster,
)

pytestmark = pytest.mark.slow  # the whole smoke study through Snakemake (and SLURM where available)


def snakemake(wf, *args):
    return run_snakemake(wf, wf, wf / "test_config.yaml", *args)


def planned_jobs(wf) -> dict[str, int]:
    out = snakemake(wf, "-n")
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    table = text[text.index("Job stats:") :].split("\n\n")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def round_points(wf) -> dict:
    """The points the smoke study's adaptive round 1 planned (which ones depends on the machine's losses)."""
    return json.loads((wf / "results" / "studies" / "smoke" / "rounds" / "1" / "plan.json").read_text())["points"]


SMOKE_LAW = {"n_opt": {"coef": 12000 / 1e10**0.5, "exponent": 0.5}, "loss": {"coef": 2.9, "exponent": -0.001}}


def smoke_workflow(wf, **config) -> None:
    """The smoke study in a copy of the workflow under `wf`, with an extrapolation check. Its DAG (a checkpoint plans
    runs from a law) at smoke size: the smoke fit has no law (its minima sit at the edges), so the check extrapolates
    a given laws file, N_opt 12,000 at 1e10 FLOPs, at the largest budget itself (factor 1) and at multiples that land
    on the study's sizes: the plan names study points, which are reused, not trained again (a plan with new sizes
    trains them: see the changed-plan test)."""
    studies = wf / "studies"
    studies.mkdir()
    (wf / "law.json").write_text(json.dumps({"clm": SMOKE_LAW}))
    spec = yaml.safe_load((REPO / "config" / "studies" / "smoke.yaml").read_text())
    spec["extrapolate"] = {
        "objectives": ["clm"],
        "law": str(wf / "law.json"),
        "factor": 1,
        "multiples": [5 / 12, 1, 2.5],
    }
    (studies / "smoke.yaml").write_text(yaml.safe_dump(spec))
    options = {
        "paper_logs": None,
        "study": "smoke",
        "study_dir": str(studies),
        "analysis": {"bootstrap": 100, "seed": 0},
    }
    copy_workflow(wf, **options, **config)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """A copy of the workflow (so tests may edit its code and study), run once on the smoke study, every job logging
    over HTTP to a real MLflow tracking server (envs/mlflow-server.sh), as cluster jobs would. On SLURM, one training
    job is cancelled (scancel) after its first checkpoint; the profile's retry must resume it. Its fits.json is kept
    as `reference-fits.json` (later tests change the study)."""
    wf = tmp_path_factory.mktemp("wf")
    with mlflow_server(wf) as uri:
        smoke_workflow(wf, mlflow={"tracking_uri": uri, "experiment": "plm-scaling"})
        if slurm_available() is None:
            with slurm_cluster(wf / "slurm") as env:
                (wf / "slurm-cancelled.txt").write_text(run_on_slurm_cancelling_one(wf, env))
        else:
            run = snakemake(wf, "--cores", "4")
            assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
        shutil.copy(wf / "results" / "studies" / "smoke" / "fits.json", wf / "reference-fits.json")
        yield wf


def test_killed_anywhere_the_study_gives_the_same_result(smoke, tmp_path_factory):
    """The same study in another copy (local jobs, its own MLflow tracking server), its whole process tree killed
    with SIGKILL once in each of its phases, at a random moment 1-4 s after the phase is first seen: in the data
    split, in a training run that holds a checkpoint (mid-run), in the fit and in drawing the figures; each time
    followed by the same command (after the `--unlock` a killed Snakemake needs); and in the adaptive round, once
    while it is planned and once in its runs (a round's plan, once written, must never be planned again). In the
    attempt that goes on to the
    fit, once a training run holds a checkpoint, the tracking server is killed with SIGKILL and restarted on its port
    and store under the running jobs, which must carry on through it (a job that failed would stop the attempt
    before the fit). Then: the same fits.json numbers as the run above, every figure auditing clean, no MLflow run
    RUNNING, one training run per sweep point, no orphaned temporary file, no run folder without its checkpoints
    (plm_scaling/chaos.py)."""
    wf = tmp_path_factory.mktemp("chaos")
    with contextlib.ExitStack() as servers:
        uri = servers.enter_context(mlflow_server(wf))
        smoke_workflow(wf, mlflow={"tracking_uri": uri, "experiment": "plm-scaling"})

        def server_outage():
            assert kill_server(wf) > 0
            time.sleep(3)
            servers.enter_context(mlflow_server(wf, port=int(uri.rsplit(":", 1)[1])))

        cmd = chaos.snakemake_command(wf, wf / "test_config.yaml", cores=2)
        training = chaos.Aim("train", checkpointed=True)
        rounds = [chaos.Aim("study plan-round"), chaos.Aim("train", checkpointed=True)]  # the plan, round 1's runs
        aims = [chaos.Aim("data split"), training, *rounds, chaos.Aim("study fit"), chaos.Aim("study figure")]
        report = chaos.run_with_kills(
            cmd, wf, len(aims), seed=0, window=(1.0, 4.0), fault=server_outage, aims=aims, fault_at=(2, training)
        )
        (smoke / "chaos-report.json").write_text(json.dumps(report, indent=1))
        kills = [a for a in report["attempts"] if a["killed"]]
        assert [k["aim"] for k in kills] == [a.job for a in aims], (wf / "chaos.log").read_text()[-4000:]
        assert report["attempts"][-1]["returncode"] == 0, (wf / "chaos.log").read_text()[-4000:]
        assert all(k["hit"] for k in kills), report  # each kill landed while a job of its phase ran
        assert any(j.startswith("train") for j in kills[2].get("fault_during", [])), report  # under training jobs
        found = chaos.problems(wf, smoke / "reference-fits.json", smoke, uri)
        assert found == [], "\n".join(found)


SLURM_ARGS = [
    "--slurm-status-command",
    "squeue",  # the test cluster keeps no accounting (no slurmdbd) for sacct
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "2",
    "--slurm-keep-successful-logs",
    "--set-threads",
    "train=1",
    "split_dataset=2",
]  # a 2-core machine, 4 slots declared)


def run_on_slurm_cancelling_one(wf, env, timeout: float = WORKFLOW_TIMEOUT) -> str:
    """The smoke study through `--profile profiles/slurm`; once a training job has written its first checkpoint it is
    scancelled (if one finishes first, the next one is). Returns the cancelled point. Fails the test if the study
    runs longer than `timeout` seconds."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(wf / "Snakefile"),
        "--directory",
        str(wf),
        "--configfile",
        str(wf / "test_config.yaml"),
        "--profile",
        str(wf / "profiles" / "slurm"),
        *SLURM_ARGS,
    ]
    log_path = wf / "slurm-snakemake.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=wf, start_new_session=True)
    cancelled = None
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the SLURM study still ran after {timeout:g} s: {' '.join(cmd)}\n{log_path.read_text()[-4000:]}",
                    pytrace=False,
                )
            if cancelled is None and (found := running_training_job_with_checkpoint(wf, env)):
                job_id, point = found
                if cancel_slurm_job(job_id, env):  # else it finished in between: wait for another one
                    cancelled = point
            time.sleep(0.2)
    finally:
        if proc.poll() is None:  # a failure above: SIGTERM lets Snakemake scancel its jobs
            end_session(proc, grace=60)
    assert proc.returncode == 0, log_path.read_text()[-4000:]
    assert cancelled is not None, "no training job was seen running with a checkpoint: nothing was cancelled"
    return cancelled


def running_training_job_with_checkpoint(wf, env) -> tuple[str, str] | None:
    """(SLURM job id, point) of a running training job whose run has a checkpoint and is not finished."""
    try:
        queue = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], env=env, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:  # a busy controller: the next poll asks again
        return None
    for line in queue.stdout.splitlines():
        job_id, comment = line.split("|", 1)
        m = re.search(r"rule_train_wildcards_(\S+)", comment)
        run = wf / "results" / "studies" / "smoke" / "runs" / (m.group(1) if m else "")
        if m and (run / "checkpoints" / "last.ckpt").exists() and not (run / "run.json").exists():
            return job_id, m.group(1)
    return None


def test_parallel_runs_all_reach_one_store(smoke):
    """Served over HTTP: every run and metric of the 4 parallel jobs arrives; no job wrote a local store."""
    assert not (smoke / "results" / "mlflow.db").exists() and not (smoke / "mlruns").exists()
    client = MlflowClient(
        tracking_uri=yaml.safe_load((smoke / "test_config.yaml").read_text())["mlflow"]["tracking_uri"]
    )
    exp = client.get_experiment_by_name("plm-scaling/smoke")
    runs = client.search_runs([exp.experiment_id], max_results=500)
    training = [r for r in runs if "sweep_point" in r.data.tags]
    # 10 IsoFLOP points, 2 more mask ratios, a unique subset, a pre-training and a transferred run, and the runs
    # of the adaptive round (the check reuses points)
    assert len(training) == 15 + len(round_points(smoke))
    for r in training:
        assert r.info.status == "FINISHED"
        assert len(client.get_metric_history(r.info.run_id, "val_loss")) >= 10
        assert {"study", "code_revision", "code_dirty", "data_manifest_sha256", "snakemake_rule"} <= set(r.data.tags)
    assert len(runs) == len(training)  # fits and figures live in an experiment of their own
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # opens on the training runs
    analysis = client.get_experiment_by_name("plm-scaling/smoke/analysis")
    steps = client.search_runs([analysis.experiment_id], max_results=50)
    stages = sorted(r.data.tags.get("stage", "") for r in steps)
    # isoflop, curves, mask_ratio, repeated, transfer and extrapolation; the fit and the extrapolation check; the
    # plans of the adaptive rounds 1 and 2
    assert stages == ["check", *["figure"] * 6, "fit", "round", "round"]
    fit = next(r for r in steps if r.data.tags.get("stage") == "fit")
    for r in training:  # every curve on one x-axis (tokens), no misleading `epoch`
        assert "epoch" not in r.data.metrics
        last = client.get_metric_history(r.info.run_id, "train/loss")[-1].step
        assert last <= int(r.data.tags["D"]) and last % int(r.data.params["plan.tokens_per_step"]) == 0
    assert set(fit.data.tags["source_run_ids"].split(",")) == {r.info.run_id for r in training}
    assert len(fit.inputs.dataset_inputs) == 1  # the loss table, logged with mlflow.log_input


def slurm_logs(wf, rule: str, point: str) -> list:
    """The SLURM logs of one rule and point, oldest first (each is named after its job id)."""
    return sorted((wf / ".snakemake" / "slurm_logs" / f"rule_{rule}" / point).glob("*.log"), key=lambda p: int(p.stem))


@pytest.mark.skipif(slurm_available() is not None, reason=f"no SLURM cluster here: {slurm_available()}")
def test_every_job_ran_as_a_slurm_job_and_the_cancelled_one_resumed(smoke):
    point = (smoke / "slurm-cancelled.txt").read_text()  # the fixture ran on SLURM and cancelled this point
    points = [p.name for p in (smoke / "results" / "studies" / "smoke" / "runs").iterdir()]
    assert len(points) == 15 + len(round_points(smoke))  # the grid's and the adaptive round's
    for p in points:  # one SLURM job per rule and point
        for rule in ("train", "evaluate"):
            assert len(slurm_logs(smoke, rule, p)) == (2 if (rule, p) == ("train", point) else 1), (rule, p)
    first, retry = slurm_logs(smoke, "train", point)
    assert f"JOB {first.stem} ON" in first.read_text() and "CANCELLED" in first.read_text()
    assert "Finished jobid" in retry.read_text()
    train_log = (smoke / "results" / "logs" / "smoke" / "train" / f"{point}.log").read_text()
    assert re.search(r"resuming \S+ from its checkpoint at step [1-9]\d*", train_log), train_log[-2000:]
    curve = (smoke / "results" / "studies" / "smoke" / "runs" / point / "curve.csv").read_text().splitlines()
    steps = [line.split(",")[0] for line in curve[1:]]
    assert len(steps) == len(set(steps)) >= 10  # the resumed run's curve has each validation once


# The audit tests below check the hash chain and the lineage (--no-recompute): each re-derivation repeats the fit
# (~30 s here); the re-derivation of every figure is checked once, in the first.
def test_figure_carries_its_provenance_and_audits_clean(smoke):
    figure = smoke / "results" / "studies" / "smoke" / "figures" / "isoflop.png"
    side = json.loads(figure.with_name("isoflop.png.provenance.json").read_text())
    assert len(side["input_runs"]) == 15 + len(round_points(smoke)) and side["producing_run_id"] and side["fit_run_id"]
    svg = figure.with_suffix(".svg").read_text()
    assert side["producing_run_id"] in svg  # SVG metadata
    # every figure of the study (each kind's section of fits.json, the extrapolation check's own JSON) re-derived
    # from its runs in one audit: the fit and the check recomputed once each, every figure redrawn byte for byte
    figures = sorted(figure.parent.glob("*.png"))
    assert len(figures) == 6
    proc = run_cli("audit", *figures)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK: figure, runs, code, config and data agree; re-derived from its runs") == 6
    assert "fit run" in proc.stdout and "clm_N5000_C1e09_s0" in proc.stdout


def test_an_adaptive_round_trains_what_its_plan_decided_and_audits_to_it(smoke, tmp_path):
    """Round 1 fits the grid's CLM runs and plans sizes below the 1e10 edge minimum within the cap; round 2's plan
    stops the study (round limit); the fit reads both rounds' runs and records both plans, which audit lists and
    checks: a plan edited afterwards is a broken link."""
    study = smoke / "results" / "studies" / "smoke"
    first, last = (json.loads((study / "rounds" / k / "plan.json").read_text()) for k in ("1", "2"))
    # which budget's edge the cap keeps depends on the machine's losses; without a law, only edges and a new budget
    assert {d["kind"] for d in first["decisions"]} <= {"edge", "budget"} and first["stop"] is None
    tried = {}  # the grid's CLM sizes per budget (the run's N, as the planner sees it)
    for r in json.loads((study / "fits.json").read_text())["input_runs"]:
        point = SweepPoint.of(r)
        plain = point == SweepPoint("clm", point.size, point.seed, flops=point.flops)
        if point.objective == "clm" and plain and r["sweep_point"] not in first["points"]:
            tried.setdefault(point.flops, []).append(r["n"])
    for p in first["points"]:  # beyond the edge of a budget tried, or at a new budget
        point = SweepPoint.parse(p)
        sizes = tried.get(point.flops, [])
        assert point.objective == "clm" and not (sizes and min(sizes) <= point.size <= max(sizes))
    assert first["spent"] + sum(d["cost"] for d in first["decisions"]) <= first["cap"]
    assert last["points"] == {} and last["stop"].startswith("round limit")
    fits = json.loads((study / "fits.json").read_text())
    assert [r["round"] for r in fits["rounds"]] == [1, 2]
    assert set(first["points"]) <= {r["sweep_point"] for r in fits["input_runs"]}
    figure = study / "figures" / "isoflop.png"
    audit = run_cli("audit", figure, "--no-recompute")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert f"round 1: plan {fits['rounds'][0]['sha256'][:12]}, {len(first['points'])} runs planned" in audit.stdout
    plan = study / "rounds" / "1" / "plan.json"
    shutil.copy2(plan, tmp_path / "plan.json")
    try:
        plan.write_text(plan.read_text().replace('"round": 1', '"round": 1 '))
        audit = run_cli("audit", figure, "--no-recompute")
        assert audit.returncode == 1 and "link round 1 plan.json -> study fit" in audit.stdout, audit.stdout
    finally:
        shutil.copy2(tmp_path / "plan.json", plan)


def test_audit_fails_on_changed_bytes_and_on_a_missing_input_run(smoke, tmp_path):
    figure = smoke / "results" / "studies" / "smoke" / "figures" / "isoflop.png"
    copy = tmp_path / "isoflop.png"
    shutil.copy(figure, copy)
    shutil.copy(figure.with_name("isoflop.png.provenance.json"), tmp_path / "isoflop.png.provenance.json")
    with open(copy, "ab") as fh:
        fh.write(b"tampered")
    proc = run_cli("audit", copy, "--no-recompute")
    assert proc.returncode == 1 and "bytes differ from the sha256 recorded" in proc.stdout
    side = json.loads((tmp_path / "isoflop.png.provenance.json").read_text())
    side["input_runs"][0]["run_id"] = "0" * 32
    shutil.copy(figure, copy)
    (tmp_path / "isoflop.png.provenance.json").write_text(json.dumps(side))
    proc = run_cli("audit", copy, "--no-recompute")
    assert proc.returncode == 1 and f"input run {'0' * 32}" in proc.stdout and "is missing" in proc.stdout


def test_audit_fails_on_deleted_runs(smoke):
    """A deleted run still answers get_run; the audit must look at its lifecycle stage."""
    figure = smoke / "results" / "studies" / "smoke" / "figures" / "isoflop.png"
    side = json.loads(figure.with_name("isoflop.png.provenance.json").read_text())
    client = MlflowClient(tracking_uri=side["tracking_uri"])
    for run_id in (side["producing_run_id"], side["fit_run_id"], side["input_runs"][3]["run_id"]):
        client.delete_run(run_id)
        try:
            proc = run_cli("audit", figure, "--no-recompute")
        finally:
            client.restore_run(run_id)
        assert proc.returncode == 1 and f"{run_id}" in proc.stdout and "is deleted" in proc.stdout, proc.stdout
    assert run_cli("audit", figure, "--no-recompute").returncode == 0


def test_audit_fails_on_another_studys_figure_copied_over(smoke):
    figure = smoke / "results" / "studies" / "smoke" / "figures" / "isoflop.png"
    other = smoke / "results" / "studies" / "other" / "figures"
    other.mkdir(parents=True)
    for name in ("isoflop.png", "isoflop.png.provenance.json"):
        shutil.copy(figure.with_name(name), other / name)
    proc = run_cli("audit", other / "isoflop.png", "--no-recompute")
    shutil.rmtree(other.parent)
    assert proc.returncode == 1, proc.stdout
    assert "sits at studies/other/figures/isoflop.png but its provenance was made for studies/smoke" in proc.stdout


def test_audit_shows_the_plotted_loss_and_sees_training_config_changes(smoke, tmp_path):
    figure = smoke / "results" / "studies" / "smoke" / "figures" / "isoflop.png"
    side = json.loads(figure.with_name("isoflop.png.provenance.json").read_text())
    point = side["input_runs"][0]
    fits = json.loads((smoke / "results" / "studies" / "smoke" / "fits.json").read_text())
    plotted = [p for f in fits["fits"].values() for p in f["isoflop"]["points"]]
    assert point["valid_loss"] != point["final_val_loss"]
    assert any(abs(p["loss"] - point["valid_loss"]) < 1e-12 for p in plotted)  # the figure plots valid_loss
    out = run_cli("audit", figure, "--no-recompute").stdout
    assert f"loss {point['valid_loss']:.4f} [{point['final_val_loss']:.4f}]" in out
    # The Hydra config groups decide the training runs: an edit makes the figure stale.
    config = tmp_path / "train"
    shutil.copytree(REPO / "src" / "plm_scaling" / "conf", config)
    text = (config / "train.yaml").read_text().replace("warmup_fraction: 0.05", "warmup_fraction: 0.06")
    (config / "train.yaml").write_text(text)
    env = {**os.environ, "PLM_TRAIN_CONFIG_DIR": str(config)}
    proc = run_bounded(
        [sys.executable, "-m", "plm_scaling.cli", "audit", figure, "--no-recompute"], COMMAND_TIMEOUT, env=env
    )
    assert proc.returncode == 1 and "stale: train code or configuration changed" in proc.stdout


def test_partial_reruns(smoke):
    assert planned_jobs(smoke) == {}  # nothing changed: nothing to do

    study = smoke / "studies" / "smoke.yaml"
    original = study.read_text()
    spec = yaml.safe_load(original)
    spec.setdefault("point_overrides", {})["mlm_N5000_C1e09_s0"] = ["optim.warmup_fraction=0.1"]
    study.write_text(yaml.safe_dump(spec))
    figure = smoke / "results" / "studies" / "smoke" / "figures" / "isoflop.png"
    stale = run_cli("audit", figure, "--no-recompute")
    assert stale.returncode == 1 and "stale: study config" in stale.stdout
    # the fit changes, so the extrapolation check is re-planned and re-checked (its runs rerun only if re-sized)
    after_fit = {"fit_study": 1, "plan_extrapolation": 1, "check_extrapolation": 1, "study_figure": 6, "all": 1}
    after_fit["report_summary"] = 1  # the report's landing page shows the fit
    assert planned_jobs(smoke) == {"train": 1, "evaluate": 1, **after_fit}
    study.write_text(original)

    fitting = smoke / "src" / "plm_scaling" / "analysis" / "isoflop.py"
    code = fitting.read_text()
    fitting.write_text(code + "\n# a change to the fitting code\n")
    assert planned_jobs(smoke) == after_fit
    fitting.write_text(code)

    train_config = smoke / "src" / "plm_scaling" / "conf" / "train.yaml"
    text = train_config.read_text()
    train_config.write_text(text.replace("warmup_fraction: 0.05", "warmup_fraction: 0.06"))
    # every study point (a dry run cannot see past the re-planning checkpoint; the plan names study points anyway)
    assert planned_jobs(smoke) == {"train": 15, "evaluate": 15, **after_fit}
    train_config.write_text(text)

    cfg_path = smoke / "test_config.yaml"
    cfg_text = cfg_path.read_text()
    cfg = yaml.safe_load(cfg_text)
    cfg_path.write_text(yaml.safe_dump({**cfg, "analysis": {"bootstrap": 50, "seed": 0}}))
    # an analysis-only setting; the adaptive rounds' plans read it too, so round 1 is planned again (a dry run sees
    # no further than that checkpoint)
    assert planned_jobs(smoke) == {**after_fit, "plan_round": 1}
    cfg["datasets"]["uniprot_example"]["min_length"] = 25
    cfg_path.write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs(smoke)
    assert jobs["clean_fasta"] == 1 and jobs["train"] == 15 and jobs["evaluate"] == 15 and jobs["study_figure"] == 6
    cfg_path.write_text(cfg_text)
    assert planned_jobs(smoke) == {}


def test_fits_table_lists_every_budget_and_says_what_was_not_fitted(smoke):
    study = smoke / "results" / "studies" / "smoke"
    with open(study / "fits_table.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    fits = json.loads((study / "fits.json").read_text())["fits"]
    for objective, f in fits.items():
        mine = [r for r in rows if r["objective"] == objective]
        optima = [r for r in mine if r["quantity"] == "N_opt (parabola)"]
        assert [float(r["budget_flops"]) for r in optima] == [b["c"] for b in f["isoflop"]["budgets"]]
        for row, budget in zip(optima, f["isoflop"]["budgets"]):
            assert (row["value"] == "") == (budget["status"] != "ok") and budget["status"] in row["note"]
        if "error" in f["isoflop"]:
            assert any(r["quantity"] == "power laws" and r["note"].startswith("not fitted") for r in mine)
        else:
            exponent = next(r for r in mine if r["quantity"] == "N_opt exponent a")
            low, high = float(exponent["ci95_low"]), float(exponent["ci95_high"])
            assert low <= float(exponent["value"]) <= high


def test_the_report_opens_on_the_studys_exponents(smoke):
    """The landing page the workflow writes (rule report_summary) shows each objective's N_opt exponent of the fit,
    or why it has none."""
    page = (smoke / "results" / "report" / "smoke.rst").read_text()
    fits = json.loads((smoke / "results" / "studies" / "smoke" / "fits.json").read_text())["fits"]
    assert "Study ``smoke``" in page
    for objective, f in fits.items():
        iso = f["isoflop"]
        law = iso.get("n_opt")
        shown = f"{law['exponent']:.3f} [{law['ci95'][0]:.3f}" if law else iso.get("error", "no IsoFLOP law")[:20]
        assert shown in page, objective


def test_repeated_data_kind_trains_nested_subsets_and_compares_with_fresh_data(smoke):
    data, study = smoke / "results" / "data" / "uniprot_example", smoke / "results" / "studies" / "smoke"
    ids = set((data / "unique" / "5000" / "train.ids.txt").read_text().split())
    assert ids < set((data / "split" / "train.ids.txt").read_text().split())
    subset = json.loads((data / "unique" / "5000" / "manifest.json").read_text())["subset"]
    assert 5000 <= subset["tokens"] < 8000 and subset["clusters"] < subset["clusters_total"]
    done = json.loads((study / "runs" / "clm_N12000_C1e10_U5e03_s0" / "run.json").read_text())
    assert done["unique_tokens"] == subset["tokens"] + 2 * subset["sequences"]  # framed, as D counts tokens
    fits = json.loads((study / "fits.json").read_text())["fits"]["clm"]
    (gap,) = fits["repeated"]["gaps"]
    assert (gap["point"], gap["fresh"]) == ("clm_N12000_C1e10_U5e03", "clm_N12000_C1e10")  # against its fresh twin
    assert gap["epochs"] > 15 and gap["ci95"] is None  # one seed: no interval, and no claim
    # one repeated run: a law is fitted only when the adaptive round's runs give the base law enough single-epoch
    # runs; when none is, it says why
    repeated = fits["repeated"]
    assert "law" in repeated or any(w in repeated["error"] for w in ("fewer than 2", "needs at least 5 points"))
    assert all("_U" not in p for b in fits["isoflop"]["budgets"] for p in b.get("points", []))
    audit = run_cli("audit", study / "figures" / "repeated.png", "--no-recompute")
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_transfer_kind_starts_from_pretraining_runs_at_equal_total_compute(smoke):
    study = smoke / "results" / "studies" / "smoke"
    runs = study / "runs"
    pre = json.loads((runs / "clm_N12000_C1e10_pre0.25_s0" / "run.json").read_text())
    tuned = json.loads((runs / "mlm_N12000_C1e10_clm0.25_s0" / "run.json").read_text())
    from plm_scaling.io import sha256_file

    assert tuned["init"]["run_id"] == pre["run_id"] and tuned["init"]["flops"] == pre["flops"]
    assert tuned["init"]["sha256"] == sha256_file(runs / "clm_N12000_C1e10_pre0.25_s0" / "final.ckpt")
    fits = json.loads((study / "fits.json").read_text())["fits"]
    t = fits["mlm"]["transfer"]
    assert [g["point"] for g in t["shares"]] == ["mlm_N12000_C1e10"]
    for g in t["shares"]:  # the transferred run's own compute and its pre-training's add up to the scratch run's
        assert [r["share"] for r in g["shares"]] == [0, 0.25] and g["c"] == pytest.approx(1e10, rel=0.02)
    assert "config key paper_logs" in t["authors"]["error"]  # the smoke study runs without the authors' logs
    assert "at least 2 sizes" in t["tokens"]["error"]  # one size: no D_T law, and it says why
    # pre-training runs are not CLM sweep points of the IsoFLOP fit (their budget is a share of another's)
    assert not any("_pre" in p["point"] for p in fits["clm"]["noise"]["points"])
    audit = run_cli("audit", study / "figures" / "transfer.png", "--no-recompute")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert f"started from clm_N12000_C1e10_pre0.25_s0 (checkpoint {tuned['init']['sha256'][:12]})" in audit.stdout


def test_extrapolation_check_trains_what_the_law_plans_and_reports_it(smoke):
    study = smoke / "results" / "studies" / "smoke"
    plan = json.loads((study / "extrapolation" / "plan.json").read_text())
    assert plan["objectives"]["clm"]["budget"] == 1e10  # factor 1: the largest budget
    assert sorted(plan["points"]) == ["clm_N12000_C1e10_s0", "clm_N30000_C1e10_s0", "clm_N5000_C1e10_s0"]
    check = json.loads((study / "extrapolation" / "check.json").read_text())
    e = check["fits"]["clm"]["extrapolation"]
    assert [p["multiple"] for p in e["measured"]] == [5 / 12, 1.0, 2.5]
    assert e["loss_error"] == pytest.approx(e["measured"][1]["mean"] - e["prediction"]["loss"])
    assert e["predicted_size_wins"] is None and "seed noise" in e["why"]  # one seed: not claimed either way
    assert {r["sweep_point"] for r in check["input_runs"]} == set(plan["points"])  # not the study's points
    fit_points = {r["sweep_point"] for r in json.loads((study / "fits.json").read_text())["input_runs"]}
    assert set(plan["points"]) <= fit_points  # study points, reused
    audit = run_cli("audit", study / "figures" / "extrapolation.png", "--no-recompute")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert f"planned from fit run {check['planned_from']['fit_run_id']}" in audit.stdout


def test_a_changed_plan_retrains_only_the_points_it_changed(smoke, tmp_path):
    """A changed fit (here: law) rewrites the plan; only the points that are new in it train, the others are kept.
    The checkpoint really runs (a dry run cannot see past a checkpoint that is due), then a dry run lists the rest."""
    law_file, study = smoke / "law.json", smoke / "results" / "studies" / "smoke"
    plan = study / "extrapolation" / "plan.json"
    for f in (plan, law_file):  # restored with their times at the end: the workflow stays up to date
        shutil.copy2(f, tmp_path / f.name)
    law = json.loads(law_file.read_text())
    law["clm"]["n_opt"]["coef"] *= 2.4  # N_opt 28,800: sizes 12,000 (trained), 29,000 and 72,000 (new)
    law_file.write_text(json.dumps(law))
    proc = snakemake(smoke, "--cores", "1", "--until", "plan_extrapolation")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert planned_jobs(smoke) == {"train": 2, "evaluate": 2, "check_extrapolation": 1, "study_figure": 1, "all": 1}
    for f in (plan, law_file):
        shutil.copy2(tmp_path / f.name, f)
    assert planned_jobs(smoke) == {}
