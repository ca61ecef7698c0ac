"""Start a run from another run's final weights (the transfer study: MLM from a CLM checkpoint, or CLM from MLM).

Asked for with the override `+init.checkpoint=RUN_DIR/final.ckpt` (absent from train.yaml on purpose: adding a key
there would change the saved config of every existing run, and `train --restart-if-changed` would retrain them).
Both objectives build the same Transformer (only the attention mask differs), so the weights carry over as they
are; the optimiser and the schedule start fresh, as in the paper. The source must be a finished run (its run.json
beside the checkpoint): its objective, N, compute and MLflow run go into this run's run.json and tags, so a
transferred run's total compute (its own plus the pre-training's) is read from what the source run recorded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ..config_schema import ConfigError
from ..io import read_json, sha256_file

KEY = "init.checkpoint"


def override(checkpoint: str) -> str:
    """The Hydra override that starts a run from `checkpoint` (appended: the key is not in train.yaml)."""
    return f"+{KEY}={checkpoint}"


def _read(path: Path) -> dict:
    import torch  # here, not at the top: the workflow imports `override` and should not load torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on the pickle protocol; the weights-only loader decides
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ConfigError(f"config key {KEY}: {path}: not a readable checkpoint ({err})") from None


def source(cfg, shape: dict) -> dict | None:
    """The run this one starts from ({checkpoint, sha256, sweep_point, run_id, objective, n, flops, tokens}), or
    None when the config has no init.checkpoint. Checked before the run writes anything: a missing or unfinished
    source, or weights of another shape than `shape` (the plan's), is one line naming the key."""
    from omegaconf import OmegaConf

    path = OmegaConf.select(cfg, KEY)
    if path is None:
        return None
    path = Path(str(path))
    if not path.is_file():
        raise ConfigError(f"config key {KEY}: {path} not found")
    done = path.parent / "run.json"
    if not done.is_file():
        raise ConfigError(f"config key {KEY}: {path} has no run.json beside it (not a finished training run)")
    theirs = _read(path).get("hyper_parameters", {}).get("shape")
    if theirs != shape:
        raise ConfigError(
            f"config key {KEY}: {path}: a model of shape {theirs}, this run's is {shape}; give both runs the "
            "same size and context"
        )
    run = read_json(done)
    keys = ("sweep_point", "run_id", "objective", "n", "flops", "tokens")
    return {"checkpoint": str(path.resolve()), "sha256": sha256_file(path), **{k: run.get(k) for k in keys}}


def load_weights(model, init: dict) -> None:
    """Copy the source run's weights into `model` (module.model), whose shape `source` checked."""
    state = _read(Path(init["checkpoint"]))["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})


def tags(init: dict | None) -> dict:
    """MLflow tags of a transferred run: the run, checkpoint and compute it started from."""
    if init is None:
        return {}
    return {
        "init_run_id": str(init["run_id"]),
        "init_sweep_point": str(init["sweep_point"]),
        "init_checkpoint_sha256": init["sha256"],
        "init_flops": f"{init['flops']:.6g}",
    }
