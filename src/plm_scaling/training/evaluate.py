"""Evaluate a finished run: loss on the full valid and test splits (fixed mask seed for MLM; MLM also on the valid
split at the common mask ratio), to metrics.json and to the run's MLflow run."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from ..digests import tag
from ..io import atomic_outputs, read_json, sha256_file, write_json
from ..model.transformer import LossTally, ModelShape, ProteinLM, token_loss
from ..names import RUN_SUMMARY
from . import checks
from .data import ShardLoaders


@torch.no_grad()
def split_loss(model: ProteinLM, loader) -> dict:
    """Mean loss over every target of the split, accumulated as training's validation does it."""
    device = next(model.parameters()).device
    tally = LossTally()
    for batch in loader:
        tally.add(*token_loss(model, {k: v.to(device) for k, v in batch.items()}))
    return {"loss": tally.mean(), "targets": tally.count}


COMMON_MASK_RATIO = 0.15  # ESM's (and the paper's default): MLM runs of any ratio are also evaluated at this one


def _eval_data(cfg, objective: str, manifest: str | None = None, mask_ratio: float | None = None):
    """The evaluation view of a run's data (its own manifest and mask ratio unless others are named)."""
    ratio = cfg.objective.mask_ratio if mask_ratio is None else mask_ratio
    return ShardLoaders(
        manifest or cfg.data.manifest,
        cfg.model.context,
        objective,
        ratio,
        cfg.seed,
        batch_size=64,
        steps_per_epoch=1,
        valid_windows=cfg.data.valid_windows,
    )


def _valid_loss(model: ProteinLM, loaders: ShardLoaders) -> float:
    return split_loss(model, loaders.eval_dataloader("valid"))["loss"]


def load_model(path: Path, device: str) -> ProteinLM:
    """A finished run's model from its checkpoint, in eval mode on `device`: read weights-only (never code from
    a run folder, checks.read_checkpoint); a file that is not such a checkpoint is one line naming it. The bare
    model, not the LightningModule: evaluation and scoring start without importing Lightning."""
    try:
        ckpt = checks.read_checkpoint(path, needs=("state_dict", "hyper_parameters"))
        hp = ckpt["hyper_parameters"]
        model = ProteinLM(ModelShape(**hp["shape"]), causal=hp["objective"] == "clm")
        # the module's weights are `model.*`; checkpoints from before regional compilation also held the compiled
        # copy as `forward_fn._orig_mod.*` (the same tensors), which are dropped
        state = ckpt["state_dict"]
        model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
        other = sorted(k for k in state if not k.startswith(("model.", "forward_fn.")))
        if other:
            raise ValueError(f"unexpected weights {other[:3]}")
    except (checks.UnreadableCheckpoint, TypeError, ValueError, RuntimeError, KeyError) as err:  # not ours
        why = " ".join(str(err).split())[:200]
        raise ValueError(
            f"{path}: not a readable checkpoint of a finished run ({why}); delete the run folder and train it again"
        ) from None
    return model.to(device).eval()


def evaluate(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        raise ValueError(f"{run_dir}: no run.json; the run has not finished training")
    cfg = OmegaConf.load(run_dir / "config.yaml")
    done = read_json(run_dir / "run.json")
    if done.get("diverged"):  # a recorded divergence (trainer.on_divergence=record): no model worth a held-out loss
        return _write_metrics(run_dir, cfg, done, {"diverged": done["diverged"]})
    device = "cuda" if torch.cuda.is_available() else "cpu"  # a 100M model on a CPU takes minutes per split
    model = load_model(run_dir / "final.ckpt", device)
    loaders = _eval_data(cfg, done["objective"])
    metrics = {
        f"{split}_{k}": v
        for split in ("valid", "test")
        for k, v in split_loss(model, loaders.eval_dataloader(split)).items()
    }
    if done["objective"] == "mlm":  # every MLM run also at one common masking, so runs of other ratios compare
        metrics |= {"mask_ratio": float(cfg.objective.mask_ratio), "common_mask_ratio": COMMON_MASK_RATIO}
        metrics["valid_loss_common"] = (
            metrics["valid_loss"]
            if cfg.objective.mask_ratio == COMMON_MASK_RATIO
            else _valid_loss(model, _eval_data(cfg, "mlm", mask_ratio=COMMON_MASK_RATIO))  # same windows, mask seed
        )
    if cfg.data.get("eval_manifest"):  # a data-variant study: every variant also on one held-out set
        metrics["valid_loss_common_data"] = _valid_loss(
            model, _eval_data(cfg, done["objective"], cfg.data.eval_manifest)
        )
    return _write_metrics(run_dir, cfg, done, metrics)


def _write_metrics(run_dir: Path, cfg, done: dict, metrics: dict) -> dict:
    """metrics.json (the run's summary and its held-out losses) and the same losses in its MLflow run."""
    result = {
        **{k: done[k] for k in RUN_SUMMARY},
        **metrics,
    }
    with atomic_outputs(run_dir / "metrics.json") as (tmp,):
        write_json(tmp, result)
    if done["run_id"] and cfg.logger.tracking_uri:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=cfg.logger.tracking_uri)
        for key in ("valid_loss", "test_loss", "valid_loss_common", "valid_loss_common_data"):
            if key in metrics:
                client.log_metric(done["run_id"], f"eval/{key}", metrics[key])
        client.log_artifact(done["run_id"], str(run_dir / "metrics.json"))
        client.set_tag(done["run_id"], tag("metrics.json"), sha256_file(run_dir / "metrics.json"))  # digests.py
    return result
