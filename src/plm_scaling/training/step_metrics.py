"""What a run reports about its training steps every few steps: loss, learning rate, tokens/s, model FLOP/s.

Logged straight to the logger, not through `LightningModule.log`: that one stores, moves and reduces every value on
every step for values the logger receives every `every` steps, which cost a tiny model ~1 ms a step (15 % of a
7k-parameter model's step at batch 8; benchmarks/bench_loop.py).
"""

from __future__ import annotations

import time

import torch
from lightning.pytorch.callbacks import Callback

from .run_clock import RunClock


def step_loss(outputs) -> float:
    """The training loss of a step from what Lightning hands to on_train_batch_end."""
    return float(outputs["loss"]) if isinstance(outputs, dict) else float(outputs)


class StepMetrics(Callback):
    """Every `every` optimiser steps (and at the last): train/loss and train/lr of that step, and perf/tokens_per_s
    and perf/model_flops_per_s (6·N a token) of the steps since the previous report, to the logger with step = the
    global step (TokenMLFlowLogger turns it into tokens seen) and to `latest`, which the progress callbacks show.

    A throughput window covers training steps only: it restarts after every validation and checkpoint, and ends in
    a device sync (a GPU runs behind the host, so an unsynchronised clock times the host's queueing)."""

    def __init__(self, every: int, tokens_per_step: int, flops_per_token: float, clock: RunClock):
        self.every, self.tokens_per_step, self.flops_per_token = every, tokens_per_step, flops_per_token
        self.clock = clock  # the logger's time is counted apart from the steps
        self.latest: dict[str, float] = {}
        self._t, self._step = None, 0

    def on_train_epoch_start(self, trainer, module) -> None:
        self._t = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._lr = trainer.optimizers[0].param_groups[0]["lr"]  # the step's own: the schedule moves on before batch end

    def _now(self, module) -> float:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)
        return time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self._t is None:  # the first step of a window: it includes the loader's start, so it is not timed
            self._t, self._step = self._now(module), step
        if step % self.every and step != trainer.max_steps:
            return
        metrics = {"train/loss": step_loss(outputs), "train/lr": self._lr}
        if step > self._step:
            tokens_per_s = (step - self._step) * self.tokens_per_step / (self._now(module) - self._t)
            metrics |= {
                "perf/tokens_per_s": tokens_per_s,
                "perf/model_flops_per_s": tokens_per_s * self.flops_per_token,
            }
        self.latest |= metrics
        if trainer.logger is not None:
            with self.clock.timing("logging"):
                trainer.logger.log_metrics(metrics, step)
        self._t, self._step = self._now(module), step  # the next window starts after the logger's write
