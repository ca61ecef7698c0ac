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
        if compile:
            # Regional, in-place compilation: every block shares one compiled graph (compile time does not grow
            # with depth), and the state_dict keeps its plain `model.*` keys, so checkpoints load uncompiled.
            for block in self.model.blocks:
                block.compile()
        self._val_sum = self._val_count = 0.0

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Checkpoints written before regional compilation also held the compiled copy as `forward_fn._orig_mod.*`
        (the same tensors as `model.*`); drop those keys so strict loading accepts them."""
        state = checkpoint.get("state_dict", {})
        for key in [k for k in state if k.startswith("forward_fn.")]:
            del state[key]

    def loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy over target positions, and how many there were."""
        logits = self.model(batch["inputs"])
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
        # fused: one kernel for all parameters on GPU instead of several per tensor (not under fp16 loss scaling,
        # where Lightning must unscale gradients before clipping them)
        fused = self.device.type == "cuda" and self._loss_scaler() is None
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=hp.lr, betas=tuple(hp.betas),
                                fused=fused)  # fmt: skip
        schedule = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: lr_factor(step, hp.total_steps, hp.warmup_steps, hp.min_lr_ratio)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def _loss_scaler(self):
        return getattr(self.trainer.precision_plugin, "scaler", None)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip by global norm. Lightning's mixed-precision plugin refuses to clip for a fused optimizer, a check
        meant for fp16 loss scaling; without a scaler (fp32, bf16) the gradients are true gradients: clip them."""
        if gradient_clip_val and self._loss_scaler() is None:
            params = [p for group in optimizer.param_groups for p in group["params"]]  # Lightning's order
            torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)
        else:
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

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
    """tokens/s and achieved model FLOP/s (6·N per token) of the training steps.

    Each window covers training steps only (it restarts after every validation and checkpoint) and ends in a
    device sync: a GPU runs behind the host, so an unsynchronised clock times the host's queueing, not the steps."""

    def __init__(self, every: int):
        self.every, self._t, self._step = every, None, 0

    def on_train_epoch_start(self, trainer, module: PLMModule) -> None:
        self._t = None

    def _now(self, module: PLMModule) -> float:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)
        return time.perf_counter()

    def on_train_batch_end(self, trainer, module: PLMModule, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self._t is None:
            self._t, self._step = self._now(module), step
            return
        if step - self._step >= self.every:
            dt = self._now(module) - self._t
            tps = (step - self._step) * module.hparams.tokens_per_step / dt
            module.log_dict({"perf/tokens_per_s": tps, "perf/model_flops_per_s": tps * module.hparams.flops_per_token,
                             "perf/tokens": float(module.tokens_seen())})  # fmt: skip
            self._t, self._step = self._now(module), step


class DivergenceGuard(Callback):
    """Stop with a clear message when the training loss is NaN/inf or has blown up past `factor`× its start.

    Checked every `every` steps, not every step: reading the loss is a host-device sync that stalls a GPU's queue;
    a NaN persists in the weights, so a later check still catches it."""

    def __init__(self, factor: float = 3.0, every: int = 1):
        self.factor, self.first, self.every = factor, None, every

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.first is not None and trainer.global_step % self.every:
            return
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
