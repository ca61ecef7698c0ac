"""Bad input that only a Snakemake run shows: a study file or config that stops the workflow at parse time in one
line (dry runs), a study's datasets file that would redefine a dataset, `null` on the command line, overrides that
must reach the rules' shell quoted, an interpreter whose path holds a space. The commands' own refusals are
tests/unit/bad_input/."""

import re
import subprocess
import sys

import pytest
import yaml

from ..conftest import REPO, SMALL_FASTA, copy_workflow, run_snakemake


def _workflow_with_study(tmp_path, study: dict, **config):
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "s.yaml").write_text(yaml.safe_dump(study))
    return copy_workflow(tmp_path, study="s", study_dir=str(studies), paper_logs=None, **config)


STUDY_CASES = {
    "unknown_key": (
        {"dataset": "uniprot_example", "objectives": ["clm"], "sizes": [5000], "budgets": [4e9], "budjets": [1]},
        r"s\.yaml: .*budjets",
    ),
    "unknown_dataset": (
        {"dataset": "nope", "objectives": ["clm"], "sizes": [5000], "budgets": [4e9]},
        r"s\.yaml: dataset 'nope' is not a key of config datasets",
    ),
    "overrides_not_a_list": (
        {
            "dataset": "uniprot_example",
            "objectives": ["clm"],
            "sizes": [5000],
            "budgets": [4e9],
            "overrides": "model.context=32",
        },
        r"s\.yaml: .*overrides",
    ),
}


@pytest.mark.parametrize("case", sorted(STUDY_CASES))
def test_bad_study_file_stops_the_workflow_in_one_line(case, tmp_path):
    study, pattern = STUDY_CASES[case]
    cfg = _workflow_with_study(tmp_path, study)
    proc = run_snakemake(tmp_path, tmp_path, cfg, "-n")
    assert proc.returncode != 0 and re.search(pattern, proc.stdout + proc.stderr), (proc.stdout + proc.stderr)[-2000:]
    assert not (tmp_path / "results").exists()


def test_a_study_brings_its_datasets_file_but_redefines_no_dataset(tmp_path):
    """Study key datasets_file adds its datasets to config (their data stage runs); one config.yaml already defines
    must keep its values there."""
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"datasets": {"extra": {"fasta": str(SMALL_FASTA)}}}))
    study = {"dataset": "extra", "datasets_file": "mine.yaml", "objectives": ["clm"], "sizes": [5000], "budgets": [4e9]}
    cfg = _workflow_with_study(tmp_path, study)
    proc = run_snakemake(tmp_path, tmp_path, cfg, "-n")
    assert proc.returncode == 0 and "dataset=extra" in proc.stdout, (proc.stdout + proc.stderr)[-2000:]
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"datasets": {"uniprot_example": {"fasta": str(SMALL_FASTA)}}}))
    bad = run_snakemake(tmp_path, tmp_path, cfg, "-n")
    assert bad.returncode != 0
    assert (
        "mine.yaml: dataset 'uniprot_example' differs from config key datasets.uniprot_example"
        in bad.stdout + bad.stderr
    )


def test_null_on_the_command_line_means_null(tmp_path):
    cfg = copy_workflow(tmp_path, study=None)
    proc = run_snakemake(tmp_path, tmp_path, cfg, "-n", "--config", "paper_logs=null")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
    assert "ingest_paper_logs" not in proc.stdout
    bad = run_snakemake(tmp_path, tmp_path, cfg, "-n", "--config", "paper_logs=/no/such/logs")
    assert bad.returncode != 0 and "config key paper_logs: folder /no/such/logs not found" in bad.stdout + bad.stderr


@pytest.mark.slow
def test_study_overrides_never_reach_a_shell_unquoted(tmp_path):
    """One point carries a command substitution, the other a legitimately quoted Hydra value: the first fails
    without running anything, the second trains with its value intact."""
    marker = tmp_path / "injected"
    study = {
        "dataset": "uniprot_example",
        "objectives": ["clm", "mlm"],
        "sizes": [5000],
        "budgets": [4e9],
        "overrides": ["model.context=32", "data.valid_windows=16"],
        "point_overrides": {
            "clm_N5000_C4e09_s0": [f"optim.lr=auto'$(touch {marker})'"],
            "mlm_N5000_C4e09_s0": ["+tags.note='a b'"],
        },
    }
    cfg = _workflow_with_study(tmp_path, study, split={"valid": 0.1, "test": 0.1})
    proc = run_snakemake(tmp_path, tmp_path, cfg, "--cores", "2", "--keep-going", "--until", "train")
    assert proc.returncode != 0 and not marker.exists()
    runs = tmp_path / "results" / "studies" / "s" / "runs"
    assert not (runs / "clm_N5000_C4e09_s0" / "run.json").exists()
    done = runs / "mlm_N5000_C4e09_s0"
    assert (done / "run.json").exists()
    assert yaml.safe_load((done / "config.yaml").read_text())["tags"]["note"] == "a b"


@pytest.mark.parametrize(
    "config, pattern",
    [
        ({"study": "../../x"}, r"config key study: '\.\./\.\./x' is not a safe name"),
        ({"datasets": {"..": {"fasta": "x.fasta"}}}, r"config key datasets: '\.\.' is not a safe name"),
    ],
    ids=["study", "dataset"],
)
def test_unsafe_names_stop_the_workflow_at_config_validation(config, pattern, tmp_path):
    cfg = copy_workflow(tmp_path, paper_logs=None, **config)
    proc = run_snakemake(tmp_path, tmp_path, cfg, "-n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and re.search(pattern, out), out[-2000:]
    assert not (tmp_path / "results").exists() and not (tmp_path.parent / "x").exists()


def test_workflow_runs_from_an_interpreter_whose_path_has_a_space(tmp_path):
    """Rules call the CLI through the interpreter that runs Snakemake: its path reaches the shell quoted."""
    spaced = tmp_path / "my envs" / "venv"
    spaced.parent.mkdir()
    spaced.symlink_to(REPO / ".venv" if (REPO / ".venv").is_dir() else sys.prefix, target_is_directory=True)
    cfg = copy_workflow(tmp_path, study=None, paper_logs=None)
    proc = subprocess.run(
        [
            str(spaced / "bin" / "python"),
            "-m",
            "snakemake",
            "-s",
            str(tmp_path / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(cfg),
            "--cores",
            "1",
            "--until",
            "clean_fasta",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
    assert (tmp_path / "results" / "data" / "uniprot_example" / "clean" / "clean.json").exists()
