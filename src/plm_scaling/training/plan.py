"""A run's plan: the composed config checked against the data and the budget, and everything derived from it
(shape, N, batch, steps, schedule, FLOPs), built once and frozen. plan.json in the run folder is this object."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from omegaconf import DictConfig

from ..config_schema import ConfigError
from ..data.vocab import AUX_VOCAB_SIZE, TOKENS
from ..model.sizes import FLOP_COUNTS, exact_non_embedding, flops_per_token, formula_n, shape_for
from ..model.transformer import ModelShape
from ..sweep_point import NotTheOneForm, SweepPoint
from . import checks, recipe
from . import tuned as tuned_recipe


@dataclasses.dataclass(frozen=True)
class RunPlan:
    sweep_point: (
        str  # named by the size asked for (model.target_params, or N of an explicit shape), as study points are
    )
    point: dict | None  # the SweepPoint's fields when sweep_point is a point id (sweep_point.py), else None
    objective: str
    shape: dict
    n: int  # non-embedding parameters, exact
    n_formula: int  # 12·L·d², the paper's approximation
    flops_per_token: float  # 6·N
    flops_per_token_full: float  # with attention and the output layer
    batch_sequences: int  # global batch
    world: int  # DDP ranks
    batch_per_device: int
    tokens_per_step: int
    lr: float  # peak: the recipe's (training/recipe.py, or a tuned recipe's LR*(N)) times optim.lr_scale
    beta2: float  # Adam β2: optim.beta2, or a tuned recipe's
    recipe: dict | None  # the tuned recipe used (training/tuned.py: file, sha256, tuning study), or None
    steps: int
    evals: int  # validations (each ends a stretch of steps with a checkpoint)
    steps_per_eval: int
    warmup_steps: int
    tokens: int  # D trained on: steps × tokens_per_step (within recipe.BUDGET_TOLERANCE of the budget)
    flops: float  # 6·N·D
    flops_full: float
    flops_budget: float | None
    flops_count: str  # which FLOPs flops_budget is met in: paper (6·N·D) or full (model/sizes.py FLOP_COUNTS)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _shape(cfg: DictConfig) -> ModelShape:
    m = cfg.model
    explicit = [m.n_layers, m.d_model, m.n_heads]
    if any(v is not None for v in explicit) and not all(v is not None for v in explicit):
        raise ConfigError("config keys model.n_layers, model.d_model, model.n_heads: give all three or none")
    if not 2 <= m.context <= 8192:
        raise ConfigError(f"config key model.context: {m.context} is outside [2, 8192]")
    vocab = AUX_VOCAB_SIZE if augmented(cfg) else len(TOKENS)
    try:
        shape = (
            ModelShape(m.n_layers, m.d_model, m.n_heads, vocab_size=vocab, context=m.context)
            if m.n_layers is not None
            else shape_for(float(m.target_params), m.context, vocab_size=vocab, aspect=float(m.aspect))
        )
    except ValueError as err:
        raise ConfigError(f"config key model: {err}") from None
    if shape.d_model // shape.n_heads > m.context * 8:
        raise ConfigError(
            f"config key model.d_model: heads of {shape.d_model // shape.n_heads} features are wider "
            f"than the context of {m.context} tokens allows"
        )
    return shape


def augmented(cfg: DictConfig) -> bool:
    """Code augmentation on: an auxiliary corpus and a fraction above 0 (data.aux)."""
    aux = cfg.data.aux
    if not 0 <= aux.fraction < 1:
        raise ConfigError(f"config key data.aux.fraction: {aux.fraction} is not in [0, 1)")
    if aux.fraction > 0 and not aux.corpus:
        raise ConfigError("config key data.aux.corpus: a fraction above 0 needs a corpus (`plm-scaling data aux`)")
    if aux.fraction > 0 and not Path(aux.corpus).is_file():
        raise ConfigError(f"config key data.aux.corpus: {aux.corpus} not found (run the data stage first)")
    return aux.fraction > 0


def _check_inputs(cfg: DictConfig) -> None:
    checks.check_numbers(cfg)
    manifest = Path(cfg.data.manifest)
    if not manifest.is_file():
        raise ConfigError(f"config key data.manifest: {manifest} not found (run the data stage first)")
    if cfg.objective.name not in ("clm", "mlm"):
        raise ConfigError(f"config key objective.name: {cfg.objective.name!r} is neither clm nor mlm")
    if cfg.objective.name == "mlm" and not 0 < cfg.objective.mask_ratio < 1:
        raise ConfigError(f"config key objective.mask_ratio: {cfg.objective.mask_ratio} is not in (0, 1)")
    if (cfg.budget.flops is None) == (cfg.budget.tokens is None):
        raise ConfigError("config keys budget.flops, budget.tokens: give exactly one")
    if cfg.budget.count not in FLOP_COUNTS:
        raise ConfigError(f"config key budget.count: {cfg.budget.count!r} is not one of {', '.join(FLOP_COUNTS)}")
    if cfg.trainer.on_divergence not in ("fail", "record"):
        raise ConfigError(f"config key trainer.on_divergence: {cfg.trainer.on_divergence!r} is neither fail nor record")


def _budget_key(cfg: DictConfig) -> str:
    return "budget.tokens" if cfg.budget.tokens is not None else "budget.flops"


def _schedule(cfg: DictConfig, steps: float) -> tuple[int, int]:
    """(validations, steps between them) meeting the budget within recipe.BUDGET_TOLERANCE, or a ConfigError."""
    schedule = recipe.validation_schedule(steps, int(cfg.trainer.eval_points))
    if schedule is None:
        raise ConfigError(
            f"config key {_budget_key(cfg)}: {steps:.1f} optimizer steps cannot be split into equal validation "
            f"intervals within {recipe.BUDGET_TOLERANCE:.0%} of the budget; raise the budget or lower "
            "optim.batch_sequences"
        )
    return schedule


def _world(cfg: DictConfig, batch: int) -> int:
    lt = cfg.trainer.lightning
    world = int(lt.devices) * int(lt.num_nodes) if lt.strategy == "ddp" else 1
    if batch % world:
        raise ConfigError(
            f"config keys trainer.lightning.devices, trainer.lightning.num_nodes: batch of {batch} sequences does "
            f"not split over {world} ranks"
        )
    return world


def _peak_lr(o: DictConfig, n: int, tuned: dict | None) -> float:
    """optim.lr, or with `auto` the tuned recipe's LR*(N) when the run has one, else recipe.peak_lr(N)."""
    if o.lr != "auto":
        return float(o.lr)
    return tuned_recipe.peak_lr(tuned, n) if tuned else recipe.peak_lr(n)


