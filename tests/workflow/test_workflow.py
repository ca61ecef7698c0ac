"""Real Snakemake runs of the data stage on a small fixture, in a scratch working directory."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ..conftest import REPO, SMALL_FASTA, run_snakemake


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(REPO, workdir, workdir / "config.yaml", *args)


def make_config(workdir: Path, **overrides) -> None:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["datasets"] = {"small": {"fasta": str(SMALL_FASTA), "min_length": 20}}
    cfg["paper_logs"] = None  # the paper stage has tests of its own
    cfg["study"] = None
    cfg.update(overrides)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))


def _drawn_by(draw) -> list:
    """The matplotlib figures that draw() saves (savefig wrapped while it runs), to check what they plot."""
    from matplotlib.figure import Figure

    figures, save = [], Figure.savefig

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return save(fig, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", keep)
        draw()
    return figures


def _check_stats_figure(split: Path, png: Path, again: Path) -> None:
    """stats.png is the drawing of this split (drawn again here: the same bytes), and that drawing plots every
    sequence's length (each split's length histogram, weighted 1/n, sums to 1) and each split's composition."""
    from plm_scaling.data.shards import Shard
    from plm_scaling.data.stats import SPLITS, composition, plot_stats

    (figure,) = _drawn_by(lambda: plot_stats(split, again))
    assert again.read_bytes() == png.read_bytes()
    lengths_ax, composition_ax = figure.axes[:2]
    shards = [Shard.open(split / name) for name in SPLITS]
    steps = [p.get_path().vertices[1:-1:2, 1] for p in lengths_ax.patches]  # step outlines: (edge, height) pairs
    assert len(steps) == len(shards) and all(sum(h) == pytest.approx(1) for h in steps)
    bars = np.array([p.get_height() for p in composition_ax.patches]).reshape(len(shards), -1)
    np.testing.assert_allclose(bars, [composition(shard) for shard in shards], rtol=1e-12)


STUDY_SPLIT = {"valid": 0.1, "test": 0.1}  # the split of the study tests' data (of 300 sequences)


@pytest.fixture(scope="module")
def data_stage(tmp_path_factory):
    """The data stage of the small fixture through Snakemake, once: (workdir, dry run before, run, dry run after).
    The study tests start from copies of its workdir (its results and Snakemake's records of them), as a user runs
    studies on a dataset prepared before: they train, evaluate, filter and audit, but do not split it again."""
    workdir = tmp_path_factory.mktemp("data_stage")
    make_config(workdir, split=STUDY_SPLIT)
    dry = snakemake(workdir, "-n")
    run = snakemake(workdir, "--cores", "2") if dry.returncode == 0 else dry
    return workdir, dry, run, snakemake(workdir, "-n")


def copy_of(data_stage, tmp_path: Path) -> Path:
    """A workdir of its own for a test, with the data stage done (modification times kept: up to date)."""
    return Path(shutil.copytree(data_stage[0], tmp_path / "wf", symlinks=True))


@pytest.mark.slow
def test_data_stage_runs_and_is_complete(data_stage, tmp_path):
    workdir, dry, run, again = data_stage
    assert dry.returncode == 0, dry.stderr
    for rule in ("clean_fasta", "split_dataset", "dataset_stats"):
        assert rule in dry.stdout

    assert run.returncode == 0, run.stderr[-3000:]
    data = workdir / "results" / "data" / "small"
    manifest = json.loads((data / "split" / "manifest.json").read_text())
    assert sum(s["sequences"] for s in manifest["splits"].values()) == manifest["clean"]["records_kept"]
    assert manifest["clean"]["records_read"] == 300 and manifest["clean"]["min_length"] == 20
    _check_stats_figure(data / "split", data / "stats.png", tmp_path / "stats-again.png")
    for rule in ("clean_fasta", "split_dataset", "dataset_stats"):
        assert (workdir / "results" / "logs" / "data" / rule / "small.log").exists()
        assert (workdir / "results" / "benchmarks" / "data" / rule / "small.tsv").exists()

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


@pytest.mark.slow
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


@pytest.mark.slow
def test_train_and_evaluate_two_tiny_points_with_mlflow(data_stage, tmp_path):
    from mlflow import MlflowClient

    workdir = copy_of(data_stage, tmp_path)
    studies = workdir / "studies"
    studies.mkdir()
    # Two grids (sweeps), one per objective: the study is their union.
    (studies / "two.yaml").write_text(
        yaml.safe_dump(
            {
                "dataset": "small",
                "sweeps": [{"objectives": [o], "sizes": [5000], "budgets": [4e9]} for o in ("clm", "mlm")],
                "overrides": ["model.context=32", "data.valid_windows=16"],
            }
        )
    )
    make_config(workdir, study="two", study_dir=str(studies), split=STUDY_SPLIT)
    run = snakemake(workdir, "--cores", "2", "--until", "evaluate")
    assert run.returncode == 0, run.stderr[-3000:]
    # the copied data stage is up to date (Snakemake's records of it came along): it is not run again
    assert not re.search(r"\b(clean_fasta|split_dataset)\b", run.stdout + run.stderr), run.stderr[-3000:]
    runs_dir = workdir / "results" / "studies" / "two" / "runs"
    assert sorted(p.name for p in runs_dir.iterdir()) == ["clm_N5000_C4e09_s0", "mlm_N5000_C4e09_s0"]
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/results/mlflow.db")
    experiment = client.get_experiment_by_name("plm-scaling/two")  # one experiment per study
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    for r in runs:
        point = r.data.tags["sweep_point"]
        run_dir = runs_dir / point
        assert (run_dir / "mlflow_run_id.txt").read_text().strip() == r.info.run_id
        assert r.info.status == "FINISHED"
        assert {"objective", "N", "C", "D", "study", "snakemake_rule", "wildcards", "code_revision"} <= set(r.data.tags)
        assert r.data.params["objective.name"] == point[:3]
        history = client.get_metric_history(r.info.run_id, "val_loss")
        assert len(history) >= 10 and [h.step for h in history] == sorted(h.step for h in history)
        assert history[-1].step == json.loads((run_dir / "run.json").read_text())["tokens"]
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert r.data.metrics["eval/valid_loss"] == pytest.approx(metrics["valid_loss"])
        assert "config.yaml" in [a.path for a in client.list_artifacts(r.info.run_id)]
        # artifacts live beside the store under results/, not in ./mlruns of whatever folder a job ran in
        assert r.info.artifact_uri.startswith((workdir / "results" / "mlartifacts").as_uri())
    assert not (workdir / "mlruns").exists()


