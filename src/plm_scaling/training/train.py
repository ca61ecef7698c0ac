"""Train one sweep point: compose the Hydra config, plan the run (plan.py), build the module and the trainer, fit,
resume if asked.

Run folder (`run.dir`): config.yaml (the composed config), plan.json (the RunPlan), checkpoints/last.ckpt (every
validation), curve.csv (validation loss against tokens and FLOPs), mlflow_run_id.txt (mlflow_run.py), final.ckpt,
timing.json (where the process's time went, run_clock.py) and run.json when done. Running the same command again
on an unfinished folder resumes from checkpoints/last.ckpt.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..config_schema import ConfigError
from ..digests import CHECKPOINT, digest_tags
from ..io import atomic_outputs, read_json, write_json
from ..paths import train_config_dir
from . import checks, mlflow_run, pretrained
from .callbacks import (
    CURVE_COLUMNS,
    CurveLogger,
    DivergenceGuard,
    PlainProgress,
    StartStep,
    TokenProgress,
    TrainingDiverged,
    quiet_lightning,
)
from .checkpoint_io import AtomicCheckpointIO
from .data import ShardLoaders, unique_train_tokens
from .module import PLMModule
from .plan import RunPlan, make_plan
from .run_clock import RunClock
from .step_metrics import StepMetrics


def compose_config(overrides: list[str]) -> DictConfig:
    """The composed config; an unknown key or bad override is a ConfigError naming it."""
    try:
        with initialize_config_dir(config_dir=str(train_config_dir()), version_base=None):
            cfg = compose("train", overrides=list(overrides))
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"training config: {' '.join(str(err).split())}") from None
    if OmegaConf.is_missing(cfg.run, "dir"):
        raise ConfigError("config key run.dir: missing (the run's output folder)")
    return cfg


def _prepare_run_dir(cfg: DictConfig, p: RunPlan, restart_if_changed: bool) -> Path:
    run_dir = Path(cfg.run.dir)
    text = OmegaConf.to_yaml(cfg)
    if p.recipe:  # a new tuning result under the same path is another config: the run starts again
        text += f"# optim.recipe sha256: {p.recipe['sha256']}\n"
    checks.claim_run_dir(run_dir, text, restart_if_changed)
    # Atomic: a kill in the middle of this write would otherwise leave a truncated config.yaml, which the next start
    # reads as "another config" and, with --restart-if-changed, discards the run's checkpoints for.
    with atomic_outputs(run_dir / "config.yaml", run_dir / "plan.json") as (config, plan):
        config.write_text(text)
        write_json(plan, p.as_dict())
    return run_dir


def train(overrides: list[str], restart_if_changed: bool = False) -> dict:
    """Train (or resume, or return the finished result of) one sweep point. `restart_if_changed` discards a run
    folder whose saved config differs, instead of refusing (what the workflow wants when a point changed)."""
    clock = RunClock()  # from here: start-up; before: the interpreter and its imports
    cfg = compose_config(overrides)
    p = make_plan(cfg)
    init = pretrained.source(cfg, p.shape)  # checked before the run folder is written
    run_dir = _prepare_run_dir(cfg, p, restart_if_changed)
    if (run_dir / "run.json").exists():
        return read_json(run_dir / "run.json")
    if cfg.trainer.threads:
        torch.set_num_threads(int(cfg.trainer.threads))
    L.seed_everything(cfg.seed, verbose=False)
    last = run_dir / "checkpoints" / "last.ckpt"
    resume = last if last.exists() else None
    if resume is None:
        (run_dir / "curve.csv").unlink(missing_ok=True)
    else:
        step = checks.checkpoint_step(last)
        print(f"resuming {run_dir} from its checkpoint at step {step}", flush=True)
        _truncate_curve(run_dir / "curve.csv", step)
    logger = mlflow_run.logger(cfg, p, run_dir, init)
    try:
        return _fit(cfg, p, run_dir, resume, logger, init, clock)
    except BaseException as err:  # any failure, Ctrl-C included, ends the MLflow run: none stays RUNNING
        from lightning.pytorch.utilities import rank_zero_only

        if logger is not None and rank_zero_only.rank == 0:
            status = "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED"
            logger.experiment.set_terminated(logger.run_id, status)
        if isinstance(err, TrainingDiverged):
            raise RuntimeError(f"run {p.sweep_point} diverged: {err}") from None
        raise


def build_module(cfg: DictConfig, p: RunPlan) -> PLMModule:
    o = cfg.optim
    return PLMModule(
        shape=p.shape,
        objective=p.objective,
        lr=p.lr,
        weight_decay=o.weight_decay,
        betas=(o.beta1, p.beta2),
        total_steps=p.steps,
        warmup_steps=p.warmup_steps,
        min_lr_ratio=o.min_lr_ratio,
        tokens_per_step=p.tokens_per_step,
        flops_per_token=p.flops_per_token,
        flops_per_token_full=p.flops_per_token_full,
        compile=cfg.trainer.compile,
    )


def build_callbacks(cfg: DictConfig, p: RunPlan, run_dir: Path, logger, clock: RunClock) -> list:
    interactive = cfg.trainer.progress == "rich" or (cfg.trainer.progress == "auto" and sys.stderr.isatty())
    every = max(1, p.steps_per_eval // 5)
    log_every = min(cfg.trainer.lightning.log_every_n_steps, p.steps_per_eval)
    metrics = StepMetrics(log_every, p.tokens_per_step, p.flops_per_token, clock)
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", save_last=True, every_n_epochs=1, save_on_train_epoch_end=True
    )
    return [
        checkpoint,
        clock,
        StartStep(),
        CurveLogger(run_dir / "curve.csv", logger),
        metrics,
        DivergenceGuard(every=cfg.trainer.lightning.log_every_n_steps),
        TokenProgress(p.tokens, metrics) if interactive else PlainProgress(every, metrics),
    ]


def build_trainer(cfg: DictConfig, p: RunPlan, run_dir: Path, logger, clock: RunClock) -> L.Trainer:
    """Lightning's own arguments come from trainer.lightning as they are; the rest follows from the plan."""
    quiet_lightning()
    lightning = OmegaConf.to_container(cfg.trainer.lightning)
    if lightning["strategy"] == "ddp" and lightning["accelerator"] == "cpu":
        from lightning.pytorch.strategies import DDPStrategy

        lightning["strategy"] = DDPStrategy(process_group_backend="gloo")
    lightning["log_every_n_steps"] = min(lightning["log_every_n_steps"], p.steps_per_eval)
    return L.Trainer(
        **lightning,
        max_steps=p.steps,
        max_epochs=-1,  # a Lightning "epoch" here is the stretch between two validations (data.StepSampler)
        check_val_every_n_epoch=1,
        num_sanity_val_steps=0,
        gradient_clip_val=cfg.optim.grad_clip,
        logger=logger or False,
        callbacks=build_callbacks(cfg, p, run_dir, logger, clock),
        enable_progress_bar=False,  # TokenProgress draws the one bar, over tokens
        enable_model_summary=False,
        use_distributed_sampler=False,
        default_root_dir=run_dir,
        plugins=[AtomicCheckpointIO(clock)],  # a kill or a full disk mid-write keeps the previous checkpoint
    )


