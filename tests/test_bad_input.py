"""Careless and hostile input through the project's own commands: each case exits 2 with one line that names the
problem and the key or file, and leaves nothing behind. FASTA cases live in test_malformed_input.py."""

import json
import pickle
import re
import shutil
import socket
import subprocess
import sys

import pytest
import yaml

from .conftest import PAPER_LOGS, REPO, SMALL_FASTA, Payload, cli, copy_workflow, run_cli, run_snakemake, tiny_overrides


def one_line_error(proc, pattern: str) -> str:
    """The single stderr line of a failed command, checked against `pattern`."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("plm-scaling"), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


# ------------------------------------------------------------------------------------------- training config

TRAIN_CASES = {
    "flops_inf": (["budget.flops=inf"], r"config key budget\.flops: inf is not a finite number"),
    "flops_nan": (["budget.flops=nan"], r"config key budget\.flops: nan is not a finite number"),
    "flops_text": (["budget.flops=abc"], r"config key budget\.flops: 'abc' is not a number"),
    "flops_negative": (["budget.flops=-1e9"], r"config key budget\.flops: .* must be above 0"),
    "flops_unmeetable": (["budget.flops=1e8"], r"config key budget\.flops: 10\.3 optimizer steps .* within 1%"),
    "both_budgets": (["budget.tokens=1e6"], r"config keys budget\.flops, budget\.tokens: give exactly one"),
    "seed_negative": (["seed=-1"], r"config key seed: -1 must be at least 0"),
    "seed_too_large": (["seed=4294967296"], r"config key seed: 4294967296 must be below 2\^32"),
    "params_too_large": (["model.target_params=1e15"], r"config key model\.target_params: .* GiB .* the device has"),
    "params_negative": (["model.target_params=-5"], r"config key model\.target_params: -5 must be above 0"),
    "lr_negative": (["optim.lr=-1"], r"config key optim\.lr: -1 must be above 0"),
    "lr_text": (["optim.lr=fast"], r"config key optim\.lr: 'fast' is not a number"),
    "batch_zero": (["optim.batch_sequences=0"], r"config key optim\.batch_sequences: 0 must be at least 1"),
    "batch_fraction": (["optim.batch_sequences=2.5"], r"config key optim\.batch_sequences: 2\.5 is not a whole"),
    "context_one": (["model.context=1"], r"config key model\.context: 1 must be at least 2"),
    "warmup_too_large": (["optim.warmup_fraction=1.5"], r"config key optim\.warmup_fraction: 1\.5 is not in"),
    "eval_points_zero": (["trainer.eval_points=0"], r"config key trainer\.eval_points: 0 must be at least 1"),
    "mask_ratio": (["objective=mlm", "objective.mask_ratio=1.5"], r"config key objective\.mask_ratio: 1\.5"),
    "unknown_key": (["optim.lrr=1"], r"training config: .*lrr"),
    "missing_manifest": (["data.manifest=/nonexistent/manifest.json"], r"config key data\.manifest: .* not found"),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_bad_training_config_is_one_line_and_writes_nothing(case, small_manifest, tmp_path, capsys):
    extra, pattern = TRAIN_CASES[case]
    run_dir = tmp_path / "run"
    proc = cli(capsys, "train", *tiny_overrides(small_manifest, run_dir), *extra)
    one_line_error(proc, pattern)
    assert not run_dir.exists()  # so the corrected command is not refused as "a different config"


def test_train_without_a_manifest_names_the_key(tmp_path, capsys):
    """The packaged defaults leave data.manifest `???`: it comes from the workflow or the command line."""
    run_dir = tmp_path / "run"
    proc = cli(capsys, "train", f"run.dir={run_dir}", "logger=none")
    one_line_error(proc, r"config key data\.manifest: missing; give data\.manifest=")
    assert not run_dir.exists()


def test_run_dir_that_is_not_a_run_folder_is_never_written_or_deleted(small_manifest, tmp_path, capsys):
    precious = tmp_path / "config"
    shutil.copytree(REPO / "config", precious)
    before = sorted(p.relative_to(precious) for p in precious.rglob("*"))
    proc = cli(capsys, "train", "--restart-if-changed", *tiny_overrides(small_manifest, precious))
    one_line_error(proc, r"config key run\.dir: .*config is not empty and was not made by `plm-scaling train`")
    assert sorted(p.relative_to(precious) for p in precious.rglob("*")) == before
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    one_line_error(cli(capsys, "train", *tiny_overrides(small_manifest, afile)), r"is a file, not a folder")
    assert afile.read_text() == "mine"


# ------------------------------------------------------------------------------------------------ checkpoints


@pytest.fixture(scope="module")
def finished_run(small_manifest, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    assert run_cli("train", *tiny_overrides(small_manifest, run_dir)).returncode == 0
    return run_dir


CHECKPOINTS = {
    "crafted_pickle": lambda path, marker: path.write_bytes(pickle.dumps({"global_step": 3, "x": Payload(marker)})),
    "zero_bytes": lambda path, marker: path.write_bytes(b""),
    "garbage": lambda path, marker: path.write_bytes(b"not a checkpoint at all"),
    "truncated": lambda path, marker: path.write_bytes(path.read_bytes()[:3000]),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINTS))
def test_unreadable_or_crafted_checkpoint_is_refused_in_one_line(case, finished_run, small_manifest, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    config = run_dir / "config.yaml"  # the copy is this run folder's run: its run.dir is here
    config.write_text(config.read_text().replace(str(finished_run), str(run_dir)))
    (run_dir / "run.json").unlink()  # unfinished: the next train resumes from checkpoints/last.ckpt
    last = run_dir / "checkpoints" / "last.ckpt"
    marker = tmp_path / "payload-ran"
    CHECKPOINTS[case](last, marker)
    proc = cli(capsys, "train", *tiny_overrides(small_manifest, run_dir))
    one_line_error(proc, rf"{re.escape(str(last))}: not a readable training checkpoint .* delete it to restart")
    assert not marker.exists()


@pytest.mark.slow
def test_any_training_failure_marks_the_mlflow_run_failed(small_manifest, tmp_path):
    from mlflow import MlflowClient

    split = tmp_path / "split"
    shutil.copytree(small_manifest.parent, split)
    (split / "train.tokens.u8").write_bytes(b"\x05" * 10)  # shorter than its offsets say
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    overrides = [
        *tiny_overrides(split / "manifest.json", tmp_path / "run"),
        f"logger.tracking_uri={uri}",
        "logger=mlflow",
        "logger.experiment=bad",
    ]
    overrides.remove("logger=none")
    proc = run_cli("train", *overrides)  # fails mid-run, after MLflow and Lightning have logged: the last line
    assert proc.returncode == 2
    assert re.search(
        r"^plm-scaling: error: .*train\.tokens\.u8: 10 tokens but offsets end at", proc.stderr.splitlines()[-1]
    )
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("bad").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


# ------------------------------------------------------------------------------------------- analysis inputs


def _released_layout(tmp_path, rows: str, where: str = "gpt_valid/approach3_flops/85M_flops") -> str:
    folder = tmp_path / "logs" / where
    folder.mkdir(parents=True)
    (folder / "run-gpt_85M-tag-lm-loss-validation_valid_lm loss validation vs gigaflos.csv").write_text(
        "Wall time,Step,Value\n" + rows
    )
    return str(tmp_path / "logs")


ANALYSIS_CASES = {
    "negative_loss": (
        lambda t: ["fit", "logs", _released_layout(t, "1,100,2.5\n2,200,-1.0\n")],
        r"line 3: loss -1 is not positive",
    ),
    "short_row": (
        lambda t: ["fit", "logs", _released_layout(t, "1,100,2.5\n2,200\n")],
        r"line 3: expected 3 columns \(wall time, step, value\), found 2",
    ),
    "csv_at_top_level": (
        lambda t: ["fit", "logs", _released_layout(t, "1,100,2.5\n", where=".")],
        r"a curve outside the released layout",
    ),
    "bootstrap_negative": (
        lambda t: ["fit", "logs", str(PAPER_LOGS), "--bootstrap", "-1"],
        r"argument --bootstrap: -1 is negative",
    ),
    "plan_flops_inf": (
        lambda t: ["plan", "--objective", "clm", "--flops", "inf"],
        r"flops must be a positive finite number, got inf",
    ),
    "plan_params_negative": (
        lambda t: ["plan", "--objective", "mlm", "--params", "-1"],
        r"params must be a positive finite number, got -1",
    ),
    "plan_law_without_laws": (
        lambda t: ["plan", "--objective", "clm", "--flops", "1e20", "--law", _write(t / "law.json", '{"clm": {}}')],
        r"law\.json: no clm n_opt law",
    ),
    "plan_law_not_json": (
        lambda t: ["plan", "--objective", "clm", "--flops", "1e20", "--law", _write(t / "law.json", "n_opt: 1")],
        r"law\.json: not a JSON file",
    ),
    "parametric_short_row": (
        lambda t: _parametric(_write(t / "p.csv", "N,D,L\n1e6,1e9\n")),
        r"p\.csv: line 2: column 'L' is None",
    ),
    "parametric_p0": (
        lambda t: _parametric(_write(t / "p.csv", "N,D,L\n1e6,1e9,2\n"), "--method", "seed", "--p0", "1,2"),
        r"--p0: give 5 numbers E,A,B,alpha,beta",
    ),
}


def _parametric(csv_path: str, *extra: str) -> list[str]:
    """`plm-scaling fit parametric` on a CSV with columns N, D, L."""
    return ["fit", "parametric", csv_path, "--n-col", "N", "--d-col", "D", "--loss-col", "L", *extra]


def _write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case", sorted(ANALYSIS_CASES))
def test_bad_analysis_input_is_one_line(case, tmp_path, capsys):
    args, pattern = ANALYSIS_CASES[case]
    one_line_error(cli(capsys, *args(tmp_path)), pattern)


def test_unidentifiable_law_is_printed_with_a_warning(tmp_path):
    rows = "N,D,L\n" + "1e6,1e9,2.5\n" * 6
    proc = run_cli(*_parametric(_write(tmp_path / "six.csv", rows), "--bootstrap", "10"))
    assert proc.returncode == 0
    assert "warning: the law is not identified (N takes 1 distinct value(s)" in proc.stderr


# ------------------------------------------------------------------------------------- study files and workflow


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


# ------------------------------------------------------------------------------------------------- data stage


@pytest.mark.slow
def test_split_that_leaves_a_heldout_split_empty_is_refused(tmp_path, write_fasta, capsys):
    fasta = write_fasta(">a\nMKVLLAGHTKLMNPQRSTVWY\n>b\nACDEFGHIKLMNPQRSTVWYACD\n>c\nMMMMMKKKKKLLLLLAAAAAGGGGG\n")
    assert cli(capsys, "data", "clean", fasta, tmp_path / "clean").returncode == 0
    proc = cli(capsys, "data", "split", tmp_path / "clean", tmp_path / "split")
    one_line_error(proc, r"clean: the valid split came out empty \(train 3, valid 0, test 0 sequences")
    assert not (tmp_path / "split").exists()


def test_killed_clean_leaves_nothing_that_the_next_run_keeps(tmp_path, write_fasta):
    fasta = write_fasta(">a\nMKV\n>b\nLLA\n")
    out = tmp_path / "out"
    out.mkdir()
    orphan = out / f".all.tokens.u8.tmp-{socket.gethostname()}-999999999"  # what kill -9 leaves behind
    orphan.write_bytes(b"x" * 1000)
    foreign = out / ".all.offsets.npy.tmp-another-node-4242"  # another host's (shared disk): not ours to judge
    foreign.write_bytes(b"y")
    mine = out / "my notes.txt"
    mine.write_text("keep")
    assert run_cli("data", "clean", fasta, out).returncode == 0
    assert not orphan.exists() and foreign.exists() and mine.read_text() == "keep"
    failed = tmp_path / "never" / "made"
    assert run_cli("data", "clean", write_fasta(">a\n\n", "bad.fa"), failed).returncode == 2
    assert not (tmp_path / "never").exists()  # a failed step removes the folders it created


def _temporaries(out) -> list:
    """The temporary outputs of a running (or killed) clean in `out` that already hold bytes."""
    found = []
    for path in out.glob(".*.tmp-*") if out.exists() else []:
        try:
            found += [path] if path.stat().st_size > 0 else []
        except FileNotFoundError:  # renamed into place between the glob and the stat
            pass
    return found


def test_a_killed_clean_is_cleaned_up_by_the_next(tmp_path, write_fasta):
    """kill -9 mid-write, then the same command: it finishes and no temporary file is left. The kill lands while
    the first process is writing (its temporaries hold bytes, no final output exists), or the test proves nothing."""
    big = write_fasta("".join(f">s{i}\n{'ACDEFGHIKLMNPQRSTVWY' * 25}\n" for i in range(60_000)), "big.fa")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "plm_scaling.cli", "data", "clean", str(big), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import signal
    import time

    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not _temporaries(out):
        time.sleep(0.01)
    proc.kill()
    assert proc.wait(timeout=60) == -signal.SIGKILL, "clean finished before it could be killed: use a larger input"
    partial = [p.name for p in _temporaries(out)]
    assert partial and not (out / "clean.json").exists(), "the kill did not land mid-write"
    assert run_cli("data", "clean", big, out).returncode == 0
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name], partial
    assert json.loads((out / "clean.json").read_text())["records_kept"] == 60_000


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
