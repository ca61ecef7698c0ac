"""One sweep point as data: the axes a study varies, and the id that names its run folder, MLflow run and rows.

A point is written once as an id (`SweepPoint.id`) and read back once (`SweepPoint.parse`); everything else reads
its fields. Ids look like clm_N10000_C1e12_s0 (objective, the size asked for, the budget in FLOPs C or tokens D,
the seed), with optional parts in this order: the MLM mask ratio (_m0.3), the data variant (_vdedup), the unique
subset U (_U6e04), the transfer part (_pre0.25 for the pre-training run that takes share 0.25 of the budget on the
other objective, _clm0.25 for the run that starts from a CLM pre-training), a tuning study's multiple of the peak
learning rate (_lr0.5) and Adam β2 (_b0.99). E.g. clm_N12000_D8e06_U6e04_s0, mlm_N12000_C1e10_clm0.25_s0,
clm_N800_C3e10_lr2_b0.999_s0. This module imports nothing else of the project: training, the workflow and the
analysis all depend on it, and it on none of them.
"""

from __future__ import annotations

import dataclasses
import re

OBJECTIVES = ("clm", "mlm")
PRETRAINING = "pre"  # the transfer part of the run that pre-trains on the other objective
VARIANT = "[A-Za-z0-9-]+"  # a data variant's name (the study schema's pattern): no "_", which parts the id

_NUMBER = r"[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?"
_ID = re.compile(
    rf"(?P<objective>{'|'.join(OBJECTIVES)})_N(?P<size>{_NUMBER})_(?:C(?P<flops>{_NUMBER})|D(?P<tokens>{_NUMBER}))"
    rf"(?:_m(?P<mask_ratio>{_NUMBER}))?(?:_v(?P<variant>{VARIANT}))?(?:_U(?P<unique_tokens>{_NUMBER}))?"
    rf"(?:_(?P<transfer>{PRETRAINING}|{'|'.join(OBJECTIVES)})(?P<share>{_NUMBER}))?"
    rf"(?:_lr(?P<lr_scale>{_NUMBER}))?(?:_b(?P<beta2>{_NUMBER}))?(?:_s(?P<seed>[0-9]+))?"
)
_FLOATS = ("size", "flops", "tokens", "mask_ratio", "share", "unique_tokens", "lr_scale", "beta2")


def _budget(x: float) -> str:
    """1 significant digit, exponent without '+': the budgets a study names (1e11, 3e11) read as written."""
    return f"{float(x):.0e}".replace("+", "")