def _fit(
    cfg: DictConfig, p: RunPlan, run_dir: Path, resume: Path | None, logger, init: dict | None, clock: RunClock
) -> dict:
    data = ShardLoaders(
        cfg.data.manifest,
        cfg.model.context,
        p.objective,
        cfg.objective.mask_ratio,
        cfg.seed,
        batch_size=p.batch_per_device,
        steps_per_epoch=p.steps_per_eval,
        valid_windows=cfg.data.valid_windows,
        workers=cfg.trainer.loader_workers,
        aux_corpus=cfg.data.aux.corpus,
        aux_fraction=float(cfg.data.aux.fraction),
    )
    module = build_module(cfg, p)
    if init is not None and resume is None:  # a resumed run has its own weights in the checkpoint
        pretrained.load_weights(module.model, init)
    trainer = build_trainer(cfg, p, run_dir, logger, clock)
    data.global_step = lambda: trainer.global_step  # the sampler counts from here (see data.StepSampler)
    loaders = {"train_dataloaders": data.train_dataloader(), "val_dataloaders": data.val_dataloader()}
    diverged = _fit_or_record_divergence(cfg, trainer, module, loaders, resume)
    pending = run_dir / ".final.ckpt.tmp"
    trainer.save_checkpoint(pending)  # collective under DDP: every rank calls it, rank 0 writes
    if not trainer.is_global_zero:
        return {}
    start = next(c for c in trainer.callbacks if isinstance(c, StartStep)).step
    result = {
        "run_id": logger.run_id if logger else None,
        "sweep_point": p.sweep_point,
        **p.as_dict(),
        "final_val_loss": None if diverged else _final_validation(module, run_dir, trainer.global_step),
        **({"diverged": diverged} if diverged else {}),  # trainer.on_divergence=record: a tuning cell's LR too high
        "steps_done": trainer.global_step,
        # where this process's training began: > 0 only if it really continued a checkpoint (no batch left to
        # train: it began, and ended, at the checkpoint's step)
        "resumed_from_step": trainer.global_step if start is None else start,
        "unique_tokens": unique_train_tokens(data.manifest),
        **({"init": init} if init is not None else {}),  # the run it started from (transfer)
    }
    os.replace(pending, run_dir / "final.ckpt")
    with atomic_outputs(run_dir / "run.json") as (done,):  # written last: the run's completion marker
        write_json(done, result)
        if logger is not None:  # before run.json exists: a kill in between reruns this, and logs them again
            if diverged:  # Lightning ended the MLflow run FAILED; the tag says it was recorded, not lost
                logger.experiment.set_tag(logger.run_id, "diverged", diverged)
            else:
                logger.experiment.log_metric(logger.run_id, "final_val_loss", result["final_val_loss"], step=p.tokens)
            files = {"run.json": done, "curve.csv": run_dir / "curve.csv", CHECKPOINT: run_dir / CHECKPOINT}
            for key, value in digest_tags(files).items():  # the hash chain (digests.py)
                logger.experiment.set_tag(logger.run_id, key, value)
        clock.record(run_dir, logger, p.tokens_per_step, p.tokens)  # last: the finish includes the digests
    return result


