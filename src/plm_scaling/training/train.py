"""Train one sweep point: compose the Hydra config, check it, plan steps from the budget, fit, resume if asked.

Run folder (`run.dir`): config.yaml (the composed config), plan.json (sizes, steps, FLOPs), checkpoints/last.ckpt
(every validation), curve.csv (validation loss against tokens and FLOPs), mlflow_run_id.txt, final.ckpt and
run.json when done. Running the same command again on an unfinished folder resumes from checkpoints/last.ckpt.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import warnings
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..config_schema import ConfigError
from ..io import atomic_outputs, read_json, write_json
from ..paths import train_config_dir
from ..model.sizes import exact_non_embedding, flops_per_token, formula_n, shape_for
from ..model.transformer import ModelShape
from . import checks, recipe
from .data import ShardDataModule
from .module import CurveLogger, DivergenceGuard, PlainProgress, PLMModule, Throughput, TrainingDiverged



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


def plan(cfg: DictConfig) -> dict:
    """Check the config against the data and the budget, and derive shape, N, steps and schedule."""
    checks.check_numbers(cfg)
    manifest = Path(cfg.data.manifest)
    if not manifest.is_file():
        raise ConfigError(f"config key data.manifest: {manifest} not found (run the data stage first)")
    if cfg.objective.name not in ("clm", "mlm"):
        raise ConfigError(f"config key objective.name: {cfg.objective.name!r} is neither clm nor mlm")
    if cfg.objective.name == "mlm" and not 0 < cfg.objective.mask_ratio < 1:
        raise ConfigError(f"config key objective.mask_ratio: {cfg.objective.mask_ratio} is not in (0, 1)")
    m = cfg.model
    explicit = [m.n_layers, m.d_model, m.n_heads]
    if any(v is not None for v in explicit) and not all(v is not None for v in explicit):
        raise ConfigError("config keys model.n_layers, model.d_model, model.n_heads: give all three or none")
    if not 2 <= m.context <= 8192:
        raise ConfigError(f"config key model.context: {m.context} is outside [2, 8192]")
    try:
        shape = (ModelShape(m.n_layers, m.d_model, m.n_heads, context=m.context) if m.n_layers is not None
                 else shape_for(float(m.target_params), m.context, aspect=float(m.aspect)))  # fmt: skip
    except ValueError as err:
        raise ConfigError(f"config key model: {err}") from None
    if shape.d_model // shape.n_heads > m.context * 8:
        raise ConfigError(f"config key model.d_model: heads of {shape.d_model // shape.n_heads} features are wider "
                          f"than the context of {m.context} tokens allows")  # fmt: skip
    n = exact_non_embedding(shape)
    checks.check_memory(n + shape.vocab_size * shape.d_model, cfg.trainer.accelerator)
    fpt = flops_per_token(shape, n)
    o = cfg.optim
    if (cfg.budget.flops is None) == (cfg.budget.tokens is None):
        raise ConfigError("config keys budget.flops, budget.tokens: give exactly one")
    tokens = float(cfg.budget.tokens) if cfg.budget.tokens is not None else float(cfg.budget.flops) / fpt["paper"]
    batch = (recipe.batch_sequences(n, tokens, m.context) if o.batch_sequences == "auto"
             else int(o.batch_sequences))  # fmt: skip
    lr = recipe.peak_lr(n) if o.lr == "auto" else float(o.lr)
    tokens_per_step = batch * m.context
    if tokens < tokens_per_step:
        key = "budget.tokens" if cfg.budget.tokens is not None else "budget.flops"
        raise ConfigError(f"config key {key}: the budget ({tokens:,.0f} tokens) is smaller than one optimizer step "
                          f"({tokens_per_step:,} tokens = {batch} sequences of {m.context})")  # fmt: skip
    evals, steps_per_epoch = _schedule(cfg, tokens / tokens_per_step)
    total = steps_per_epoch * evals  # whole epochs: each ends in a validation and a checkpoint
    if cfg.run.id is None:
        budget = f"C{float(cfg.budget.flops):.2g}" if cfg.budget.flops is not None else f"D{tokens:.2g}"
        cfg.run.id = f"{cfg.objective.name}_N{n}_{budget}_s{cfg.seed}".replace("+", "")
    world = int(cfg.trainer.devices) * int(cfg.trainer.num_nodes) if cfg.trainer.strategy == "ddp" else 1
    if batch % world:
        raise ConfigError(f"config keys trainer.devices, trainer.num_nodes: batch of {batch} sequences does not split "
                          f"over {world} ranks")  # fmt: skip
    return {"shape": dataclasses.asdict(shape), "n": n, "n_formula": formula_n(shape), "objective": cfg.objective.name,
            "flops_per_token": fpt["paper"], "flops_per_token_full": fpt["full"],
            "batch_sequences": batch, "world": world, "batch_per_device": batch // world,  # global and per device
            "tokens_per_step": tokens_per_step, "lr": lr,
            "steps": total, "epochs": evals, "steps_per_epoch": steps_per_epoch,
            "warmup_steps": max(1, int(o.warmup_fraction * total)),
            "tokens": total * tokens_per_step, "flops": total * tokens_per_step * fpt["paper"],
            "flops_full": total * tokens_per_step * fpt["full"], "flops_budget": cfg.budget.flops}  # fmt: skip


def _schedule(cfg: DictConfig, steps: float) -> tuple[int, int]:
    """(validations, steps between them) meeting the budget within recipe.BUDGET_TOLERANCE, or a ConfigError."""
    schedule = recipe.validation_schedule(steps, int(cfg.trainer.eval_points))
    if schedule is None:
        key = "budget.tokens" if cfg.budget.tokens is not None else "budget.flops"
        raise ConfigError(f"config key {key}: {steps:.1f} optimizer steps cannot be split into equal validation "
                          f"intervals within {recipe.BUDGET_TOLERANCE:.0%} of the budget; raise the budget or lower "
                          "optim.batch_sequences")  # fmt: skip
    return schedule


def _mlflow_logger(cfg: DictConfig, p: dict, run_dir: Path):
    if not cfg.logger.tracking_uri:
        return None
    from lightning.pytorch.loggers import MLFlowLogger
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank != 0:  # DDP children: Lightning makes the logger a no-op there; create nothing
        return MLFlowLogger(experiment_name=cfg.logger.experiment, tracking_uri=cfg.logger.tracking_uri)
    id_file = run_dir / "mlflow_run_id.txt"
    from ..io import sha256_file
    from ..study.lineage import code_revision, stage_hash

    rev = code_revision()
    tags = {"objective": p["objective"], "N": str(p["n"]), "C": f"{p['flops']:.6g}", "D": str(p["tokens"]),
            "sweep_point": cfg.run.id, "code_revision": rev["revision"], "code_dirty": str(rev["dirty"]),
            "code_hash": stage_hash("train"), "data_manifest_sha256": sha256_file(cfg.data.manifest),
            **{str(k): str(v) for k, v in cfg.tags.items() if v is not None}}  # fmt: skip
    logger = MLFlowLogger(experiment_name=cfg.logger.experiment, tracking_uri=cfg.logger.tracking_uri,
                          run_name=cfg.run.id, tags=tags,
                          run_id=id_file.read_text().strip() if id_file.exists() else None)  # fmt: skip
    if not id_file.exists():
        logger.log_hyperparams({**_flatten(OmegaConf.to_container(cfg)), **{f"plan.{k}": v for k, v in p.items()}})
        logger.experiment.log_artifact(logger.run_id, str(run_dir / "config.yaml"))
        id_file.write_text(logger.run_id + "\n")
    return logger


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def _prepare_run_dir(cfg: DictConfig, p: dict, restart_if_changed: bool) -> Path:
    run_dir = Path(cfg.run.dir)
    text = OmegaConf.to_yaml(cfg)
    checks.claim_run_dir(run_dir, text, restart_if_changed)
    (run_dir / "config.yaml").write_text(text)
    write_json(run_dir / "plan.json", p)
    return run_dir


def train(overrides: list[str], restart_if_changed: bool = False) -> dict:
    """Train (or resume, or return the finished result of) one sweep point. `restart_if_changed` discards a run
    folder whose saved config differs, instead of refusing (what the workflow wants when a point changed)."""
    cfg = compose_config(overrides)
    p = plan(cfg)
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
    logger = _mlflow_logger(cfg, p, run_dir)
    try:
        return _fit(cfg, p, run_dir, resume, logger)
    except BaseException as err:  # any failure, Ctrl-C included, ends the MLflow run: none stays RUNNING
        from lightning.pytorch.utilities import rank_zero_only

        if logger is not None and rank_zero_only.rank == 0:
            status = "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED"
            logger.experiment.set_terminated(logger.run_id, status)
        if isinstance(err, TrainingDiverged):
            raise RuntimeError(f"run {cfg.run.id} diverged: {err}") from None
        raise


LIGHTNING_NOISE = (  # printed by every run, never actionable here: kept out of every Snakemake log
    r".*`srun` command is available on your system but is not used",  # the workflow launches ranks itself
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",  # inside Lightning, with torch >= 2.8
)


class _NoTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")  # the litlogger advertisement


def quiet_lightning() -> None:
    for pattern in LIGHTNING_NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoTips())


def _build_trainer(cfg: DictConfig, p: dict, run_dir: Path, logger) -> L.Trainer:
    quiet_lightning()
    interactive = cfg.trainer.progress == "rich" or (cfg.trainer.progress == "auto" and sys.stderr.isatty())
    every = max(1, p["steps_per_epoch"] // 5)
    callbacks = [ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, every_n_epochs=1,
                                 save_on_train_epoch_end=True),
                 CurveLogger(run_dir / "curve.csv", logger), Throughput(every=max(1, min(every, 20))),
                 DivergenceGuard(every=cfg.trainer.log_every_n_steps),
                 RichProgressBar() if interactive else PlainProgress(every)]  # fmt: skip
    strategy = cfg.trainer.strategy
    if strategy == "ddp" and cfg.trainer.accelerator == "cpu":
        from lightning.pytorch.strategies import DDPStrategy

        strategy = DDPStrategy(process_group_backend="gloo")
    return L.Trainer(accelerator=cfg.trainer.accelerator, devices=cfg.trainer.devices,
                     num_nodes=cfg.trainer.num_nodes, strategy=strategy,
                     precision=cfg.trainer.precision, max_steps=p["steps"], max_epochs=-1,
                     check_val_every_n_epoch=1, num_sanity_val_steps=0, gradient_clip_val=cfg.optim.grad_clip,
                     logger=logger or False, callbacks=callbacks, enable_progress_bar=interactive,
                     enable_model_summary=False, use_distributed_sampler=False, default_root_dir=run_dir,
                     log_every_n_steps=min(cfg.trainer.log_every_n_steps, p["steps_per_epoch"]))  # fmt: skip


def _fit(cfg: DictConfig, p: dict, run_dir: Path, resume: Path | None, logger) -> dict:
    dm = ShardDataModule(cfg.data.manifest, cfg.model.context, p["objective"], cfg.objective.mask_ratio, cfg.seed,
                         batch_size=p["batch_sequences"] // p["world"],
                         steps_per_epoch=p["steps_per_epoch"],
                         valid_windows=cfg.data.valid_windows, workers=cfg.trainer.loader_workers)  # fmt: skip
    module = PLMModule(shape=p["shape"], objective=p["objective"], lr=p["lr"], weight_decay=cfg.optim.weight_decay,
                       betas=(cfg.optim.beta1, cfg.optim.beta2), total_steps=p["steps"],
                       warmup_steps=p["warmup_steps"], min_lr_ratio=cfg.optim.min_lr_ratio,
                       tokens_per_step=p["tokens_per_step"], flops_per_token=p["flops_per_token"],
                       flops_per_token_full=p["flops_per_token_full"], compile=cfg.trainer.compile)  # fmt: skip
    trainer = _build_trainer(cfg, p, run_dir, logger)
    dm.global_step = lambda: trainer.global_step  # the sampler counts from here (see data.StepSampler)
    trainer.fit(module, dm, ckpt_path=resume, weights_only=True)  # never unpickle code from a run folder
    pending = run_dir / ".final.ckpt.tmp"
    trainer.save_checkpoint(pending)  # collective under DDP: every rank calls it, rank 0 writes
    if not trainer.is_global_zero:
        return {}
    result = {"run_id": logger.run_id if logger else None, "sweep_point": cfg.run.id, **p,
              "final_val_loss": module.validation_loss(), "steps_done": trainer.global_step}  # fmt: skip
    os.replace(pending, run_dir / "final.ckpt")
    with atomic_outputs(run_dir / "run.json") as (done,):  # written last: the run's completion marker
        write_json(done, result)
    if logger is not None:
        logger.experiment.log_metric(logger.run_id, "final_val_loss", result["final_val_loss"])
    return result


def _truncate_curve(path: Path, step: int) -> None:
    """Drop curve rows written after the checkpoint we resume from (they will be written again)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    kept = [lines[0]] + [ln for ln in lines[1:] if int(ln.split(",")[0]) <= step]
    path.write_text("\n".join(kept) + "\n")
