"""LightningModule for one sweep point: the model (its loss: model/transformer.py), optimiser and schedule
(callbacks.py and step_metrics.py watch it)."""

from __future__ import annotations

import lightning as L
import torch

from ..model.transformer import LossTally, ModelShape, ProteinLM, token_loss
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
        self._val = LossTally()

    def __setattr__(self, name: str, value) -> None:
        """Lightning sets `_current_fx_name` around each of the ~30 hook calls of a step; nn.Module's __setattr__
        (which checks for parameters, modules and buffers first) made that ~0.2 ms a step. A plain attribute."""
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Checkpoints written before regional compilation also held the compiled copy as `forward_fn._orig_mod.*`
        (the same tensors as `model.*`); drop those keys so strict loading accepts them."""
        state = checkpoint.get("state_dict", {})
        for key in [k for k in state if k.startswith("forward_fn.")]:
            del state[key]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, _ = token_loss(self.model, batch)
        return loss  # logged every few steps by step_metrics.StepMetrics

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._val.add(*token_loss(self.model, batch))

    def on_validation_epoch_start(self) -> None:
        self._val = LossTally()

    def validation_loss(self) -> float:
        return self._val.mean()

    def validation_targets(self) -> int:
        return self._val.count

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