def point_name(cfg: DictConfig, n: int) -> str:
    """cfg.run.id, else the id a study would give this point (SweepPoint.id)."""
    if cfg.run.id is not None:
        return str(cfg.run.id)
    size = float(cfg.model.target_params) if cfg.model.n_layers is None else float(n)
    budget = {"flops": cfg.budget.flops} if cfg.budget.flops is not None else {"tokens": cfg.budget.tokens}
    return SweepPoint(cfg.objective.name, size, cfg.seed, **budget).id


def point_fields(cfg: DictConfig, name: str) -> dict | None:
    """The fields of the sweep point a run's name is the id of (run.json, MLflow tags), or None: a name of the
    user's own that is no point id. A point id must agree with the run's objective and seed: its fields are what
    the analysis groups and selects runs by."""
    try:
        point = SweepPoint.parse(name)
    except NotTheOneForm as err:  # another spelling of a point would train it again, in a second run folder
        raise ConfigError(f"config key run.id: {err}") from None
    except ValueError:
        return None
    if (point.objective, point.seed) != (cfg.objective.name, cfg.seed):
        raise ConfigError(
            f"config key run.id: {name} names objective {point.objective}, seed {point.seed}; the run has "
            f"objective {cfg.objective.name}, seed {cfg.seed}"
        )
    return point.fields()


def make_plan(cfg: DictConfig) -> RunPlan:
    """Check the config against the data and the budget, and derive the run's plan (cfg is not changed)."""
    _check_inputs(cfg)
    tuned = tuned_recipe.read(o.recipe, cfg.objective.name) if (o := cfg.optim).recipe else None
    shape, context = _shape(cfg), cfg.model.context
    n = exact_non_embedding(shape)
    fpt = flops_per_token(shape, n)
    count = str(cfg.budget.count)
    tokens = float(cfg.budget.tokens) if cfg.budget.tokens is not None else float(cfg.budget.flops) / fpt[count]
    batch = recipe.batch_sequences(n, tokens, context) if o.batch_sequences == "auto" else int(o.batch_sequences)
    world = _world(cfg, batch)
    if world > 1 and cfg.trainer.on_divergence == "record":  # each rank's guard judges its own loss: they could part
        raise ConfigError("config key trainer.on_divergence: record needs one process (here DDP ranks); use fail")
    checks.check_memory(shape, n, batch // world, cfg.trainer.lightning)  # at the resolved batch, per device
    tokens_per_step = batch * context
    if tokens < tokens_per_step:
        raise ConfigError(
            f"config key {_budget_key(cfg)}: the budget ({tokens:,.0f} tokens) is smaller than one optimizer step "
            f"({tokens_per_step:,} tokens = {batch} sequences of {context})"
        )
    evals, steps_per_eval = _schedule(cfg, tokens / tokens_per_step)
    steps = steps_per_eval * evals  # whole stretches: each ends in a validation and a checkpoint
    trained = steps * tokens_per_step
    return RunPlan(
        sweep_point=(name := point_name(cfg, n)),
        point=point_fields(cfg, name),
        objective=cfg.objective.name,
        shape=dataclasses.asdict(shape),
        n=n,
        n_formula=formula_n(shape),
        flops_per_token=fpt["paper"],
        flops_per_token_full=fpt["full"],
        batch_sequences=batch,
        world=world,
        batch_per_device=batch // world,
        tokens_per_step=tokens_per_step,
        lr=_peak_lr(o, n, tuned) * float(o.lr_scale),
        beta2=tuned["beta2"] if tuned else float(o.beta2),
        recipe=tuned,
        steps=steps,
        evals=evals,
        steps_per_eval=steps_per_eval,
        warmup_steps=max(1, int(o.warmup_fraction * steps)),
        tokens=trained,
        flops=trained * fpt["paper"],
        flops_full=trained * fpt["full"],
        flops_budget=cfg.budget.flops,
        flops_count=count,
    )