def test_study_with_both_grid_forms_is_rejected_in_one_line(tmp_path):
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "both.yaml").write_text(
        yaml.safe_dump(
            {
                "dataset": "small",
                "objectives": ["clm"],
                "sizes": [5000],
                "budgets": [4e9],
                "sweeps": [{"objectives": ["mlm"], "sizes": [5000], "budgets": [4e9]}],
            }
        )
    )
    make_config(tmp_path, study="both", study_dir=str(studies))
    proc = snakemake(tmp_path, "-n")
    assert proc.returncode != 0
    assert (
        "both.yaml: config key sweeps: give either sweeps or objectives, sizes, not both" in proc.stdout + proc.stderr
    )
    assert not (tmp_path / "results" / "studies").exists()


@pytest.mark.slow
def test_data_scarcity_variants_run_through_the_workflow_and_audit_to_the_filtering_run(data_stage, tmp_path):
    """The smoke size of the data-scarcity study, one seed: raw, deduplicated, perplexity-filtered (scored by the raw
    run) and code-augmented data; the ablation figure's audit reaches the filtering model's run."""
    workdir = copy_of(data_stage, tmp_path)
    studies = workdir / "studies"
    studies.mkdir()
    variants = [
        {"name": "raw"},
        {"name": "dedup", "dataset": "small_dedup"},
        {"name": "filtered", "dataset": "small_filtered"},
        {"name": "code", "aux_fraction": 0.2},
    ]
    study = {
        "dataset": "small",
        "aux_corpus": "tiny",
        "seeds": [0],
        "overrides": ["model.context=32", "data.valid_windows=16"],
        "sweeps": [{"objectives": ["clm"], "sizes": [5000], "budgets": [4e9], "data_variants": variants}],
    }
    (studies / "scarce.yaml").write_text(yaml.safe_dump(study))
    reference = "results/studies/scarce/runs/clm_N5000_C4e09_vraw_s0"
    small = {"fasta": str(SMALL_FASTA), "min_length": 20}
    datasets = {"small": small, "small_dedup": {**small, "dedup": {"identity": 0.95}}}
    datasets["small_filtered"] = {**small, "filter": {"reference_run": reference, "drop_top": 0.25}}
    corpus = {"tiny": {"folder": str(REPO / "src" / "plm_scaling" / "cli"), "pattern": "*.py"}}
    make_config(workdir, study="scarce", study_dir=str(studies), split=STUDY_SPLIT)
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    (workdir / "config.yaml").write_text(yaml.safe_dump({**cfg, "datasets": datasets, "aux_corpora": corpus}))
    run = snakemake(workdir, "--cores", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    study_dir = workdir / "results" / "studies" / "scarce"
    fit = json.loads((study_dir / "fits.json").read_text())["fits"]["clm"]["ablation"]
    assert fit["order"] == ["raw", "dedup", "filtered", "code"] and fit["error"].startswith("no seed noise")
    dedup = json.loads((workdir / "results" / "data" / "small_dedup" / "dedup" / "manifest.json").read_text())
    d, split = (
        dedup["dedup"],
        json.loads((workdir / "results" / "data" / "small" / "split" / "manifest.json").read_text()),
    )
    assert (d["identity"], d["coverage"], d["cov_mode"]) == (0.95, 0.8, 0)  # schema defaults filled in
    assert (
        sum(s["sequences"] for s in dedup["splits"].values())
        == d["records_in"] - d["exact_removed"] - d["near_removed"]
    )
    assert d["records_in"] == sum(s["sequences"] for s in split["splits"].values())  # within the raw split
    metrics = json.loads((study_dir / "runs" / "clm_N5000_C4e09_vdedup_s0" / "metrics.json").read_text())
    assert "valid_loss_common_data" in metrics  # also scored on the study dataset's held-out set
    filtered = json.loads((workdir / "results" / "data" / "small_filtered" / "filtered" / "manifest.json").read_text())
    reference_run = json.loads((workdir / reference / "run.json").read_text())
    assert filtered["filter"]["reference_mlflow_run_id"] == reference_run["run_id"]
    code_run = json.loads((study_dir / "runs" / "clm_N5000_C4e09_vcode_s0" / "run.json").read_text())
    assert code_run["shape"]["vocab_size"] == 33 + 256
    figure = study_dir / "figures" / "ablation.png"
    audit = subprocess.run(
        [sys.executable, "-m", "plm_scaling.cli", "audit", str(figure)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert f"data filtered by clm_N5000_C4e09_vraw_s0 (run {reference_run['run_id']}, FINISHED)" in audit.stdout
