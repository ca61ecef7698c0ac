"""Real (tiny) Lightning training: curves, resume after kill -9, config rejection, divergence, DDP on gloo."""

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from omegaconf import OmegaConf

from plm_scaling.config_schema import ConfigError
from plm_scaling.training.plan import make_plan
from plm_scaling.training.train import compose_config

from ..conftest import cli, run_cli, tiny_overrides


def read_curve(run_dir):
    with open(run_dir / "curve.csv") as fh:
        return list(csv.DictReader(fh))


def test_tiny_clm_run_logs_a_curve_and_finishes(small_manifest, tmp_path, capsys):
    run_dir = tmp_path / "clm"
    proc = run_cli("train", *tiny_overrides(small_manifest, run_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    done = json.loads((run_dir / "run.json").read_text())
    curve = read_curve(run_dir)
    assert len(curve) == 10  # >= 10 validation points
    assert [int(r["tokens"]) for r in curve] == sorted(int(r["tokens"]) for r in curve)
    assert float(curve[-1]["flops"]) == pytest.approx(6 * done["n"] * done["tokens"])
    assert float(curve[-1]["val_loss"]) < float(curve[0]["val_loss"])  # it learns something
    assert done["flops"] == pytest.approx(4e9, rel=0.01) and done["steps_done"] == done["steps"]
    assert (run_dir / "config.yaml").exists() and (run_dir / "final.ckpt").exists()
    assert "val_loss" in proc.stderr  # plain log lines when not on a terminal
    log = proc.stdout + proc.stderr
    for noise in ("weights_only", "LeafSpec", "Tip", "srun", "Epoch "):  # Lightning's, not actionable here
        assert noise not in log, noise
    ev = cli(capsys, "evaluate", run_dir)  # in this process: no second interpreter start-up
    assert ev.returncode == 0, ev.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 1.0 < metrics["valid_loss"] < 3.6 and 1.0 < metrics["test_loss"] < 3.6
    assert metrics["valid_targets"] > 1000


def test_progress_bar_counts_the_runs_tokens(tiny_clm_run):
    """On a terminal (forced here with trainer.progress=rich): one bar over the run's tokens, not Lightning's epochs."""
    run_dir, output = tiny_clm_run
    tokens = json.loads((run_dir / "run.json").read_text())["tokens"]
    assert f"{tokens:,}/{tokens:,} tokens" in output and "Epoch" not in output


def kill_midway(overrides: list[str], run_dir, rows: int = 4) -> int:
    """Start a training run, kill -9 it once curve.csv holds `rows` of its 10 validations, and return the step of
    the checkpoint it left (asserting that the kill landed before the run finished)."""
    cmd = [sys.executable, "-m", "plm_scaling.cli", "train", *overrides]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not (run_dir / "curve.csv").exists() or len(read_curve(run_dir)) < rows):
        time.sleep(0.05)
        assert proc.poll() is None, "finished before it could be killed"
    assert proc.poll() is None, f"no {rows} validations within 120 s"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (run_dir / "run.json").exists() and (run_dir / "checkpoints" / "last.ckpt").exists()
    from plm_scaling.training.checks import checkpoint_step

    return checkpoint_step(run_dir / "checkpoints" / "last.ckpt")


def adam_steps(ckpt) -> set[int]:
    """AdamW's step counts in a checkpoint's optimizer state (one per parameter): the optimizer's own record of how
    many updates it made, which a resume that restored the weights but not the optimizer would restart."""
    import torch

    state = torch.load(ckpt, map_location="cpu", weights_only=True)["optimizer_states"][0]["state"]
    return {int(s["step"]) for s in state.values()}


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")  # Lightning, on resume
def test_resume_after_kill_gives_the_same_final_metrics(small_manifest, tiny_clm_run, tmp_path, capsys):
    """kill -9 mid-run, then the same command: the run continues from its checkpoint and ends where an
    uninterrupted run (the session's tiny CLM run; only its progress display differs) ends. Training is
    deterministic, so a rerun that silently started over would end the same: run.json's resumed_from_step, the
    trainer's own step at its first batch, and AdamW's step count tell the two apart."""
    whole = tiny_clm_run[0]
    killed = tmp_path / "killed"
    step = kill_midway(tiny_overrides(small_manifest, killed), killed)
    again = cli(capsys, "train", *tiny_overrides(small_manifest, killed))  # in this process: no interpreter start-up
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming {killed} from its checkpoint at step {step}" in again.stdout
    a, b = (json.loads((d / "run.json").read_text()) for d in (whole, killed))
    assert 0 < step < b["steps"] and b["resumed_from_step"] == step and a["resumed_from_step"] == 0
    assert adam_steps(killed / "final.ckpt") == adam_steps(whole / "final.ckpt") == {b["steps"]}
    assert b["final_val_loss"] == a["final_val_loss"]
    assert [r["val_loss"] for r in read_curve(killed)] == [r["val_loss"] for r in read_curve(whole)]
    # byte for byte (line ends included): the audit compares its sha256 with the one training logged
    assert (killed / "curve.csv").read_bytes() == (whole / "curve.csv").read_bytes()
    # a finished run whose run.json is gone (Snakemake reruns a job after a code change) resumes at its last step:
    # nothing is left to train, and its final loss is the last validation's, not 0 (in this process: no start-up)
    (killed / "run.json").unlink()
    assert cli(capsys, "train", *tiny_overrides(small_manifest, killed)).returncode == 0
    done = json.loads((killed / "run.json").read_text())
    assert done["resumed_from_step"] == done["steps_done"] == done["steps"]
    assert done["final_val_loss"] == a["final_val_loss"] == float(read_curve(killed)[-1]["val_loss"]) > 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.widht=3"], "model.widht"),
        (["budget.flops=1e3"], "config key budget.flops: the budget (.*) is smaller than one optimizer step"),
        (["data.manifest=/nope/manifest.json"], "config key data.manifest: /nope/manifest.json not found"),
        (["model.n_layers=2"], "give all three or none"),
        (["model.n_layers=1", "model.d_model=30", "model.n_heads=4"], "not divisible by model.n_heads"),
        (["objective=mlm", "objective.mask_ratio=1.5"], "config key objective.mask_ratio"),
        (["budget.tokens=1e6"], "config keys budget.flops, budget.tokens: give exactly one"),
    ],
)
def test_bad_configs_are_rejected_before_training(small_manifest, tmp_path, overrides, message, capsys):
    proc = cli(capsys, "train", *tiny_overrides(small_manifest, tmp_path / "r"), *overrides)  # in this process
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("plm-scaling: error:"), proc.stderr
    import re

    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_composed_config_is_saved_and_a_different_one_refused(small_manifest, tiny_clm_run, capsys):
    run_dir = tiny_clm_run[0]
    same = [*tiny_overrides(small_manifest, run_dir, "trainer.progress=rich")]
    assert (run_dir / "config.yaml").read_text() == OmegaConf.to_yaml(compose_config(same))
    names = ("run.json", "curve.csv", "final.ckpt")
    kept = {name: (run_dir / name).read_bytes() for name in names}
    stamps = {name: (run_dir / name).stat().st_mtime_ns for name in names}  # a retrain would rewrite equal bytes
    assert cli(capsys, "train", *same).returncode == 0  # the finished run, returned as it is: nothing retrained
    assert {name: (run_dir / name).read_bytes() for name in kept} == kept
    assert {name: (run_dir / name).stat().st_mtime_ns for name in names} == stamps
    from plm_scaling.training.train import train

    assert train(same) == json.loads(kept["run.json"])  # what a caller (the workflow) gets back
    proc = cli(capsys, "train", *tiny_overrides(small_manifest, run_dir, "trainer.progress=rich", "seed=3"))
    assert proc.returncode == 2 and "holds a run with a different config" in proc.stderr


