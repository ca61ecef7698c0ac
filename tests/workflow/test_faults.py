"""Faults a run must survive: a full disk while a checkpoint is written, a tracking server that is gone, a kill at
the moments between a step's writes. (SIGKILL of a whole study at random moments, with its tracking server killed
and restarted under the running jobs: tests/workflow/test_study.py.)"""

import os
import shutil
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from plm_scaling.training.checks import checkpoint_step

from ..conftest import cli, free_port, run_bounded, tiny_overrides


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
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True, timeout=30)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False, timeout=30)


@pytest.mark.slow  # two tiny trainings (~20 s): the fast tier stays under 3 min
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_full_disk_during_a_checkpoint_write_keeps_the_previous_checkpoint(small_manifest, small_disk):
    run_dir = small_disk / "run"
    args = [sys.executable, "-m", "plm_scaling.cli", "train", *tiny_overrides(small_manifest, run_dir)]
    proc = subprocess.Popen([*args, "budget.flops=8e9"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last = run_dir / "checkpoints" / "last.ckpt"
    try:
        wait_for(last.exists, 120, "first checkpoint", proc)
        before = last.read_bytes()
        fill(small_disk, keep_free=16 << 10)  # room for curve rows, not for a checkpoint (~200 KB)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
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


def test_a_tracking_server_that_is_gone_is_one_line(small_manifest, tmp_path):
    """MLflow's own errors (MlflowException: neither ValueError nor OSError) reach the user as one line, exit 2."""
    gone = f"http://127.0.0.1:{free_port()}"
    args = [*tiny_overrides(small_manifest, tmp_path / "run"), "logger=mlflow", f"logger.tracking_uri={gone}"]
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}
    proc = run_bounded([sys.executable, "-m", "plm_scaling.cli", "train", *args], 300, env=env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("plm-scaling: error: API request to") and "Connection refused" in lines[0], lines[0]


def test_a_curve_row_cut_short_by_a_kill_is_dropped_on_resume(tmp_path):
    from plm_scaling.training.train import _truncate_curve

    curve = tmp_path / "curve.csv"
    whole = ["10,2560,1.0e9,2.0e9,2.95\n", "20,5120,2.0e9,4.0e9,2.91\n"]
    curve.write_text("step,tokens,flops,flops_full,val_loss\n" + "".join(whole) + "30,7680,3.0e9,6.0e9,2.8")
    _truncate_curve(curve, 30)  # the checkpoint was at step 30, but the kill came before the row was whole
    assert curve.read_text().splitlines()[1:] == [row.strip() for row in whole]
    curve.write_text("step,tok")  # even the header cut short
    _truncate_curve(curve, 30)
    assert curve.read_text() == "step,tokens,flops,flops_full,val_loss\n"


def test_a_step_killed_with_its_mlflow_run_open_is_marked_killed_by_its_next_run(tmp_path):
    from plm_scaling.provenance.lineage import start_run
    from plm_scaling.tracking import PROCESS_TAG, ensure_experiment

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    experiment = ensure_experiment(uri, "steps")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=60)
    host = os.uname().nodename
    killed = client.create_run(experiment, run_name="fit", tags={PROCESS_TAG: f"{host}:{dead.pid}"}).info.run_id
    alive = client.create_run(experiment, run_name="fit", tags={PROCESS_TAG: f"{host}:{os.getpid()}"}).info.run_id
    remote = client.create_run(experiment, run_name="fit", tags={PROCESS_TAG: f"elsewhere:{dead.pid}"}).info.run_id
    other = client.create_run(experiment, run_name="figure", tags={PROCESS_TAG: f"{host}:{dead.pid}"}).info.run_id
    with start_run(uri, "steps", "fit", {}) as run:
        assert run.data.tags[PROCESS_TAG] == f"{host}:{os.getpid()}"
    status = {rid: client.get_run(rid).info.status for rid in (killed, alive, remote, other)}
    assert status == {killed: "KILLED", alive: "RUNNING", remote: "RUNNING", other: "RUNNING"}


@pytest.mark.slow  # two tiny trainings
@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")  # Lightning, on resume
def test_a_training_run_killed_before_it_wrote_its_mlflow_id_reuses_its_run(small_manifest, tmp_path, capsys):
    """The MLflow run is created, then the process dies before mlflow_run_id.txt exists: the next start finds that
    run by its run_key tag and continues it, so the sweep point has one MLflow run. (Both trainings run in this
    process: what is checked is the store and the run folder, not the output; no interpreter start-up each.)"""
    run_dir, uri = tmp_path / "run", f"sqlite:///{tmp_path}/mlflow.db"
    args = [*tiny_overrides(small_manifest, run_dir), "logger=mlflow", f"logger.tracking_uri={uri}"]
    args += ["logger.experiment=faults"]
    assert cli(capsys, "train", *args).returncode == 0
    client = MlflowClient(tracking_uri=uri)
    (first,) = client.search_runs([client.get_experiment_by_name("faults").experiment_id])
    client.update_run(first.info.run_id, "RUNNING")  # as a kill leaves it
    for name in ("mlflow_run_id.txt", "run.json", "final.ckpt"):
        (run_dir / name).unlink()
    again = cli(capsys, "train", *args)
    assert again.returncode == 0, again.stderr[-2000:]
    runs = client.search_runs([client.get_experiment_by_name("faults").experiment_id])
    assert [(r.info.run_id, r.info.status) for r in runs] == [(first.info.run_id, "FINISHED")]
    assert (run_dir / "mlflow_run_id.txt").read_text().strip() == first.info.run_id
