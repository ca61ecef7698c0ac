"""Bad training input: a config key (text, inf, NaN, out of range, unknown, missing), a run folder the workflow did
not make, a model beyond the device's memory, an unreadable or crafted checkpoint (resumed, evaluated or a transfer
source); each is one line naming the key or file, exit 2, before the run folder is made, and nothing the workflow
did not make is written into or deleted. A training that fails mid-run marks its MLflow run FAILED."""

import json
import pickle
import re
import shutil

import pytest
import torch
import yaml

from plm_scaling.config_schema import ConfigError, validate_config
from plm_scaling.study.sweeps import sweep_points
from plm_scaling.training import checks, pretrained
from plm_scaling.training.plan import make_plan
from plm_scaling.training.train import compose_config

from ...conftest import REPO, Payload, cli, run_cli, tiny_overrides
from . import one_line_error

# ------------------------------------------------------------------------------------------- training config

TRAIN_CASES = {
    "flops_inf": (["budget.flops=inf"], r"config key budget\.flops: inf is not a finite number"),
    "flops_nan": (["budget.flops=nan"], r"config key budget\.flops: nan is not a finite number"),
    "flops_text": (["budget.flops=abc"], r"config key budget\.flops: 'abc' is not a number"),
    "flops_negative": (["budget.flops=-1e9"], r"config key budget\.flops: .* must be above 0"),
    "flops_unmeetable": (["budget.flops=1e8"], r"config key budget\.flops: 10\.3 optimizer steps .* within 1%"),
    "both_budgets": (["budget.tokens=1e6"], r"config keys budget\.flops, budget\.tokens: give exactly one"),
    "count_unknown": (["budget.count=kaplan"], r"config key budget\.count: 'kaplan' is not one of paper, full"),
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
    "run_id_other_objective": (
        ["run.id=mlm_N5000_C1e09_s0"],
        r"config key run\.id: mlm_N5000_C1e09_s0 names objective mlm",
    ),
    "run_id_other_spelling": (
        ["run.id=clm_N5e3_C1e09_s0"],
        r"config key run\.id: .* the same point is 'clm_N5000_C1e09_s0'",
    ),
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


def test_train_help_says_which_keys_are_required_and_each_objectives_mask_ratio(capsys):
    helped = cli(capsys, "train", "--help").stdout
    rows = [line.split(None, 1) for line in helped.splitlines() if line.startswith("  ")]
    keys = {row[0]: row[1] for row in rows if len(row) == 2 and "." in row[0]}
    assert keys["run.dir"] == keys["data.manifest"] == "(required)"  # not Hydra's "???"
    assert keys["objective.mask_ratio"] == "0.0 (clm), 0.15 (mlm)"  # not clm's 0.0 alone: MLM runs mask 15 %


def test_aux_fraction_that_is_text_is_one_line(small_manifest, tmp_path, capsys):
    run_dir = tmp_path / "run"
    proc = cli(capsys, "train", *tiny_overrides(small_manifest, run_dir, "data.aux.fraction=abc"))
    one_line_error(proc, r"config key data\.aux\.fraction: 'abc' is not a number")
    assert not run_dir.exists()


# ------------------------------------------------------------------------------------------------ run folder


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


def test_folder_with_config_and_plan_but_no_marker_is_refused_and_kept(small_manifest, tmp_path, capsys):
    """A user's folder holding its own config.yaml and plan.json was deleted by --restart-if-changed."""
    mine = tmp_path / "mine"
    mine.mkdir()
    for name, text in {"config.yaml": "my: settings\n", "plan.json": "{}\n", "notes.txt": "keep me\n"}.items():
        (mine / name).write_text(text)
    before = {p.name: p.read_text() for p in mine.iterdir()}
    proc = cli(capsys, "train", "--restart-if-changed", *tiny_overrides(small_manifest, mine))
    one_line_error(proc, rf"config key run\.dir: {mine} holds config\.yaml and plan\.json but no \.plm-run .*touch ")
    assert {p.name: p.read_text() for p in mine.iterdir()} == before


def test_every_run_folder_of_train_carries_the_marker(tiny_clm_run):
    """What the refusal above asks of an old folder holds for every folder `plm-scaling train` makes."""
    assert (tiny_clm_run[0] / checks.RUN_MARKER).is_file()


# ------------------------------------------------------------------------------------------------ memory

GB24 = 24 * 10**9


def test_model_whose_activations_exceed_memory_is_refused_before_the_run_folder(
    small_manifest, tmp_path, capsys, monkeypatch
):
    """5.5e8 parameters passed at 16 bytes a parameter (8.9 GB of 24) and was killed at 23.4 GB resident."""
    monkeypatch.setattr(checks, "available_memory", lambda accelerator: GB24)
    run_dir = tmp_path / "run"
    big = ["model.target_params=5.5e8", "model.context=128", "budget.flops=1e17"]
    cfg = compose_config(tiny_overrides(small_manifest, run_dir, *big))
    pattern = (
        r"config key model\.target_params: 557,547,264 parameters need 8\.3 GiB \(weights, gradients, AdamW state\) "
        r"and [\d,.]+ GiB of activations at 128 sequences of 128 tokens \(optim\.batch_sequences, model\.context\); "
        r"the device has 22\.4 GiB"
    )
    with pytest.raises(ConfigError, match=pattern):
        make_plan(cfg)
    one_line_error(cli(capsys, "train", *tiny_overrides(small_manifest, run_dir, *big)), pattern)
    assert not run_dir.exists()


@pytest.mark.parametrize("study,memory", [("default", GB24), ("smoke", GB24), ("gpu", 80 * 10**9)])
def test_the_projects_studies_fit_their_machines(study, memory, small_manifest, tmp_path, monkeypatch):
    """The estimate is not so conservative that the project's own runs are refused: the CPU studies on a 24 GB
    machine, the GPU study (bf16, up to 3e8 parameters at batch 128 × 512) on an 80 GB GPU."""
    monkeypatch.setattr(checks, "available_memory", lambda accelerator: memory)
    spec = yaml.safe_load((REPO / "config" / "studies" / f"{study}.yaml").read_text())
    validate_config(spec, REPO / "config" / "schemas" / "config.schema.yaml", definition="study")  # as the workflow
    points = sweep_points(spec)
    assert len(points) >= 10
    for point, overrides in points.items():
        cfg = compose_config([*overrides, f"data.manifest={small_manifest}", f"run.dir={tmp_path / point}"])
        make_plan(cfg)  # raises ConfigError if refused


def test_activation_estimate_counts_batch_context_and_precision():
    from plm_scaling.model.memory import activation_bytes
    from plm_scaling.model.transformer import ModelShape

    shape = ModelShape(4, 256, 16, context=128)
    base = activation_bytes(shape, 32, "32-true")
    assert activation_bytes(shape, 64, "32-true") == 2 * base  # linear in the batch
    assert activation_bytes(shape, 32, "bf16-mixed") < 0.55 * base  # 2-byte activations, fp32 logits
    longer = ModelShape(4, 256, 16, context=256)
    assert activation_bytes(longer, 32, "32-true") > 2 * base  # the scores grow with the square of the context
    # measured on this CPU (fp32, eager): a peak 965 MB above the model at this shape, batch and 8 layers
    assert 0.9e9 < activation_bytes(ModelShape(8, 256, 16, context=128), 32, "32-true") < 1.6e9


# ------------------------------------------------------------------------------------------------ checkpoints


CHECKPOINTS = {
    "crafted_pickle": lambda path, marker: path.write_bytes(pickle.dumps({"global_step": 3, "x": Payload(marker)})),
    "zero_bytes": lambda path, marker: path.write_bytes(b""),
    "garbage": lambda path, marker: path.write_bytes(b"not a checkpoint at all"),
    "truncated": lambda path, marker: path.write_bytes(path.read_bytes()[:3000]),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINTS))