@pytest.mark.parametrize("target,flops", [(5000, 1e9), (12000, 1e9), (30000, 1e10), (816, 1e11), (38800, 1e12)])
def test_budget_is_met_within_one_percent(small_manifest, tmp_path, target, flops):
    """Whole validation intervals once rounded small runs up by as much as 94% (1e8 -> 1.94e8 FLOPs)."""
    cfg = compose_config(
        [*tiny_overrides(small_manifest, tmp_path), f"model.target_params={target}", f"budget.flops={flops}"]
    )
    p = make_plan(cfg)
    assert p.flops == pytest.approx(flops, rel=0.01)
    assert p.evals >= 10  # a loss-vs-compute curve of at least 10 points


@pytest.mark.parametrize("target", [816, 38800])
def test_a_budget_counted_in_full_trains_fewer_tokens_by_the_models_own_overhead(small_manifest, tmp_path, target):
    """budget.count=full: the full FLOPs (attention scores and output layer too) meet the budget, not 6·N·D."""
    base = [*tiny_overrides(small_manifest, tmp_path), f"model.target_params={target}", "budget.flops=1e11"]
    paper, full = (make_plan(compose_config([*base, f"budget.count={c}"])) for c in ("paper", "full"))
    assert (paper.flops_count, full.flops_count) == ("paper", "full")
    assert paper.flops == pytest.approx(1e11, rel=0.01) and full.flops_full == pytest.approx(1e11, rel=0.01)
    ratio = paper.flops_per_token_full / paper.flops_per_token
    assert full.tokens == pytest.approx(paper.tokens / ratio, rel=0.02) and ratio > 1.05


def test_budget_that_no_schedule_meets_is_refused_naming_the_key(small_manifest, tmp_path, capsys):
    cfg = compose_config([*tiny_overrides(small_manifest, tmp_path), "budget.flops=1e8"])  # 10.3 steps
    with pytest.raises(ConfigError, match=r"config key budget.flops: 10.3 optimizer steps .* within 1%"):
        make_plan(cfg)
    proc = cli(capsys, "train", *tiny_overrides(small_manifest, tmp_path / "r", "budget.flops=1e8"))  # in this process
    assert proc.returncode == 2 and "budget.flops" in proc.stderr and not (tmp_path / "r").exists()


