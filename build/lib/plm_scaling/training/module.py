"""LightningModule for one sweep point: the model, its loss, optimiser and schedule (callbacks.py watches it)."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from ..model.transformer import ModelShape, ProteinLM
from .data import IGNORE
from .recipe import lr_factor


class PLMModule(L.LightningModule):
    def __init__(
        self,
        shape: dict,
        objective: str,
        lr: float,
        weight_decay: float,
        betas: tuple[float, float],
        total_steps: int,
        warmup_steps: int,
        min_lr_ratio: float,
        tokens_per_step: int,
        flops_per_token: float,
        flops_per_token_full: float,
        compile: bool = False,
    ):
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
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE)
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
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=hp.lr,
            betas=tuple(hp.betas),
            fused=fused,
        )
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
