"""Where a training process's wall time went, so that a slow run says why (and benchmarks/bench_loop.py can compare
the loop with the bare step of its model).

Phases of one process (a resumed run counts its own process only):
- imports: process start to the call of train() (the interpreter, torch, Lightning; in a long-lived process, a
  test or a notebook, its age);
- start-up: the call to the first training step (config, MLflow run, data, a checkpoint restored);
- steps: the training steps themselves (forward, backward, optimiser, data loading, the loop's own work);
- validation, checkpoints (the writes, fsync included), logging (per-step metrics sent to the logger): inside
  the training loop, counted apart from the steps;
- finish: the end of the loop to the run's completion (the final checkpoint and digests).
Written to the run folder's timing.json and, with a logger, to MLflow as time/* metrics.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from ..io import atomic_outputs, write_json

TIMING_FILE = "timing.json"
PHASES = ("imports", "start-up", "steps", "validation", "checkpoints", "logging", "finish")
_IMPORTED = time.time()


def process_start() -> float:
    """When this process started (epoch seconds), to 10 ms: its age from /proc (Linux); elsewhere, when this
    module was imported (the imports phase then misses what came before)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22: start, in ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return _IMPORTED


class RunClock(Callback):
    """Made when train() is called; a callback of the run's trainer."""

    def __init__(self):
        self._process_start = process_start()
        self._called = time.time()
        self.seconds = {
            "imports": self._called - self._process_start,
            "validation": 0.0,
            "checkpoints": 0.0,
            "logging": 0.0,
        }
        self._train_start = self._train_end = self._validation_start = None
        self._first_step = self._last_step = 0

    @contextmanager
    def timing(self, phase: str):
        """Adds the time spent inside the block to `phase` (checkpoints, logging)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start

    def on_train_start(self, trainer, module) -> None:
        self._train_start = time.perf_counter()
        self.seconds["start-up"] = time.time() - self._called
        self._first_step = trainer.global_step

    def on_validation_start(self, trainer, module) -> None:
        self._validation_start = time.perf_counter()

    def on_validation_end(self, trainer, module) -> None:
        self.seconds["validation"] += time.perf_counter() - self._validation_start

    def on_train_end(self, trainer, module) -> None:
        self._train_end, self._last_step = time.perf_counter(), trainer.global_step
        self._loop_seconds = dict(self.seconds)  # what comes after (the final checkpoint) belongs to the finish

    def on_exception(self, trainer, module, exception) -> None:
        """The loop ended by an exception (a divergence recorded: trainer.on_divergence): timed as its end."""
        self.on_train_end(trainer, module)

    def summary(self, tokens_per_step: int) -> dict:
        """Seconds per phase, tokens trained by this process and their rate over the steps phase alone."""
        if self._train_start is None:  # nothing trained (a finished run started again)
            return {}
        in_loop = self._loop_seconds
        inside = in_loop["validation"] + in_loop["checkpoints"] + in_loop["logging"]
        steps = max(self._train_end - self._train_start - inside, 1e-9)
        tokens = (self._last_step - self._first_step) * tokens_per_step
        seconds = {**in_loop, "steps": steps, "finish": time.perf_counter() - self._train_end}
        seconds = {phase: seconds[phase] for phase in PHASES}
        return {
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "total_seconds": round(time.time() - self._process_start, 3),
            "tokens": tokens,
            "steps_tokens_per_s": round(tokens / steps, 1),
        }

    @staticmethod
    def line(s: dict) -> str:
        """A summary as one log line."""
        if not s:
            return "time: nothing trained in this process"
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in s["seconds"].items())
        return f"time: {s['total_seconds']:.1f} s ({parts}); steps at {s['steps_tokens_per_s']:,.0f} tokens/s"

    def record(self, run_dir: Path, logger, tokens_per_step: int, tokens: int) -> dict:
        """The summary to the log, timing.json and the logger's MLflow run (time/*, step = the run's D)."""
        timing = self.summary(tokens_per_step)
        print(self.line(timing), file=sys.stderr, flush=True)
        if not timing:  # nothing trained in this process: the file of the process that trained stays
            return timing
        with atomic_outputs(run_dir / TIMING_FILE) as (tmp,):
            write_json(tmp, timing)
        if logger is not None:
            from mlflow.entities import Metric

            metrics = {f"time/{k.replace('-', '_')}_s": v for k, v in timing["seconds"].items()}
            metrics |= {
                "time/total_s": timing["total_seconds"],
                "perf/steps_tokens_per_s": timing["steps_tokens_per_s"],
            }
            now = int(time.time() * 1000)
            batch = [Metric(key, value, now, tokens) for key, value in metrics.items()]
            logger.experiment.log_batch(logger.run_id, metrics=batch)  # one write, not one a metric
        return timing
