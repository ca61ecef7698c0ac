"""Checks made before a training run writes anything: numbers in the config, memory, the run folder, checkpoints.

Each failure is one line naming the key or the file (ConfigError / ValueError: exit 2 from the CLI).
"""

from __future__ import annotations

import math
import os
import pickle
import shutil
import warnings
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from ..config_schema import ConfigError
from ..model import memory
from ..model.transformer import ModelShape

RUN_MARKER = ".plm-run"  # written into every run folder this code makes; only such folders are ever deleted


def number(
    cfg: DictConfig, key: str, low: float = 0.0, integer: bool = False, auto: bool = False, strict: bool = True
) -> float | None:
    """The value of `key` as a finite number above `low` (at least `low` if not strict); integers if asked;
    None when null, or "auto" where allowed."""
    value = OmegaConf.select(cfg, key)
    if value is None or (auto and value == "auto"):
        return value
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key {key}: {value!r} is not a number") from None
    if not math.isfinite(x):
        raise ConfigError(f"config key {key}: {value} is not a finite number")
    if integer and x != int(x):
        raise ConfigError(f"config key {key}: {value} is not a whole number")
    if x < low or (strict and x == low):
        raise ConfigError(f"config key {key}: {value} must be {'above' if strict else 'at least'} {low:g}")
    return x


def check_numbers(cfg: DictConfig) -> None:
    """Every number the plan reads, before it is used (inf, nan, text and negatives otherwise surface as
    OverflowError, a bare ValueError or a write to the run folder)."""
    for key in ("budget.flops", "budget.tokens", "model.target_params"):
        number(cfg, key)
    number(cfg, "seed", integer=True, strict=False)
    if cfg.seed >= 2**32:
        raise ConfigError(f"config key seed: {cfg.seed} must be below 2^32")
    number(cfg, "model.context", low=2, integer=True, strict=False)
    number(cfg, "optim.lr", auto=True)
    if number(cfg, "optim.lr_scale") is None:
        raise ConfigError("config key optim.lr_scale: null; give a multiple of the peak LR above 0 (1: the recipe's)")
    beta2 = number(cfg, "optim.beta2")
    if beta2 is None or not beta2 < 1:
        raise ConfigError(f"config key optim.beta2: {cfg.optim.beta2} is not in (0, 1)")
    number(cfg, "optim.batch_sequences", low=1, integer=True, auto=True, strict=False)
    number(cfg, "trainer.eval_points", low=1, integer=True, strict=False)
    number(cfg, "trainer.lightning.num_nodes", low=1, integer=True, strict=False)
    for key in ("optim.warmup_fraction", "optim.weight_decay", "optim.min_lr_ratio", "data.aux.fraction"):
        number(cfg, key, strict=False)
    if not 0 <= cfg.optim.warmup_fraction < 1:
        raise ConfigError(f"config key optim.warmup_fraction: {cfg.optim.warmup_fraction} is not in [0, 1)")