class NotTheOneForm(ValueError):
    """A name that reads as a point id but is not written the way `.id` writes it (e.g. clm_N1e4_...)."""


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    objective: str  # clm | mlm
    size: float  # the non-embedding N asked for (model.target_params)
    seed: int | None  # None: the point over its seeds (seed-noise groups)
    flops: float | None = None  # budget C = 6·N·D, or None when the budget is given in tokens
    tokens: float | None = None  # budget D (when flops is None)
    mask_ratio: float | None = None  # an MLM mask ratio swept by the study; None: the objective's default
    variant: str | None = None  # a data variant's name (data-scarcity ablation)
    unique_tokens: float | None = None  # a nested unique subset of U train tokens (repeated data)
    transfer: str | None = None  # PRETRAINING, or the objective the run starts from (transfer study)
    share: float | None = None  # the budget share of the transfer pre-training
    lr_scale: float | None = None  # a tuning study's multiple of the recipe's peak learning rate; None: 1
    beta2: float | None = None  # a tuning study's Adam β2; None: the recipe's

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"sweep point: objective {self.objective!r} is not one of {OBJECTIVES}")
        if (self.flops is None) == (self.tokens is None):
            raise ValueError("sweep point: give exactly one budget, flops or tokens")
        if (self.transfer is None) != (self.share is None):
            raise ValueError("sweep point: a transfer part needs both its kind and its share")
        if self.transfer == self.objective:
            raise ValueError(f"sweep point: a {self.objective} run cannot start from its own objective's pre-training")
        if self.variant is not None and not re.fullmatch(VARIANT, self.variant):
            raise ValueError(f"sweep point: variant {self.variant!r} is not letters, digits and '-'")
        if self.lr_scale is not None and not self.lr_scale > 0:
            raise ValueError(f"sweep point: lr_scale {self.lr_scale!r} is not above 0")
        if self.beta2 is not None and not 0 < self.beta2 < 1:
            raise ValueError(f"sweep point: beta2 {self.beta2!r} is not in (0, 1)")

    @property
    def id(self) -> str:
        budget = f"C{_budget(self.flops)}" if self.flops is not None else f"D{_budget(self.tokens)}"
        parts = [self.objective, f"N{float(self.size):g}".replace("+", ""), budget]
        parts += [f"m{float(self.mask_ratio):g}"] if self.mask_ratio is not None else []
        parts += [f"v{self.variant}"] if self.variant is not None else []
        parts += [f"U{_budget(self.unique_tokens)}"] if self.unique_tokens is not None else []
        parts += [f"{self.transfer}{float(self.share):g}"] if self.transfer is not None else []
        parts += [f"lr{float(self.lr_scale):g}"] if self.lr_scale is not None else []
        parts += [f"b{float(self.beta2):g}"] if self.beta2 is not None else []
        parts += [f"s{self.seed}"] if self.seed is not None else []
        return "_".join(parts)

    @classmethod
    def parse(cls, ident: str) -> SweepPoint:
        """The point an id names (with or without its seed part); ValueError for a name that is not a point id, or
        not in the one form `.id` writes (clm_N1e4_... is clm_N10000_...): one point, one id, one run folder."""
        m = _ID.fullmatch(ident)
        if m is None:
            raise ValueError(f"{ident!r} is not a sweep point id (e.g. clm_N10000_C1e12_s0)")
        g = {k: v for k, v in m.groupdict().items() if v is not None}
        numbers = {k: float(v) for k, v in g.items() if k in _FLOATS}
        seed = int(g["seed"]) if "seed" in g else None
        point = cls(g["objective"], seed=seed, variant=g.get("variant"), transfer=g.get("transfer"), **numbers)
        if point.id != ident:
            raise NotTheOneForm(f"{ident!r} is not a sweep point id in its one form: the same point is {point.id!r}")
        return point

    @classmethod
    def of(cls, run: dict) -> SweepPoint:
        """The point of a run record (run.json, a fit's input run): its recorded fields, else its id."""
        fields = run.get("point")
        return cls(**fields) if fields else cls.parse(run["sweep_point"])

    def fields(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> SweepPoint:
        return dataclasses.replace(self, **changes)

    @property
    def seedless_id(self) -> str:
        """The id over all seeds: the key its seeds are pooled under."""
        return self.replace(seed=None).id

    @property
    def is_pretraining(self) -> bool:
        return self.transfer == PRETRAINING

    @property
    def is_transferred(self) -> bool:
        """A run that starts from another objective's weights (not its pre-training, not scratch)."""
        return self.transfer is not None and not self.is_pretraining

    @property
    def scratch_twin(self) -> SweepPoint:
        """The same objective, N, budget and seed trained from random weights (transfer share 0)."""
        return self.replace(transfer=None, share=None)

    @property
    def fresh_twin(self) -> SweepPoint:
        """The same point on the whole train part instead of a unique subset (repeated data)."""
        return self.replace(unique_tokens=None)

    @property
    def pretraining(self) -> SweepPoint:
        """The point a transferred point starts from: the pre-training on its source objective, same N, budget, seed."""
        if not self.is_transferred:
            raise ValueError(f"{self.id}: not a transferred point")
        return self.replace(objective=self.transfer, transfer=PRETRAINING)

    def tags(self) -> dict[str, str]:
        """Its fields as MLflow tags (point.objective, point.size, ...), the ones that are set."""
        return {f"point.{k}": str(v) for k, v in self.fields().items() if v is not None}
