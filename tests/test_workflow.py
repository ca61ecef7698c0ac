"""Real Snakemake runs of the data stage on a small fixture, in a scratch working directory."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import REPO, SMALL_FASTA

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
                           *args], capture_output=True, text=True)  # fmt: skip


def make_config(workdir: Path, **overrides) -> None:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["datasets"] = {"small": {"fasta": str(SMALL_FASTA), "min_length": 20}}
    cfg.update(overrides)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))


def test_data_stage_runs_and_is_complete(tmp_path):
    make_config(tmp_path)
    dry = snakemake(tmp_path, "-n")
    assert dry.returncode == 0, dry.stderr
    for rule in ("clean_fasta", "split_dataset", "dataset_stats"):
        assert rule in dry.stdout

    run = snakemake(tmp_path, "--cores", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    data = tmp_path / "results" / "data" / "small"
    manifest = json.loads((data / "split" / "manifest.json").read_text())
    assert sum(s["sequences"] for s in manifest["splits"].values()) == manifest["clean"]["records_kept"]
    assert manifest["clean"]["records_read"] == 300 and manifest["clean"]["min_length"] == 20
    assert (data / "stats.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for rule in ("clean_fasta", "split_dataset", "dataset_stats"):
        assert (tmp_path / "results" / "logs" / "data" / rule / "small.log").exists()
        assert (tmp_path / "results" / "benchmarks" / "data" / rule / "small.tsv").exists()

    again = snakemake(tmp_path, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_unknown_config_key_is_rejected_by_the_schema(tmp_path):
    make_config(tmp_path, split={"identiy": 0.5})
    proc = snakemake(tmp_path, "-n")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "config key split: Additional properties are not allowed ('identiy' was unexpected)" in out


def test_schema_fills_defaults(tmp_path):
    make_config(tmp_path)
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    del cfg["split"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "-n", "--printshellcmds")
    assert proc.returncode == 0, proc.stderr
    assert "--identity 0.5 --coverage 0.8" in proc.stdout and "--max-length 65535" in proc.stdout


def test_bad_fasta_fails_the_rule_without_outputs(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nMK1V\n")
    make_config(tmp_path)
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    cfg["datasets"] = {"bad": {"fasta": str(bad)}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "--cores", "1")
    assert proc.returncode != 0
    assert "character '1' in record 1 (a) is not a protein residue" in proc.stdout + proc.stderr
    assert not (tmp_path / "results" / "data" / "bad" / "clean").exists() or not any(
        (tmp_path / "results" / "data" / "bad" / "clean").iterdir()
    )
