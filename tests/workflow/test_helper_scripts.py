"""The tests' own machinery and the helper scripts: commands bounded in time, the MLflow server script and fixture,
the one-node SLURM cluster script (root, slurm-wlm and munge; skipped otherwise) and cancelling a SLURM job. The SLURM
tests never touch a /etc/slurm they did not set up: they skip where a slurm.conf (a real installation, or another test
cluster) is there, and every cluster they start is stopped."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .. import conftest
from ..conftest import (
    REPO,
    cancel_slurm_job,
    mlflow_server,
    run_bounded,
    run_snakemake,
    slurm_available,
    slurm_job_state,
)

SLURM_SCRIPT = REPO / "envs" / "slurm-cluster.sh"
MLFLOW_SCRIPT = REPO / "envs" / "mlflow-server.sh"
ETC = Path("/etc/slurm")
DAEMONS = ("munged", "slurmctld", "slurmd")


def slurm_unusable() -> str | None:
    """Why these tests may not start a test cluster here, or None."""
    if reason := slurm_available():
        return reason
    taken = [name for name in ("slurm.conf", "gres.conf", "test-cluster") if (ETC / name).exists()]
    return f"{ETC} holds {', '.join(taken)} (a real SLURM, or a test cluster running)" if taken else None


needs_slurm = pytest.mark.skipif(slurm_unusable() is not None, reason=f"no SLURM cluster here: {slurm_unusable()}")


def running(pid: int) -> bool:
    """The process runs (a zombie does not: it has exited, and this machine's init may reap it late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def daemon_pids(root: Path) -> dict[str, int]:
    return {name: int((root / f"{name}.pid").read_text()) for name in DAEMONS if (root / f"{name}.pid").exists()}


def slurm(action: str, root: Path, **env) -> subprocess.CompletedProcess:
    return run_bounded(["bash", SLURM_SCRIPT, action, root], timeout=180, env={**os.environ, **env})


def ports() -> dict[str, str]:
    return {"SLURMCTLD_PORT": str(conftest.free_port()), "SLURMD_PORT": str(conftest.free_port())}


@contextlib.contextmanager
def stopped_after(root: Path):
    """Whatever a test starts in root is stopped, the test failing or not: no daemon outlives it."""
    pids: dict[str, int] = {}
    try:
        yield pids
    finally:
        seen = {*pids.values(), *daemon_pids(root).values()}  # a second start may have replaced a pid file
        slurm("stop", root)
        for pid in seen:  # the script's `stop` waits for them; one left running would be a bug of the script
            if running(pid):
                os.kill(pid, 9)


def assert_all_gone(root: Path, pids: dict[str, int]) -> None:
    assert not [name for name, pid in pids.items() if running(pid)], "daemons left running"
    assert not [name for name in ("slurm.conf", "gres.conf", "test-cluster") if (ETC / name).is_symlink()]


# --- commands bounded in time --------------------------------------------------------------------------------------


def test_a_hung_command_fails_the_test_naming_it_and_ends_what_it_started(tmp_path):
    started = tmp_path / "child.pid"
    cmd = ["bash", "-c", f"sleep 120 & echo $! > '{started}'; wait"]
    begin = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match=r"timed out after 2 s: bash -c 'sleep 120"):
        run_bounded(cmd, timeout=2)
    assert time.monotonic() - begin < 60
    assert not running(int(started.read_text()))  # its own child too (Snakemake's jobs)


@pytest.mark.slow
def test_a_hung_snakemake_run_fails_the_test(tmp_path):
    (tmp_path / "Snakefile").write_text('rule hang:\n    output: "never"\n    shell: "echo $$ > started; sleep 150"\n')
    (tmp_path / "config.yaml").write_text("{}\n")
    with pytest.raises(pytest.fail.Exception, match=r"timed out after 20 s: .* -m snakemake"):
        run_snakemake(tmp_path, tmp_path, tmp_path / "config.yaml", "--cores", "1", timeout=20)
    if (tmp_path / "started").exists():  # the job had started: it is ended with Snakemake
        assert not running(int((tmp_path / "started").read_text()))


# --- MLflow --------------------------------------------------------------------------------------------------------


