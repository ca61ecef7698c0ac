"""The MLflow run of one training run: created once per run folder, reopened on resume, never doubled by a kill.

Its id is written to the run folder (mlflow_run_id.txt) right after the run is created; a kill between the two is
covered by a tag (run_key: the folder and its config, hashed) through which the next start finds and reuses it.
Parameters and the config artifact are logged on every start (MLflow accepts a value logged again unchanged), so a
kill before they were logged costs nothing.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ..io import atomic_outputs, read_json
from . import pretrained
from .callbacks import TokenMLFlowLogger
from .data import unique_train_tokens
from .plan import RunPlan


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def logger(cfg: DictConfig, p: RunPlan, run_dir: Path, init: dict | None) -> TokenMLFlowLogger | None:
    """The run's MLflow run: created once (its id kept in the run folder), reopened on resume."""
    if not cfg.logger.tracking_uri:
        return None
    from lightning.pytorch.utilities import rank_zero_only

    where = {"experiment_name": cfg.logger.experiment, "tracking_uri": cfg.logger.tracking_uri}
    if rank_zero_only.rank != 0:  # DDP children: Lightning makes the logger a no-op there; create nothing
        return TokenMLFlowLogger(p.tokens_per_step, **where)
    id_file, tags = run_dir / "mlflow_run_id.txt", run_tags(cfg, p, init)
    tags[RUN_KEY] = run_key(run_dir)
    run_id = id_file.read_text().strip() if id_file.exists() else unfinished_run(cfg.logger, tags[RUN_KEY])
    logger = TokenMLFlowLogger(p.tokens_per_step, run_name=run_name(p), tags=tags, run_id=run_id, **where)
    if not id_file.exists():  # the id first: a kill from here on reopens this run instead of starting a second one
        with atomic_outputs(id_file) as (tmp,):
            tmp.write_text(logger.run_id + "\n")
    # On every start (MLflow accepts a parameter logged again with the same value): a kill may have come before.
    logger.log_hyperparams({**_flatten(OmegaConf.to_container(cfg)), **_flatten(p.as_dict(), "plan.")})
    logger.experiment.log_artifact(logger.run_id, str(run_dir / "config.yaml"))
    log_sizes(logger.experiment, logger.run_id, p)
    return logger


def run_tags(cfg: DictConfig, p: RunPlan, init: dict | None) -> dict[str, str]:
    """What a training run is tagged with: its N, C, D (also logged as numbers: log_sizes), sweep point, code,
    data, the workflow's tags (study, rule, wildcards), its transfer source and the point's axes."""
    from ..code_stages import code_revision, stage_hash
    from ..io import sha256_file
    from ..sweep_point import SweepPoint

    rev = code_revision()
    tags = {
        **{"objective": p.objective, "N": str(p.n), "C": f"{p.flops:.6g}", "D": str(p.tokens)},
        **{"sweep_point": p.sweep_point, "code_revision": rev["revision"], "code_dirty": str(rev["dirty"])},
        **{"code_hash": stage_hash("train"), "data_manifest_sha256": sha256_file(cfg.data.manifest)},
        **{str(k): str(v) for k, v in cfg.tags.items() if v is not None},
        **pretrained.tags(init),
        **(SweepPoint(**p.point).tags() if p.point else {}),  # the point's axes, searchable (point.size = ...)
    }
    if cfg.data.aux.fraction > 0:  # code augmentation: which bytes were mixed in
        tags["aux_corpus_sha256"] = sha256_file(cfg.data.aux.corpus)
    manifest = read_json(cfg.data.manifest)
    unique = unique_train_tokens(manifest)  # repeated data: how often the run sees its train part
    tags.update({"U": str(unique), "epochs": f"{p.tokens / unique:.4g}"})
    filtered = manifest.get("filter")
    if filtered:  # perplexity-filtered data: the run that scored it, so the lineage reaches that model
        tags["data_filter_run_id"] = str(filtered["reference_mlflow_run_id"])
        tags["data_filter_checkpoint_sha256"] = filtered["reference_checkpoint_sha256"]
    return tags


def run_name(p: RunPlan) -> str:
    """The MLflow run's name: its sweep point id with the N it has (non-embedding, exact) for the N asked for, as
    the figures' legends say it (mlm_N10000_C1e11_s0 trains N = 12,480: mlm_N12480_C1e11_s0). The point id itself
    names the run folder and the tag sweep_point, which is what finds a run; a name of the user's own is kept."""
    if not p.point:
        return p.sweep_point
    objective, _, rest = p.sweep_point.split("_", 2)
    return f"{objective}_N{p.n}_{rest}"


# N, C (6·N·D), the FLOPs with attention and the output layer, and D as numbers at step 0: tags and parameters are
# strings, which the runs table sorts as text (12480 before 3168); these sort and search (metrics.N > 1e4).
SIZE_METRICS = {"N": "n", "C": "flops", "C_full": "flops_full", "D": "tokens"}


def log_sizes(client, run_id: str, p: RunPlan) -> None:
    """The run's sizes as metrics, once: a resumed run that has them logs nothing again."""
    import time

    from mlflow.entities import Metric

    have, now = client.get_run(run_id).data.metrics, int(time.time() * 1000)
    new = [Metric(k, float(getattr(p, f)), now, 0) for k, f in SIZE_METRICS.items() if k not in have]
    if new:
        client.log_batch(run_id, metrics=new)


RUN_KEY = "run_key"  # MLflow tag: which run folder and config a training run belongs to


def run_key(run_dir: Path) -> str:
    """The run folder (absolute) and its saved config, hashed: a tag value that is safe in a search filter."""
    from ..code_stages import sha256_text

    return sha256_text(f"{run_dir.resolve()}\n{(run_dir / 'config.yaml').read_text()}")


def unfinished_run(where: DictConfig, key: str) -> str | None:
    """The run a killed start of this run folder created before it could write mlflow_run_id.txt, if any: reused,
    so that a sweep point never gets two training runs."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=where.tracking_uri)
    experiment = client.get_experiment_by_name(where.experiment)
    if experiment is None:
        return None
    found = client.search_runs(
        [experiment.experiment_id], f"tags.{RUN_KEY} = '{key}' and attributes.status != 'FINISHED'", max_results=1
    )
    return found[0].info.run_id if found else None
