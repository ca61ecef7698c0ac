"""Callbacks of a training run: its validation curve, divergence guard and progress (step metrics and throughput:
step_metrics.py; where the time went: run_clock.py); and the MLflow logger that puts every metric on one x-axis,
tokens seen."""

from __future__ import annotations

import csv
import logging
import math
import sys
import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import MLFlowLogger

from .module import PLMModule
from .step_metrics import StepMetrics, step_loss


class TrainingDiverged(RuntimeError):
    pass


class TokenMLFlowLogger(MLFlowLogger):
    """Metrics reach a Lightning logger with step = optimiser steps, and Lightning adds an `epoch` metric (here a
    count of validation stretches, which misleads). This logger drops `epoch` and logs every metric with step =
    tokens seen, the x-axis of val_loss, so all of a run's curves share one axis in the MLflow UI."""

    def __init__(self, tokens_per_step: int, **kwargs):
        super().__init__(**kwargs)
        self.tokens_per_step = tokens_per_step

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        metrics = {k: v for k, v in metrics.items() if k != "epoch"}
        super().log_metrics(metrics, None if step is None else step * self.tokens_per_step)


CURVE_COLUMNS = ("step", "tokens", "flops", "flops_full", "val_loss")  # curve.csv


class CurveLogger(Callback):
    """Validation loss against tokens seen and FLOPs: to MLflow with step = tokens, and to curve.csv."""

    def __init__(self, path: Path, mlflow_logger=None):
        self.path, self.mlflow = Path(path), mlflow_logger

    def on_validation_epoch_end(self, trainer: L.Trainer, module: PLMModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        tokens = module.tokens_seen()
        loss = module.validation_loss()
        if not math.isfinite(loss):  # before the row: a NaN written to curve.csv and MLflow would never compare equal
            raise TrainingDiverged(f"validation loss is {loss} at step {trainer.global_step}")
        flops = tokens * module.hparams.flops_per_token
        flops_full = tokens * module.hparams.flops_per_token_full
        new = not self.path.exists()
        with open(self.path, "a", newline="") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(CURVE_COLUMNS)
            w.writerow([trainer.global_step, tokens, flops, flops_full, loss])
        if self.mlflow is not None:
            client, run_id = self.mlflow.experiment, self.mlflow.run_id
            for key, value in (("val_loss", loss), ("flops", flops), ("flops_full", flops_full)):
                client.log_metric(run_id, key, value, step=tokens)


class StartStep(Callback):
    """The global step this process's training started at: 0 from scratch, K when resumed from a checkpoint at step
    K. Read from the trainer at its first batch, after Lightning restored the checkpoint, so run.json states what
    happened rather than what was asked (a resume that silently restarted at 0 would still finish, with equal
    losses, since training is deterministic). None until a batch is trained (a checkpoint at the last step)."""

    def __init__(self):
        self.step: int | None = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if self.step is None:
            self.step = trainer.global_step


class DivergenceGuard(Callback):
    """Stop with a clear message when the training loss is NaN/inf or has blown up past `factor`× its start.

    Checked every `every` steps, not every step: reading the loss is a host-device sync that stalls a GPU's queue;
    a NaN persists in the weights, so a later check still catches it."""

    def __init__(self, factor: float = 3.0, every: int = 1):
        self.factor, self.first, self.every = factor, None, every

    # The loss it started from travels in the checkpoint: a resumed run keeps its threshold (3x the run's first
    # loss), not 3x the loss at the checkpoint, so a kill cannot change where a run is judged diverged.
    def state_dict(self) -> dict:
        return {"first": self.first}

    def load_state_dict(self, state: dict) -> None:
        self.first = state.get("first")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.first is not None and trainer.global_step % self.every:
            return
        loss = step_loss(outputs)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"training loss is {loss} at step {trainer.global_step}")
        self.first = loss if self.first is None else self.first
        if loss > self.factor * self.first:
            raise TrainingDiverged(
                f"training loss {loss:.3f} at step {trainer.global_step} exceeds {self.factor}× "
                f"its initial {self.first:.3f}"
            )


class TokenProgress(Callback):
    """One progress bar over the run's tokens, with tokens/s, elapsed time and ETA (a terminal), the latest
    training and validation loss in its description. A resumed run starts the bar where its checkpoint left off."""

    def __init__(self, total_tokens: int, metrics: StepMetrics):
        self.total, self.metrics, self.bar, self.task, self.val = total_tokens, metrics, None, None, ""

    def on_train_start(self, trainer, module: PLMModule) -> None:
        if not trainer.is_global_zero:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} tokens  {task.fields[speed]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        self.bar.start()
        self.task = self.bar.add_task("train", total=self.total, completed=module.tokens_seen(), speed="-")

    def on_train_batch_end(self, trainer, module: PLMModule, outputs, batch, batch_idx) -> None:
        if self.bar is None:
            return
        tps = self.metrics.latest.get("perf/tokens_per_s")
        speed = f"{tps:,.0f}" if tps is not None else "-"
        description = f"loss {step_loss(outputs):.3f}{self.val}"
        self.bar.update(self.task, completed=module.tokens_seen(), description=description, speed=speed)

    def on_validation_epoch_end(self, trainer, module: PLMModule) -> None:
        if self.bar is not None and not trainer.sanity_checking:
            self.val = f" | val {module.validation_loss():.3f}"

    def teardown(self, trainer, module, stage: str) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class PlainProgress(Callback):
    """One log line every `every` steps, for logs and Snakemake (where a progress bar is noise)."""

    def __init__(self, every: int, metrics: StepMetrics):
        self.every, self.metrics = every, metrics

    def on_train_batch_end(self, trainer, module: PLMModule, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if trainer.is_global_zero and (step % self.every == 0 or step == trainer.max_steps):
            loss = step_loss(outputs)
            tps = self.metrics.latest.get("perf/tokens_per_s", float("nan"))
            print(
                f"step {step}/{trainer.max_steps} tokens {module.tokens_seen():,} loss {loss:.4f} tok/s {tps:,.0f}",
                file=sys.stderr,
                flush=True,
            )

    def on_validation_epoch_end(self, trainer, module: PLMModule) -> None:
        if not trainer.sanity_checking and trainer.is_global_zero:
            print(f"step {trainer.global_step} val_loss {module.validation_loss():.4f}", file=sys.stderr, flush=True)


LIGHTNING_NOISE = (  # printed by every run, never actionable here: kept out of every Snakemake log
    r".*`srun` command is available on your system but is not used",  # the workflow launches ranks itself
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",  # inside Lightning, with torch >= 2.8
)


class _Drop(logging.Filter):
    """Drops log records whose message starts with `prefix`."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def quiet_lightning() -> None:
    for pattern in LIGHTNING_NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_Drop("💡 Tip"))  # the litlogger advert
    # saving final.ckpt with the full training state (the default) is what we want; Lightning says so every run
    logging.getLogger("lightning.pytorch.trainer.connectors.checkpoint_connector").addFilter(_Drop("`weights_only`"))
