"""Faults a study must survive: a full disk while a checkpoint is written, the MLflow tracking server killed and
restarted under a running training, and (workflow tier) SIGKILL of the whole Snakemake process tree at random
moments, after which a re-run gives the same fits as an undisturbed run and loses nothing."""

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow import MlflowClient

from plm_scaling import chaos
from plm_scaling.training.checks import checkpoint_step

from .conftest import REPO, copy_workflow, free_port, run_cli, tiny_overrides


def wait_for(condition, seconds: float, what: str, proc=None):
    """Poll `condition` until it holds; a process that ends first, or the deadline, fails the test naming `what`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc is None or proc.poll() is None, f"the process ended before {what}: rc {proc.returncode}"
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.05)


def fill(disk, keep_free: int) -> None:
    """Fill the file system of `disk` until fewer than `keep_free` bytes are left."""
    with open(disk / "filler", "wb") as fh:
        while shutil.disk_usage(disk).free > keep_free:
            try:
                fh.write(b"\0" * min(1 << 16, shutil.disk_usage(disk).free - keep_free + 1))
                fh.flush()
            except OSError:
                break


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (needs root, as CI has)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True, timeout=30)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False, timeout=30)


def test_full_disk_during_a_checkpoint_write_keeps_the_previous_checkpoint(small_manifest, small_disk):
    run_dir = small_disk / "run"
    args = [sys.executable, "-m", "plm_scaling.cli", "train", *tiny_overrides(small_manifest, run_dir)]
    proc = subprocess.Popen([*args, "budget.flops=8e9"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last = run_dir / "checkpoints" / "last.ckpt"
    wait_for(last.exists, 120, "first checkpoint", proc)
    before = last.read_bytes()
    fill(small_disk, keep_free=16 << 10)  # room for curve rows, not for a checkpoint (~200 KB)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err[-2000:]
    assert "Traceback" not in err, err[-2000:]  # the progress lines before it aside, the error is one line
    errors = [line for line in err.splitlines() if line.startswith("plm-scaling: error")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err[-2000:]
    assert "No space left on device" in errors[0] and "previous checkpoint is kept" in errors[0], errors[0]
    assert last.read_bytes() == before  # the checkpoint from before the disk filled, whole
    for ckpt in (run_dir / "checkpoints").glob("*.ckpt"):  # none truncated (Lightning's writer leaves one)
        assert checkpoint_step(ckpt) > 0, ckpt
    assert not [p.name for p in run_dir.rglob("*") if ".tmp" in p.name], "a temporary file was left behind"
    (small_disk / "filler").unlink()
    rerun = subprocess.run([*args, "budget.flops=8e9"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "from its checkpoint at step" in rerun.stdout + rerun.stderr
    curve = (run_dir / "curve.csv").read_text().splitlines()
    steps = [int(row.split(",")[0]) for row in curve[1:]]
    assert steps == sorted(set(steps)) and len(steps) == 10  # every validation once, none lost or doubled


def start_server(root, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "MLFLOW_PORT": str(port),
        "MLFLOW_WORKERS": "1",
        "MLFLOW_BACKEND": f"sqlite:///{root}/server.db",
        "MLFLOW_ARTIFACTS": str(root / "server-artifacts"),
    }
    log = open(root / "mlflow-server.log", "a")
    proc = subprocess.Popen(
        ["bash", str(REPO / "envs" / "mlflow-server.sh")], env=env, stdout=log, stderr=log, start_new_session=True
    )

    def up() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return True
        except OSError:
            return False

    wait_for(up, 120, "MLflow server answering /health", proc)
    return proc


def test_mlflow_server_killed_and_restarted_under_a_training_run(small_manifest, tmp_path):
    """The server dies while a run logs to it and comes back on the same store: the run finishes (MLflow's client
    retries) or fails in one line and resumes; either way one FINISHED run with every validation point."""
    port = free_port()
    server = start_server(tmp_path, port)
    uri, run_dir = f"http://127.0.0.1:{port}", tmp_path / "run"
    args = [*tiny_overrides(small_manifest, run_dir), "budget.flops=2e10", "logger=mlflow"]
    args += [f"logger.tracking_uri={uri}", "logger.experiment=faults"]
    cmd = [sys.executable, "-m", "plm_scaling.cli", "train", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for((run_dir / "checkpoints" / "last.ckpt").exists, 120, "first checkpoint", proc)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        time.sleep(2)
        server = start_server(tmp_path, port)
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:  # the client gave up: one line, and a re-run resumes
            assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err[-2000:]
            again = run_cli("train", *args)
            assert again.returncode == 0, again.stderr[-2000:]
        client = MlflowClient(tracking_uri=uri)
        runs = client.search_runs([client.get_experiment_by_name("faults").experiment_id])
        assert [r.info.status for r in runs] == ["FINISHED"]
        history = client.get_metric_history(runs[0].info.run_id, "val_loss")
        assert sorted({m.step for m in history}) == sorted(int(r.split(",")[1]) for r in read_curve_rows(run_dir))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def read_curve_rows(run_dir) -> list[str]:
    return (run_dir / "curve.csv").read_text().splitlines()[1:]


def smoke_copy(wf):
    """The smoke study in a copy of the workflow (local sqlite store), as tests/test_study.py builds it."""
    import yaml

    wf.mkdir(parents=True, exist_ok=True)
    studies = wf / "studies"
    studies.mkdir()
    spec = yaml.safe_load((REPO / "config" / "studies" / "smoke.yaml").read_text())
    (studies / "smoke.yaml").write_text(yaml.safe_dump(spec))
    copy_workflow(wf, paper_logs=None, study="smoke", study_dir=str(studies), analysis={"bootstrap": 100, "seed": 0})
    return [
        *["-s", str(wf / "Snakefile"), "--directory", str(wf), "--configfile", str(wf / "test_config.yaml")],
        *["--cores", "2"],
    ]


@pytest.mark.slow
def test_killed_anywhere_the_study_gives_the_same_result(tmp_path):
    """The smoke study undisturbed, and again with SIGKILL of Snakemake and every job it started at 5 random
    moments, each followed by the same command: the same fits.json numbers, clean audits, no RUNNING or duplicate
    MLflow run, no orphaned temporary file, no run folder without its checkpoints."""
    reference = tmp_path / "reference"
    args = smoke_copy(reference)
    undisturbed = subprocess.run(
        [sys.executable, "-m", "snakemake", *args], capture_output=True, text=True, timeout=1200
    )
    assert undisturbed.returncode == 0, (undisturbed.stdout + undisturbed.stderr)[-4000:]
    wf = tmp_path / "chaos"
    report = chaos.run_with_kills([sys.executable, "-m", "snakemake", *smoke_copy(wf)], wf, 5, 0, (4.0, 30.0))
    kills = [a for a in report["attempts"] if a["killed"]]
    assert len(kills) == 5 and report["attempts"][-1]["returncode"] == 0, report
    assert any(a["interrupted"] for a in kills), "no kill landed while a job ran"
    uri = f"sqlite:///{wf / 'results' / 'mlflow.db'}"
    found = chaos.problems(wf, reference / "results" / "studies" / "smoke" / "fits.json", uri)
    assert found == [], "\n".join(found)
