"""LightningModule for one sweep point, and the callbacks that log its curve and guard against divergence."""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback

from ..model.transformer import ModelShape, ProteinLM
from .data import IGNORE
from .recipe import lr_factor


class TrainingDiverged(RuntimeError):
    pass


def step_loss(outputs) -> float:
    """The training loss of a step from what Lightning hands to on_train_batch_end."""
    return float(outputs["loss"]) if isinstance(outputs, dict) else float(outputs)


class PLMModule(L.LightningModule):
    def __init__(self, shape: dict, objective: str, lr: float, weight_decay: float, betas: tuple[float, float],
                 total_steps: int, warmup_steps: int, min_lr_ratio: float, tokens_per_step: int,
                 flops_per_token: float, flops_per_token_full: float, compile: bool = False):  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        self.model = ProteinLM(ModelShape(**shape), causal=objective == "clm")
        self.forward_fn = torch.compile(self.model) if compile else self.model
        self._val_sum = self._val_count = 0.0

    def loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy over target positions, and how many there were."""
        logits = self.forward_fn(batch["inputs"])
        targets = batch["targets"]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                               ignore_index=IGNORE)  # fmt: skip
        return loss, (targets != IGNORE).sum()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, _ = self.loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/lr", self.lr_schedulers().get_last_lr()[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss, count = self.loss(batch)
        self._val_sum += float(loss) * int(count)
        self._val_count += int(count)

    def on_validation_epoch_start(self) -> None:
        self._val_sum = self._val_count = 0.0

    def validation_loss(self) -> float:
        return self._val_sum / max(1.0, self._val_count)

    def validation_targets(self) -> int:
        return int(self._val_count)

    def configure_optimizers(self):
        hp = self.hparams
        decay = [p for p in self.parameters() if p.dim() >= 2]  # matrices and the embedding, not norms
        no_decay = [p for p in self.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=hp.lr, betas=tuple(hp.betas))  # fmt: skip
        schedule = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: lr_factor(step, hp.total_steps, hp.warmup_steps, hp.min_lr_ratio)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def tokens_seen(self) -> int:
        return int(self.global_step * self.hparams.tokens_per_step)


class CurveLogger(Callback):
    """Validation loss against tokens seen and FLOPs: to MLflow with step = tokens, and to curve.csv."""

    def __init__(self, path: Path, mlflow_logger=None):
        self.path, self.mlflow = Path(path), mlflow_logger

    def on_validation_epoch_end(self, trainer: L.Trainer, module: PLMModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        tokens = module.tokens_seen()
        loss = module.validation_loss()
        flops = tokens * module.hparams.flops_per_token
        flops_full = tokens * module.hparams.flops_per_token_full
        new = not self.path.exists()
        with open(self.path, "a", newline="") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(["step", "tokens", "flops", "flops_full", "val_loss"])
            w.writerow([trainer.global_step, tokens, flops, flops_full, loss])
        if self.mlflow is not None:
            client, run_id = self.mlflow.experiment, self.mlflow.run_id
            for key, value in (("val_loss", loss), ("flops", flops), ("flops_full", flops_full)):
                client.log_metric(run_id, key, value, step=tokens)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"validation loss is {loss} at step {trainer.global_step}")


class Throughput(Callback):
    """tokens/s and achieved model FLOP/s (6·N per token) of the training steps."""

    def __init__(self, every: int):
        self.every, self._t, self._step = every, None, 0

    def on_train_batch_end(self, trainer, module: PLMModule, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self._t is None:
            self._t, self._step = time.perf_counter(), step
            return
        if step - self._step >= self.every:
            dt = time.perf_counter() - self._t
            tps = (step - self._step) * module.hparams.tokens_per_step / dt
            module.log_dict({"perf/tokens_per_s": tps, "perf/model_flops_per_s": tps * module.hparams.flops_per_token,
                             "perf/tokens": float(module.tokens_seen())})  # fmt: skip
            self._t, self._step = time.perf_counter(), step


class DivergenceGuard(Callback):
    """Stop with a clear message when the training loss is NaN/inf or has blown up past `factor`× its start."""

    def __init__(self, factor: float = 3.0):
        self.factor, self.first = factor, None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        loss = step_loss(outputs)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"training loss is {loss} at step {trainer.global_step}")
        self.first = loss if self.first is None else self.first
        if loss > self.factor * self.first:
            raise TrainingDiverged(f"training loss {loss:.3f} at step {trainer.global_step} exceeds {self.factor}× "
                                   f"its initial {self.first:.3f}")  # fmt: skip


class PlainProgress(Callback):
    """One log line every `every` steps, for logs and Snakemake (where a progress bar is noise)."""

    def __init__(self, every: int):
        self.every = every

    def on_train_batch_end(self, trainer, module: PLMModule, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if trainer.is_global_zero and (step % self.every == 0 or step == trainer.max_steps):
            loss = step_loss(outputs)
            metrics = trainer.callback_metrics
            tps = float(metrics.get("perf/tokens_per_s", float("nan")))
            print(f"step {step}/{trainer.max_steps} tokens {module.tokens_seen():,} loss {loss:.4f} "
                  f"tok/s {tps:,.0f}", file=sys.stderr, flush=True)  # fmt: skip

    def on_validation_epoch_end(self, trainer, module: PLMModule) -> None:
        if not trainer.sanity_checking and trainer.is_global_zero:
            print(f"step {trainer.global_step} val_loss {module.validation_loss():.4f}", file=sys.stderr, flush=True)
