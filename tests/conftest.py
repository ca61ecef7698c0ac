"""Shared fixtures: paths, FASTA writers, and one real run of the data stage on the embedded dataset."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from threadpoolctl import threadpool_limits

# One BLAS thread in the tests' process and in the commands they start: the fits solve many tiny problems, on which
# OpenBLAS's worker threads only spin, and beside other load on 2 cores they made single fits 4-10x slower (the fit
# and audit steps limit themselves the same way: study/fit.py, provenance/rederive.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
threadpool_limits(1, user_api="blas")

REPO = Path(__file__).resolve().parents[1]
EMBEDDED_FASTA = Path("/usr/share/doc/mmseqs2/example-data/DB.fasta.gz")
SMALL_FASTA = REPO / "tests" / "data" / "small.fasta.gz"
FIXTURES = REPO / "tests" / "fixtures"


def fixture_fits(kind: str) -> dict:
    """A small fits JSON of the shape the workflow writes, `study` (a study's fit) or `paper` (the paper stage's,
    with its provenance): tests/fixtures/KIND_fits.json, cut from a real run's (every list to its first 2 entries).
    A fresh copy each call, for a test to change."""
    return json.loads((FIXTURES / f"{kind}_fits.json").read_text())


@pytest.fixture
def write_fasta(tmp_path):
    """write_fasta(text or bytes, name, gz=False) -> path of a new input file."""

    def write(content: str | bytes, name: str = "in.fasta", gz: bool = False) -> Path:
        data = content.encode() if isinstance(content, str) else content
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return write


class Payload:
    """Unpickling this runs a shell command that creates `marker`: what a crafted checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def cli(capsys, *args):
    """The real command line, in this process (no interpreter start-up per case): (returncode, stdout, stderr)."""
    from plm_scaling.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as done:  # argparse's usage errors
        code = done.code
    out = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)


WORKFLOW_TIMEOUT = 1800  # s: a whole workflow here (2 cores, shared) takes minutes; only a hung one takes this long
COMMAND_TIMEOUT = 900  # s: one command (a training, a fit, an audit)