def mlflow_env(root: Path, port: int) -> dict:
    return {
        **os.environ,
        "PYTHON": sys.executable,
        "MLFLOW_PORT": str(port),
        "MLFLOW_BACKEND": f"sqlite:///{root}/server.db",
        "MLFLOW_ARTIFACTS": str(root / "artifacts"),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # as conftest.mlflow_server: no MLflow jobs here
    }


@pytest.mark.slow  # starts daemons: seconds to a minute on a busy machine
def test_mlflow_server_script_exits_nonzero_when_its_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_bounded(["bash", MLFLOW_SCRIPT], timeout=300, env=mlflow_env(tmp_path, port))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"mlflow-server.sh: port {port} on 127.0.0.1 is in use (another server?); set MLFLOW_PORT to a free one"
    )


@pytest.mark.slow
def test_mlflow_server_fixture_serves_on_the_port_it_bound_and_stops_it(tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        # a port chosen for the server, then taken before it binds it, is not the server's problem: it binds its own
        monkeypatch.setattr(conftest, "free_port", lambda: taken.getsockname()[1])
        with mlflow_server(tmp_path) as uri:
            with urllib.request.urlopen(f"{uri}/health", timeout=10) as answer:
                assert answer.status == 200
            assert f"Uvicorn running on {uri}" in (tmp_path / "mlflow-server-0.log").read_text()
    with pytest.raises(OSError):  # stopped, workers included
        urllib.request.urlopen(f"{uri}/health", timeout=5)


@pytest.mark.parametrize(
    "server, message",
    [
        ("echo 'starting, never listening' >&2; exec sleep 120", r"did not answer within 3 s:\n.*never listening"),
        ("echo 'a broken install' >&2; exit 0", r"exited \(0\) before answering:\n.*a broken install"),
    ],
)
def test_mlflow_server_fixture_fails_with_the_log_when_no_server_answers(tmp_path, server, message):
    fake = tmp_path / "python"  # in place of the interpreter that runs `mlflow server`
    fake.write_text(f"#!/bin/sh\n{server}\n")
    fake.chmod(0o755)
    with pytest.raises(pytest.fail.Exception, match=message):
        with mlflow_server(tmp_path, python=fake, ready_timeout=3):
            pass


# --- SLURM: the cluster script -------------------------------------------------------------------------------------


def test_slurm_stop_without_start_creates_nothing(tmp_path):
    never = tmp_path / "never started"
    proc = slurm("stop", never)
    assert proc.returncode == 0, proc.stderr
    assert not never.exists()


@needs_slurm
def test_slurm_start_refuses_an_existing_gres_conf(tmp_path):
    gres = ETC / "gres.conf"
    mine = "# not the test cluster's\n"
    gres.write_text(mine)
    try:
        with stopped_after(tmp_path / "c") as pids:
            proc = slurm("start", tmp_path / "c", **ports())
            pids.update(daemon_pids(tmp_path / "c"))
            assert proc.returncode == 2, proc.stderr
            assert f"{gres} exists" in proc.stderr
            assert not gres.is_symlink() and gres.read_text() == mine
            assert not (ETC / "slurm.conf").exists() and not pids  # nothing started
    finally:
        if not gres.is_symlink() and gres.exists() and gres.read_text() == mine:
            gres.unlink()


@needs_slurm
@pytest.mark.slow  # starts daemons: seconds to a minute on a busy machine
def test_slurm_second_start_is_refused_and_stop_ends_every_daemon(tmp_path):
    root = tmp_path / "c"
    with stopped_after(root) as pids:
        first = slurm("start", root, **ports())
        assert first.returncode == 0, first.stderr
        pids.update(daemon_pids(root))
        assert sorted(pids) == sorted(DAEMONS) and all(map(running, pids.values()))
        again = slurm("start", root, **ports())
        assert again.returncode == 2 and "is running" in again.stderr and "stop" in again.stderr, again.stderr
        assert daemon_pids(root) == pids  # the running cluster is left as it was
        stop = slurm("stop", root)
        assert stop.returncode == 0, stop.stderr
        assert_all_gone(root, pids)


@needs_slurm
@pytest.mark.slow  # starts daemons: seconds to a minute on a busy machine
def test_slurm_cluster_in_a_folder_with_spaces_runs_gpu_jobs(tmp_path):
    root = tmp_path / "a folder" / "with spaces"
    with stopped_after(root) as pids:
        start = slurm("start", root, **ports())
        pids.update(daemon_pids(root))
        assert start.returncode == 0, start.stderr
        env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
        job = run_bounded(
            ["sbatch", "--parsable", "-p", "gpu", "--gpus=1", "-o", root / "job.out", "--wrap", "echo ran"], 60, env=env
        )
        assert job.returncode == 0, job.stderr
        # polled here (sbatch --wait waited up to 10 s more): the job completes, its output in the folder with spaces
        assert wait_for_state(job.stdout.strip(), env, conftest.SLURM_FINAL_STATES) == "COMPLETED"
        assert (root / "job.out").read_text() == "ran\n"
        slurm("stop", root)
        assert_all_gone(root, pids)


@needs_slurm
@pytest.mark.slow  # starts daemons: seconds to a minute on a busy machine
def test_slurm_start_failing_half_way_stops_what_it_started(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "slurmd").write_text("#!/bin/sh\necho 'slurmd: broken' >&2\nexit 1\n")  # after munged and slurmctld
    (fake / "slurmd").chmod(0o755)
    root = tmp_path / "c"
    with stopped_after(root) as pids:
        proc = slurm("start", root, PATH=f"{fake}:{os.environ['PATH']}", **ports())
        pids.update(daemon_pids(root))
        assert proc.returncode == 1 and "slurmd: broken" in proc.stderr, proc.stderr
        assert "stopped what it had started" in proc.stderr
        assert_all_gone(root, {**pids, **daemon_pids(root)})


@needs_slurm
@pytest.mark.slow  # starts daemons: seconds to a minute on a busy machine
def test_slurm_cluster_fixture_retries_a_port_taken_after_it_was_chosen(tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chosen = iter([port])  # the first port chosen is taken before slurmctld binds it
        real = conftest.free_port
        monkeypatch.setattr(conftest, "free_port", lambda: next(chosen, None) or real())
        with stopped_after(tmp_path / "c"):
            with conftest.slurm_cluster(tmp_path / "c") as env:
                assert run_bounded(["sinfo", "-h", "-o", "%T"], 60, env=env).stdout.strip() == "idle"
                assert f"SlurmctldPort={port}\n" not in (tmp_path / "c" / "slurm.conf").read_text()


# --- SLURM: cancelling a job ---------------------------------------------------------------------------------------


def wait_for_state(job_id: str, env: dict, states: set[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while (state := slurm_job_state(job_id, env)) not in states:
        assert time.monotonic() < deadline, f"job {job_id} still {state!r}, not {states}"
        time.sleep(0.2)
    return state


@needs_slurm
@pytest.mark.slow  # starts daemons: seconds to a minute on a busy machine
def test_cancelling_a_job_that_finished_in_between_is_no_error(tmp_path):
    root = tmp_path / "c"
    with stopped_after(root), conftest.slurm_cluster(root) as env:

        def submit(*cmd: str) -> str:
            out = run_bounded(["sbatch", "--parsable", "-o", os.devnull, "--wrap", " ".join(cmd)], 60, env=env)
            assert out.returncode == 0, out.stderr
            return out.stdout.strip()

        finished = submit("true")
        wait_for_state(finished, env, {"COMPLETED"})
        assert cancel_slurm_job(finished, env) is False
        # a SLURM whose scancel fails for a finished job (exit status 1): still no error
        fake = tmp_path / "bin"
        fake.mkdir()
        (fake / "scancel").write_text(
            "#!/bin/sh\necho 'scancel: error: Job/step already completing or completed' >&2\nexit 1\n"
        )
        (fake / "scancel").chmod(0o755)
        assert cancel_slurm_job(finished, {**env, "PATH": f"{fake}:{env['PATH']}"}) is False
        sleeping = submit("sleep", "120")
        wait_for_state(sleeping, env, {"RUNNING"})
        assert cancel_slurm_job(sleeping, env) is True
        assert slurm_job_state(sleeping, env) == "CANCELLED"