def _fit_or_record_divergence(
    cfg: DictConfig, trainer: L.Trainer, module: PLMModule, loaders: dict, resume
) -> str | None:
    """Train; None when the run ended normally, or why it diverged where trainer.on_divergence is record (a tuning
    cell: a too-high LR is a result there). A divergence otherwise fails the run (train() names it)."""
    try:
        trainer.fit(module, **loaders, ckpt_path=resume, weights_only=True)  # never unpickle code from a run folder
    except TrainingDiverged as err:
        if cfg.trainer.on_divergence != "record":
            raise
        print(f"diverged, recorded (trainer.on_divergence=record): {err}", flush=True)
        curve = Path(cfg.run.dir) / "curve.csv"
        if not curve.exists():  # diverged before its first validation: a curve without points, as every run has one
            curve.write_bytes((",".join(CURVE_COLUMNS) + "\r\n").encode())
        return str(err)
    return None


def _final_validation(module: PLMModule, run_dir: Path, step: int) -> float:
    """The loss of the run's last validation: this process's, or, when a resumed run had nothing left to train (its
    checkpoint is at the last step, e.g. Snakemake reran a finished job), the one curve.csv recorded at that step."""
    if module.validation_targets():
        return module.validation_loss()
    import csv

    with open(run_dir / "curve.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or int(rows[-1]["step"]) != step:
        raise RuntimeError(f"{run_dir}: resumed at step {step}, but curve.csv holds no validation at that step")
    return float(rows[-1]["val_loss"])


def _truncate_curve(path: Path, step: int) -> None:
    """Drop curve rows written after the checkpoint we resume from (they will be written again), and a row that a
    kill cut short (no line end, or fields missing)."""
    if not path.exists():
        return
    with open(path, newline="") as fh:  # the csv writer's \r\n kept as written: a resumed run's curve.csv has the
        rows = fh.read().splitlines(keepends=True)[1:]  # bytes of an uninterrupted one (its sha256 is compared)
    whole = [r for r in rows if r.endswith("\n") and r.count(",") == len(CURVE_COLUMNS) - 1]
    kept = [r for r in whole if int(r.split(",")[0]) <= step]
    with atomic_outputs(path) as (tmp,):  # a kill mid-write must not cost the curve up to the checkpoint
        tmp.write_bytes((",".join(CURVE_COLUMNS) + "\r\n" + "".join(kept)).encode())