def test_unreadable_or_crafted_checkpoint_is_refused_in_one_line(case, tiny_clm_run, small_manifest, tmp_path, capsys):
    finished, run_dir = tiny_clm_run[0], tmp_path / "run"
    shutil.copytree(finished, run_dir)
    config = run_dir / "config.yaml"  # the copy is this run folder's run: its run.dir is here
    config.write_text(config.read_text().replace(str(finished), str(run_dir)))
    (run_dir / "run.json").unlink()  # unfinished: the next train resumes from checkpoints/last.ckpt
    last = run_dir / "checkpoints" / "last.ckpt"
    marker = tmp_path / "payload-ran"
    CHECKPOINTS[case](last, marker)
    proc = cli(capsys, "train", *tiny_overrides(small_manifest, run_dir, "trainer.progress=rich"))  # as it was made
    one_line_error(proc, rf"{re.escape(str(last))}: not a readable training checkpoint .* delete it to restart")
    assert not marker.exists()


def _without(key):
    def edit(ckpt, run, marker):
        data = torch.load(ckpt, weights_only=True)
        del data[key]
        torch.save(data, ckpt)

    return edit


def _other_weights(ckpt, run, marker):
    data = torch.load(ckpt, weights_only=True)
    key = next(k for k in data["state_dict"] if k.startswith("model."))
    data["state_dict"][key] = torch.zeros(3)
    torch.save(data, ckpt)