def run_bounded(cmd, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run(cmd, capture_output=True, text=True, **kwargs), but a command still running after `timeout`
    seconds fails the test with a message naming it (and the end of its output) instead of blocking the run. It starts
    a session of its own, so that what it started (Snakemake's jobs) is ended with it."""
    cmd = [str(c) for c in cmd]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        end_session(proc)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # something left the session and keeps its pipes open
            out, err = "", "(its output could not be read)"
        pytest.fail(
            f"timed out after {timeout:g} s: {shlex.join(cmd)}\n{(out or '')[-2000:]}\n{(err or '')[-4000:]}",
            pytrace=False,
        )
    except BaseException:  # Ctrl-C, a failing test: the command must not outlive it
        end_session(proc)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def end_session(proc: subprocess.Popen, grace: float = 10) -> None:
    """Stops a process started with start_new_session=True and everything in its process group: SIGTERM, then
    SIGKILL after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def run_cli(*args: str | Path, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    return run_bounded([sys.executable, "-m", "plm_scaling.cli", *args], timeout)


def run_snakemake(
    workflow: Path, workdir: Path, configfile: Path, *args: str, timeout: float = WORKFLOW_TIMEOUT
) -> subprocess.CompletedProcess:
    """Real Snakemake: the Snakefile of `workflow`, run in `workdir` with `configfile`; fails the test after
    `timeout` seconds."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(workflow / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *args,
    ]
    return run_bounded(cmd, timeout)


def copy_workflow(wf: Path, **config) -> Path:
    """A copy of the workflow in `wf` (so a test may edit its code or config) and its config file, the project's
    config.yaml with the small FASTA fixture as its dataset, updated with `config`."""
    from plm_scaling.chaos import copy_workflow as copy

    small = {"datasets": {"uniprot_example": {"fasta": str(SMALL_FASTA), "min_length": 20}}}
    return copy(REPO, wf, {**small, "split": {"valid": 0.1, "test": 0.1}, **config}, "test_config.yaml")


def data_stage(fasta: Path, root: Path, min_length: int, valid: float, test: float, dataset: str) -> dict:
    """clean + split (real MMseqs2, the workflow's default split parameters) into root/clean and root/split."""
    from plm_scaling.data.clean import clean
    from plm_scaling.data.split import make_splits

    clean(fasta, root / "clean", min_length=min_length, max_length=65535)
    return make_splits(
        root / "clean",
        root / "split",
        identity=0.5,
        coverage=0.8,
        cov_mode=0,
        cluster_mode="cluster",
        sensitivity=5.7,
        valid=valid,
        test=test,
        seed=0,
        threads=2,
        dataset=dataset,
    )


@pytest.fixture(scope="session")
def embedded_split(tmp_path_factory):
    """The data stage (clean + split) on the 20,000 embedded UniProt sequences, run once per session."""
    if not EMBEDDED_FASTA.exists():
        pytest.fail(f"{EMBEDDED_FASTA} missing: run `make setup` (installs Debian's mmseqs2-examples)")
    root = tmp_path_factory.mktemp("embedded")
    return root, data_stage(EMBEDDED_FASTA, root, 10, valid=0.05, test=0.05, dataset="uniprot_example")


PAPER_LOGS = REPO.parent / "shared" / "paper_logs"


@pytest.fixture(scope="session")
def paper_table():
    """The authors' released logs (../shared/paper_logs) as one tidy table."""
    if not PAPER_LOGS.is_dir():
        pytest.fail(f"{PAPER_LOGS} missing: the released logs are test data (shared/ beside the checkout)")
    import warnings

    from plm_scaling.analysis.logs import ingest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ingest(PAPER_LOGS)


@pytest.fixture(scope="session")
def small_manifest(tmp_path_factory):
    """The data stage on the 300-sequence fixture (real MMseqs2), for training tests."""
    root = tmp_path_factory.mktemp("small_data")
    data_stage(SMALL_FASTA, root, 20, valid=0.1, test=0.1, dataset="small")
    return root / "split" / "manifest.json"


@pytest.fixture(scope="session")
def tiny_clm_run(small_manifest, tmp_path_factory):
    """One finished and evaluated tiny CLM run, trained once per session with the terminal progress bar forced on:
    (run folder, the train command's output). Tests that only need some finished run share it."""
    run_dir = tmp_path_factory.mktemp("tiny_clm") / "clm"
    proc = run_cli("train", *tiny_overrides(small_manifest, run_dir, "trainer.progress=rich"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    from plm_scaling.cli import main

    assert main(["evaluate", str(run_dir)]) == 0  # in this process: no second interpreter start-up
    return run_dir, proc.stdout + proc.stderr


def tiny_overrides(manifest, run_dir, *extra):
    """A run of a few seconds: 6k-parameter model, context 32, 10 validations."""
    return [
        f"data.manifest={manifest}",
        f"run.dir={run_dir}",
        "model.target_params=5000",
        "model.context=32",
        "budget.flops=4e9",
        "data.valid_windows=16",
        "logger=none",
        "trainer.threads=1",
        *extra,
    ]


# The workflow module that takes longest (the smoke study, its chaos run): collected first, so that `make test`'s
# two pytest-xdist workers (--dist loadfile) give it one worker from the start and the other modules the other.
FIRST = "tests/workflow/test_study.py"
# The unit modules that take longest (`pytest tests/unit -n 2 --durations=25`, 2026-12-01), collected next, longest
# first: `make test`'s unit tier (--no-loadscope-reorder) hands them out before the short ones, so that no long
# module starts last and leaves one worker running it alone (test_paper_logs.py alone holds ~100 s).
HEAVY = (
    "tests/unit/test_paper_logs.py",
    "tests/unit/test_training.py",
    "tests/unit/bad_input/test_training.py",
    "tests/unit/audit/test_chain.py",
    "tests/unit/test_tuning.py",
    "tests/unit/test_export.py",
    "tests/unit/test_split.py",
    "tests/unit/test_repeated.py",
    "tests/unit/bad_input/test_data.py",
    "tests/unit/audit/test_fit_run.py",
    "tests/unit/audit/test_lineage.py",
)


def _collection_rank(item) -> int:
    path = item.nodeid.split("::")[0]
    return -1 if path == FIRST else HEAVY.index(path) if path in HEAVY else len(HEAVY)


def pytest_collection_modifyitems(config, items):
    """The longest workflow module first (FIRST), then the longest unit modules (HEAVY); tests marked `gpu` run only
    where CUDA is available."""
    import torch

    items.sort(key=_collection_rank)  # stable: the rest keep their order
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@contextlib.contextmanager
def mlflow_server(root: Path, python: str = sys.executable, ready_timeout: float = 300, port: int = 0):
    """A real MLflow tracking server (envs/mlflow-server.sh) on 127.0.0.1, its store under root. It binds a free port
    itself (MLFLOW_PORT=0) and names it in its log: a port chosen here and freed before the server binds it could be
    taken in between. Fails the test, with the end of the server's log, if it does not answer within
    `ready_timeout` seconds. A `port` other than 0 restarts a server where it was (the store stays under root)."""
    import urllib.request

    env = {
        **os.environ,
        "PYTHON": str(python),
        "MLFLOW_PORT": str(port),
        "MLFLOW_WORKERS": "2",
        "MLFLOW_BACKEND": f"sqlite:///{root}/server.db",
        "MLFLOW_ARTIFACTS": str(root / "server-artifacts"),
        # MLflow's job runner (a runner and five Huey consumer processes per server, polling all the while): the
        # project submits no MLflow jobs, and here they would only slow the server's start and stop on 2 cores
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    log_path = root / f"mlflow-server-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["bash", str(REPO / "envs" / "mlflow-server.sh")], env=env, stdout=log, stderr=log, start_new_session=True
        )
    try:
        deadline = time.monotonic() + ready_timeout
        uri = None
        while True:
            text = log_path.read_text(errors="replace")
            if uri is None and (bound := re.search(r"Uvicorn running on (http://\S+)", text)):
                uri = bound.group(1)
            if uri is not None:
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"{uri}/health", timeout=2).close()
                    break
            if proc.poll() is not None:
                pytest.fail(f"the MLflow server exited ({proc.returncode}) before answering:\n{text[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the MLflow server did not answer within {ready_timeout:g} s:\n{text[-3000:]}")
            time.sleep(0.5)
        yield uri
    finally:
        end_session(proc, grace=60)  # it stops its workers, slowly on a busy machine


def kill_server(root) -> int:
    """SIGKILL every process of the MLflow server whose store is under `root` (they share its environment)."""
    mark, killed = f"MLFLOW_BACKEND=sqlite:///{root}/server.db".encode(), 0
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and mark in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


def slurm_available() -> str | None:
    """Why a one-node SLURM cluster cannot be started here, or None when it can (root, slurm-wlm and munge)."""
    import os
    import shutil

    if os.geteuid() != 0:
        return "the test SLURM cluster needs root (munged, slurmd)"
    missing = [exe for exe in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(exe) is None]
    return f"not installed: {', '.join(missing)} (make setup installs slurm-wlm and munge)" if missing else None


def free_port() -> int:
    """A port that was free a moment ago. It is released before the caller's server binds it, so another process may
    take it in between: callers retry with another one (slurm_cluster)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def slurm_cluster(root: Path, attempts: int = 4):
    """A real one-node SLURM cluster (envs/slurm-cluster.sh) with its state under root, on free ports; yields the
    environment (SLURM_CONF) for its client commands. The caller checks slurm_available() first. SLURM cannot bind a
    port it is handed, so a port taken after free_port() (the script exits 3) is retried with new ones."""
    script = REPO / "envs" / "slurm-cluster.sh"
    for _ in range(attempts):
        env = {**os.environ, "SLURMCTLD_PORT": str(free_port()), "SLURMD_PORT": str(free_port())}
        start = run_bounded(["bash", script, "start", root], timeout=180, env=env)
        if start.returncode != 3:
            break
    assert start.returncode == 0, start.stderr
    try:
        yield {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
    finally:
        run_bounded(["bash", script, "stop", root], timeout=120)


SLURM_FINAL_STATES = {"CANCELLED", "COMPLETED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
SLURM_FINAL_STATES |= {"OUT_OF_MEMORY", "REVOKED", "SPECIAL_EXIT"}


def slurm_job_state(job_id: str, env: dict) -> str:
    """The job's state as squeue reports it (finished jobs too, for MinJobAge, 5 min), '' when squeue does not
    answer or no longer knows the job."""
    try:
        out = subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T"], env=env, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def cancel_slurm_job(job_id: str, env: dict, timeout: float = 120) -> bool:
    """scancels a job and waits until it has ended: True if it ended cancelled, False if it finished on its own
    first (a job that ends between the caller's squeue and this scancel: not an error). scancel's exit status
    answers neither: depending on the SLURM version it fails, or not, for a job that has already finished."""
    cancel = subprocess.run(["scancel", job_id], env=env, capture_output=True, text=True, timeout=60)
    deadline = time.monotonic() + timeout
    while (state := slurm_job_state(job_id, env)) not in SLURM_FINAL_STATES:
        if time.monotonic() > deadline:
            pytest.fail(
                f"SLURM job {job_id} still {state or 'unknown to squeue'} {timeout:g} s after scancel "
                f"(exit status {cancel.returncode}: {cancel.stderr.strip()})"
            )
        time.sleep(0.2)
    return state == "CANCELLED"