def available_memory(accelerator: str) -> int:
    """Bytes of the device the run trains on: the first GPU's memory, else this machine's RAM."""
    if accelerator in ("gpu", "cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(shape: ModelShape, n: int, batch_per_device: int, lightning: DictConfig) -> None:
    """Refuse a run whose parameters (with gradients and AdamW state) and activations at its batch and context
    exceed the device's memory, before anything is written (a run that does not fit is killed hours in)."""
    params = memory.parameter_bytes(shape, n)
    activations = memory.activation_bytes(shape, batch_per_device, lightning.precision)
    # DDP ranks on CPU are processes of this machine: they share its memory
    ranks = int(lightning.devices) if lightning.strategy == "ddp" and lightning.accelerator == "cpu" else 1
    have = available_memory(lightning.accelerator)
    if ranks * (params + activations) > have:
        gib = 2**30
        raise ConfigError(
            f"config key model.target_params: {n:,} parameters need {params / gib:,.1f} GiB (weights, gradients, "
            f"AdamW state) and {activations / gib:,.1f} GiB of activations at {batch_per_device} sequences of "
            f"{shape.context} tokens (optim.batch_sequences, model.context)"
            + (f", times {ranks} ranks" if ranks > 1 else "")
            + f"; the device has {have / gib:,.1f} GiB: choose a smaller model, batch or context"
        )


def _refuse_unmarked(run_dir: Path) -> None:
    """A folder with contents but no marker was not made by this code, or made before the marker: never ours to
    write into or delete. One that looks like an old run folder is told how to adopt it."""
    if (run_dir / "config.yaml").is_file() and (run_dir / "plan.json").is_file():
        raise ConfigError(
            f"config key run.dir: {run_dir} holds config.yaml and plan.json but no {RUN_MARKER} marker (a run "
            f"folder from before the marker, or someone else's files); if it is a run of `plm-scaling train`, "
            f"`touch {run_dir / RUN_MARKER}` to adopt it, else choose another folder"
        )
    raise ConfigError(
        f"config key run.dir: {run_dir} is not empty and was not made by `plm-scaling train` "
        f"(no {RUN_MARKER}); choose another folder"
    )


def claim_run_dir(run_dir: Path, config_text: str, restart_if_changed: bool) -> None:
    """Make `run_dir` a run folder for this config, or keep it when it holds a run of the same config. A folder
    with contents and no marker is refused, never written into or deleted."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"config key run.dir: {run_dir} is a file, not a folder")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not (run_dir / RUN_MARKER).is_file():
        _refuse_unmarked(run_dir)
    saved = run_dir / "config.yaml"
    if saved.exists() and saved.read_text() != config_text:
        if not restart_if_changed:
            raise ConfigError(
                f"run.dir {run_dir}: holds a run with a different config; use another folder or delete it"
            )
        shutil.rmtree(run_dir)  # a marked run folder (checked above) of an older config of this sweep point
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RUN_MARKER).touch()  # first, before config.yaml: every folder holding a run carries the marker


class UnreadableCheckpoint(ValueError):
    """A file torch.load refused or that holds no checkpoint; the message is the reason, one line."""


def _refusal_reason(err: Exception) -> str:
    """One line on why torch.load refused a file (its messages run over many lines)."""
    text = " ".join(str(err).split())
    if isinstance(err, pickle.UnpicklingError):  # torch's paragraph around the one sentence that says what
        detail = text.split("trusted source.")[-1].split(" Check the documentation")[0]
        detail = detail.split("WeightsUnpickler error:")[-1].strip()
        return (
            f"the weights-only loader refused it: {detail}; it is corrupt or holds more than tensors and "
            "plain data, and is not loaded further, since that could run code"
        )
    return text[:120] or type(err).__name__


def read_checkpoint(path: Path, needs: tuple[str, ...] = ()) -> dict:
    """The checkpoint at `path`, read without unpickling code (weights_only); the one loader of the package.
    A file that is not a dict holding the keys `needs` raises UnreadableCheckpoint, whose text is one line on
    why; callers add the file, the key it came from and what to do."""
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol before refusing: one line is ours
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, EOFError, a zip reader's RuntimeError, ...
        raise UnreadableCheckpoint(_refusal_reason(err)) from None
    if not isinstance(ckpt, dict):
        raise UnreadableCheckpoint(f"it holds a {type(ckpt).__name__}, not a checkpoint's dict")
    missing = [key for key in needs if key not in ckpt]
    if missing:
        raise UnreadableCheckpoint(f"it has no {', '.join(missing)}")
    return ckpt


def checkpoint_step(path: Path) -> int:
    """The global step of a checkpoint; a file that is not a checkpoint is one line naming it and saying how to
    restart."""
    try:
        step = read_checkpoint(path, needs=("global_step",))["global_step"]
        return int(step)
    except (UnreadableCheckpoint, TypeError, ValueError) as why:
        raise ValueError(
            f"{path}: not a readable training checkpoint ({why}); delete it to restart the run from the beginning"
        ) from None