def test_divergence_stops_with_a_clear_message(small_manifest, tmp_path, capsys):
    proc = cli(capsys, "train", *tiny_overrides(small_manifest, tmp_path / "r", "optim.lr=1e4", "optim.grad_clip=1e9"))
    assert proc.returncode == 2
    assert "diverged" in proc.stderr and not (tmp_path / "r" / "run.json").exists()


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(small_manifest, tmp_path):
    proc = run_cli(
        "train", *tiny_overrides(small_manifest, tmp_path / "ddp", "trainer=ddp_cpu", "data.valid_windows=8")
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert done["steps_done"] == done["steps"] and len(read_curve(tmp_path / "ddp")) == 10
    assert done["world"] == 2 and done["batch_per_device"] * 2 == done["batch_sequences"]  # both batches logged


def test_a_hand_started_run_is_named_as_a_study_names_its_point(small_manifest, tmp_path):
    """One convention: the size asked for (model.target_params), not the N the shape rounds it to."""
    from plm_scaling.study.sweeps import sweep_points

    cfg = compose_config(tiny_overrides(small_manifest, tmp_path, "model.target_params=12000", "budget.flops=1e10"))
    p = make_plan(cfg)
    study = {
        "objectives": ["clm"],
        "sizes": [12000],
        "budgets": [1e10],
        "seeds": [0],
        "overrides": [],
        "point_overrides": {},
    }
    assert [p.sweep_point] == list(sweep_points(study)) and p.n != 12000
    assert cfg.run.id is None  # planning derives; it does not write into the config
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.steps = 1


def test_unknown_key_error_is_a_config_error(small_manifest, tmp_path):
    with pytest.raises(ConfigError, match="model.widht"):
        compose_config(tiny_overrides(small_manifest, tmp_path, "model.widht=3"))


def test_long_runs_take_larger_batches_but_keep_min_steps():
    from plm_scaling.training import recipe

    batches = [recipe.batch_sequences(3168, tokens, 128) for tokens in (1e5, 3e6, 1e7, 3e7, 1e9)]
    assert batches == sorted(batches) and batches[0] == recipe.batch_sequences(3168) == 8
    assert batches[-1] == recipe.LONG_RUN_BATCH
    for tokens, batch in zip((1e5, 3e6, 1e7, 3e7, 1e9), batches):
        if batch > 8:  # raised only while the run keeps MIN_STEPS steps, and as far as that allows
            assert tokens / (batch * 128) >= recipe.MIN_STEPS
        if batch < recipe.LONG_RUN_BATCH:
            assert tokens / (2 * batch * 128) < recipe.MIN_STEPS
    assert recipe.batch_sequences(1e8, 1e12, 1024) == recipe.batch_sequences(1e8)  # already above the long-run batch


@pytest.mark.slow
@pytest.mark.parametrize("trainer", [["trainer.compile=true"], pytest.param(["trainer=gpu"], marks=pytest.mark.gpu)])
def test_compiled_run_evaluates_and_resumes(small_manifest, tmp_path, trainer, capsys):
    """torch.compile (as trainer=gpu uses it) must leave checkpoints that evaluate and resume load strictly; on a
    GPU, bf16 with the fused AdamW and gradient clipping must train at all."""
    run_dir = tmp_path / "compiled"
    first = run_cli("train", *tiny_overrides(small_manifest, run_dir, *trainer))
    assert first.returncode == 0, first.stderr[-2000:]
    import torch

    keys = torch.load(run_dir / "final.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert keys and all(k.startswith("model.") for k in keys)
    ev = cli(capsys, "evaluate", run_dir)  # in this process: evaluate compiles nothing, it loads the checkpoint
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert json.loads((run_dir / "metrics.json").read_text())["valid_loss"] < 3.6
    # Killed mid-run and run again: its last checkpoint loads into a compiled module and training continues there.
    killed = tmp_path / "killed"
    step = kill_midway(tiny_overrides(small_manifest, killed, *trainer), killed)
    again = run_cli("train", *tiny_overrides(small_manifest, killed, *trainer))
    assert again.returncode == 0, again.stderr[-2000:]
    a, b = (json.loads((d / "run.json").read_text()) for d in (run_dir, killed))
    assert 0 < step < b["steps"] and b["resumed_from_step"] == step and b["steps_done"] == b["steps"]
    assert adam_steps(killed / "final.ckpt") == {b["steps"]}  # the optimizer's state continued too
    if trainer == ["trainer.compile=true"]:  # on the CPU the compiled run is deterministic: it ends where one run ends
        assert b["final_val_loss"] == pytest.approx(a["final_val_loss"], rel=1e-6)
