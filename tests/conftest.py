"""Shared fixtures: paths, FASTA writers, and one real run of the data stage on the embedded dataset."""

from __future__ import annotations

import contextlib
import gzip
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
EMBEDDED_FASTA = Path("/usr/share/doc/mmseqs2/example-data/DB.fasta.gz")
SMALL_FASTA = REPO / "tests" / "data" / "small.fasta.gz"


@pytest.fixture
def write_fasta(tmp_path):
    """write_fasta(text or bytes, name, gz=False) -> path of a new input file."""

    def write(content: str | bytes, name: str = "in.fasta", gz: bool = False) -> Path:
        data = content.encode() if isinstance(content, str) else content
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return write


def cli(capsys, *args):
    """The real command line, in this process (no interpreter start-up per case): (returncode, stderr)."""
    from plm_scaling.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as done:  # argparse's usage errors
        code = done.code
    return SimpleNamespace(returncode=code, stderr=capsys.readouterr().err)


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plm_scaling.cli", *map(str, args)], capture_output=True, text=True)


def run_snakemake(workflow: Path, workdir: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    """Real Snakemake: the Snakefile of `workflow`, run in `workdir` with `configfile`."""
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
    return subprocess.run(cmd, capture_output=True, text=True)


def copy_workflow(wf: Path, **config) -> Path:
    """A copy of the workflow in `wf` (so a test may edit its code or config) and its config file, the project's
    config.yaml with the small FASTA fixture as its dataset, updated with `config`."""
    import shutil

    import yaml

    for item in ("Snakefile", "rules", "config", "profiles", "src", "envs"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, wf / item)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg.update(
        {
            "datasets": {"uniprot_example": {"fasta": str(SMALL_FASTA), "min_length": 20}},
            "split": {"valid": 0.1, "test": 0.1},
            "mlflow": {"tracking_uri": f"sqlite:///{wf}/results/mlflow.db", "experiment": "plm-scaling"},
            **config,
        }
    )
    path = wf / "test_config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


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
    ev = run_cli("evaluate", run_dir)
    assert ev.returncode == 0, ev.stderr[-2000:]
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


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` run only where CUDA is available."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@contextlib.contextmanager
def mlflow_server(root: Path):
    """A real MLflow tracking server (envs/mlflow-server.sh) on a free port of 127.0.0.1, its store under root."""
    import os
    import time
    import urllib.request

    port = free_port()
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "MLFLOW_PORT": str(port),
        "MLFLOW_WORKERS": "2",
        "MLFLOW_BACKEND": f"sqlite:///{root}/server.db",
        "MLFLOW_ARTIFACTS": str(root / "server-artifacts"),
    }
    log = open(root / "mlflow-server.log", "w")
    proc = subprocess.Popen(
        ["bash", str(REPO / "envs" / "mlflow-server.sh")], env=env, stdout=log, stderr=log, start_new_session=True
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=1)
                break
            except OSError:
                assert proc.poll() is None, (root / "mlflow-server.log").read_text()[-2000:]
                time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def slurm_available() -> str | None:
    """Why a one-node SLURM cluster cannot be started here, or None when it can (root, slurm-wlm and munge)."""
    import os
    import shutil

    if os.geteuid() != 0:
        return "the test SLURM cluster needs root (munged, slurmd)"
    missing = [exe for exe in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(exe) is None]
    return f"not installed: {', '.join(missing)} (make setup installs slurm-wlm and munge)" if missing else None


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def slurm_cluster(root: Path):
    """A real one-node SLURM cluster (envs/slurm-cluster.sh) with its state under root, on free ports; yields the
    environment (SLURM_CONF) for its client commands. The caller checks slurm_available() first."""
    import os

    script = REPO / "envs" / "slurm-cluster.sh"
    env = {**os.environ, "SLURMCTLD_PORT": str(free_port()), "SLURMD_PORT": str(free_port())}
    start = subprocess.run(["bash", str(script), "start", str(root)], env=env, capture_output=True, text=True)
    assert start.returncode == 0, start.stderr
    try:
        yield {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
    finally:
        subprocess.run(["bash", str(script), "stop", str(root)], check=False)