def _run_json(**changes):
    def edit(ckpt, run, marker):
        run.write_text(json.dumps({**json.loads(run.read_text()), **changes}))

    return edit


SOURCES = {
    "list": (lambda ckpt, run, marker: torch.save([1, 2], ckpt), r"holds a list, not a checkpoint's dict"),
    "no_state_dict": (_without("state_dict"), r"it has no state_dict"),
    "pickled_payload": (
        lambda ckpt, run, marker: torch.save({"state_dict": Payload(marker)}, ckpt),
        r"the weights-only loader refused it",
    ),
    "other_weights": (_other_weights, r"its weights do not fit a model of shape .* e\.g\. model\."),
    "run_json_list": (lambda ckpt, run, marker: run.write_text("[1, 2]"), r"run\.json: a JSON list, not a finished"),
    "run_json_not_json": (lambda ckpt, run, marker: run.write_text("{"), r"run\.json: not readable JSON"),
    "flops_null": (_run_json(flops=None), r"run\.json: flops is None, not a positive number"),
    "objective_other": (_run_json(objective="rlhf"), r"run\.json: objective 'rlhf' is neither clm nor mlm"),
}


@pytest.mark.parametrize("case", sorted(SOURCES))
def test_bad_transfer_source_is_one_line_before_the_run_folder(case, tiny_clm_run, small_manifest, tmp_path, capsys):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("final.ckpt", "run.json"):
        shutil.copy(tiny_clm_run[0] / name, source / name)
    edit, message = SOURCES[case]
    marker = tmp_path / "payload-ran"
    edit(source / "final.ckpt", source / "run.json", marker)
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(small_manifest, run_dir, pretrained.override(str(source / "final.ckpt")))
    one_line_error(cli(capsys, "train", *overrides), rf"config key init\.checkpoint: {source}/.*{message}")
    assert not run_dir.exists() and not marker.exists()


def test_a_finished_run_is_a_transfer_source(tiny_clm_run, small_manifest, tmp_path):
    """The checks above accept what the workflow makes."""
    ckpt = tiny_clm_run[0] / "final.ckpt"
    cfg = compose_config(tiny_overrides(small_manifest, tmp_path / "run", pretrained.override(str(ckpt))))
    init = pretrained.source(cfg, make_plan(cfg).shape)
    assert init["objective"] == "clm" and init["flops"] > 0 and init["checkpoint"] == str(ckpt.resolve())


def test_evaluate_of_a_crafted_final_checkpoint_is_one_line(tiny_clm_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_clm_run[0], run_dir)
    (run_dir / "metrics.json").unlink()
    marker = tmp_path / "payload-ran"
    torch.save({"state_dict": {"x": Payload(marker)}, "hyper_parameters": {}}, run_dir / "final.ckpt")
    proc = cli(capsys, "evaluate", run_dir)
    one_line_error(proc, rf"{run_dir}/final\.ckpt: not a readable checkpoint .*weights-only loader refused it")
    assert not marker.exists() and not (run_dir / "metrics.json").exists()


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
