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

RUN_MARKER = ".plm-run"  # written into every run folder this code makes; only such folders are ever deleted
BYTES_PER_PARAM = 16  # fp32 weights, gradients and AdamW's two moments


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
    number(cfg, "optim.batch_sequences", low=1, integer=True, auto=True, strict=False)
    number(cfg, "trainer.eval_points", low=1, integer=True, strict=False)
    number(cfg, "trainer.lightning.num_nodes", low=1, integer=True, strict=False)
    for key in ("optim.warmup_fraction", "optim.weight_decay", "optim.min_lr_ratio"):
        number(cfg, key, strict=False)
    if not 0 <= cfg.optim.warmup_fraction < 1:
        raise ConfigError(f"config key optim.warmup_fraction: {cfg.optim.warmup_fraction} is not in [0, 1)")


def available_memory(accelerator: str) -> int:
    """Bytes of the device the run trains on: the first GPU's memory, else this machine's RAM."""
    if accelerator in ("gpu", "cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(n_params: int, accelerator: str) -> None:
    """Refuse a model whose weights, gradients and AdamW state alone exceed the device's memory."""
    need, have = BYTES_PER_PARAM * n_params, available_memory(accelerator)
    if need > have:
        raise ConfigError(
            f"config key model.target_params: {n_params:,} parameters need at least "
            f"{need / 2**30:,.0f} GiB (weights, gradients, AdamW state); the device has "
            f"{have / 2**30:,.0f} GiB"
        )


def _is_run_dir(run_dir: Path) -> bool:
    """Made by this code: the marker, or (folders from before the marker) both config.yaml and plan.json."""
    return (run_dir / RUN_MARKER).exists() or (
        (run_dir / "config.yaml").is_file() and (run_dir / "plan.json").is_file()
    )


def claim_run_dir(run_dir: Path, config_text: str, restart_if_changed: bool) -> None:
    """Make `run_dir` a run folder for this config, or keep it when it holds a run of the same config. A folder
    that holds anything but a run is refused, never written into or deleted."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"config key run.dir: {run_dir} is a file, not a folder")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not _is_run_dir(run_dir):
        raise ConfigError(
            f"config key run.dir: {run_dir} is not empty and was not made by `plm-scaling train` "
            f"(no {RUN_MARKER}); choose another folder"
        )
    saved = run_dir / "config.yaml"
    if saved.exists() and saved.read_text() != config_text:
        if not restart_if_changed:
            raise ConfigError(
                f"run.dir {run_dir}: holds a run with a different config; use another folder or delete it"
            )
        shutil.rmtree(run_dir)  # a run folder (checked above) of an older config of this sweep point
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RUN_MARKER).touch()


def checkpoint_step(path: Path) -> int:
    """The global step of a checkpoint, read without unpickling code (weights_only); a file that is not a
    checkpoint is one line naming it and saying how to restart."""
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol before refusing: one line is ours
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        return int(ckpt["global_step"])
    except Exception as err:  # UnpicklingError, EOFError, a zip reader's RuntimeError, KeyError, TypeError, ...
        text = " ".join(str(err).split())
        if isinstance(err, pickle.UnpicklingError) and "WeightsUnpickler error:" in text:
            detail = text.split("WeightsUnpickler error:")[1].split(" Check the documentation")[0].strip()
            why = (
                f"the weights-only loader refused it: {detail}; it is corrupt or holds more than tensors and "
                "plain data, and is not loaded further, since that could run code"
            )
        else:
            why = text[:120] or type(err).__name__
    raise ValueError(
        f"{path}: not a readable training checkpoint ({why}); delete it to restart the run from the beginning"
    )
