"""Start a run from another run's final weights (the transfer study: MLM from a CLM checkpoint, or CLM from MLM).

Asked for with the override `+init.checkpoint=RUN_DIR/final.ckpt` (absent from train.yaml on purpose: adding a key
there would change the saved config of every existing run, and `train --restart-if-changed` would retrain them).
Both objectives build the same Transformer (only the attention mask differs), so the weights carry over as they
are; the optimiser and the schedule start fresh, as in the paper. The source must be a finished run (its run.json
beside the checkpoint): its objective, N, compute and MLflow run go into this run's run.json and tags, so a
transferred run's total compute (its own plus the pre-training's) is read from what the source run recorded.
"""

from __future__ import annotations

from pathlib import Path

from ..config_schema import ConfigError
from ..io import read_json, sha256_file

KEY = "init.checkpoint"


def override(checkpoint: str) -> str:
    """The Hydra override that starts a run from `checkpoint` (appended: the key is not in train.yaml)."""
    return f"+{KEY}={checkpoint}"


def _read(path: Path) -> dict:
    """The checkpoint, weights only (never code), with its weights and the hyper-parameters naming its shape."""
    from .checks import UnreadableCheckpoint, read_checkpoint  # torch: not at the top (see `override`)

    try:
        ckpt = read_checkpoint(path, needs=("state_dict", "hyper_parameters"))
    except UnreadableCheckpoint as why:
        raise ConfigError(f"config key {KEY}: {path}: not a training checkpoint of this workflow ({why})") from None
    if not isinstance(ckpt["state_dict"], dict) or not isinstance(ckpt["hyper_parameters"], dict):
        raise ConfigError(f"config key {KEY}: {path}: its state_dict or hyper_parameters is not a mapping")
    return ckpt


def _check_weights(path: Path, state: dict, shape: dict) -> None:
    """The checkpoint's model.* tensors are exactly those of a model of `shape` (compared on a model with no
    storage), so that loading them after the run folder is made cannot fail."""
    import torch

    from ..model.transformer import ModelShape, ProteinLM

    with torch.device("meta"):
        expected = {k: v.shape for k, v in ProteinLM(ModelShape(**shape), causal=True).state_dict().items()}
    theirs = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    names = expected.keys() | theirs.keys()
    wrong = sorted(k for k in names if getattr(theirs.get(k), "shape", None) != expected.get(k))
    if wrong:
        raise ConfigError(
            f"config key {KEY}: {path}: its weights do not fit a model of shape {shape} "
            f"({len(wrong)} tensors missing, extra or of another shape, e.g. model.{wrong[0]})"
        )


def _finished_run(path: Path, done: Path) -> dict:
    """The source run's record: an object with the objective, N, compute and tokens it trained (a transferred
    run's total compute adds them up, so none may be missing)."""
    import math

    try:
        run = read_json(done)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ConfigError(f"config key {KEY}: {done}: not readable JSON ({' '.join(str(err).split())})") from None
    if not isinstance(run, dict):
        raise ConfigError(f"config key {KEY}: {done}: a JSON {type(run).__name__}, not a finished run's record")
    if run.get("objective") not in ("clm", "mlm"):
        raise ConfigError(f"config key {KEY}: {done}: objective {run.get('objective')!r} is neither clm nor mlm")
    for key in ("n", "flops", "tokens"):
        value = run.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"config key {KEY}: {done}: {key} is {value!r}, not a positive number")
    if not isinstance(run.get("sweep_point"), str):
        raise ConfigError(f"config key {KEY}: {done}: sweep_point is {run.get('sweep_point')!r}, not a name")
    return run


def source(cfg, shape: dict) -> dict | None:
    """The run this one starts from ({checkpoint, sha256, sweep_point, run_id, objective, n, flops, tokens}), or
    None when the config has no init.checkpoint. Checked before the run writes anything: a missing, unreadable or
    unfinished source, or weights of another shape than `shape` (the plan's), is one line naming the key."""
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
    ckpt = _read(path)
    theirs = ckpt["hyper_parameters"].get("shape")
    if theirs != shape:
        raise ConfigError(
            f"config key {KEY}: {path}: a model of shape {theirs}, this run's is {shape}; give both runs the "
            "same size and context"
        )
    _check_weights(path, ckpt["state_dict"], shape)
    run = _finished_run(path, done)
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
