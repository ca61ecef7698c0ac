"""The study key `adapt` as the adaptive planner's settings (analysis/adaptive.py): what a round may decide, and
the cap it spends, in FLOPs or in training hours (each size charged at the rate its runs measured); and the runs it
reads and the decisions it writes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

PRIORITY = ("edge", "edge_seeds", "budget", "between", "seeds")  # kinds of decision; at equal cost, this order


@dataclass(frozen=True)
class Settings:
    """Study key `adapt` (config/schemas/config.schema.yaml $defs/study), with its defaults."""

    target_width: float = 0.3  # of the N_opt exponent's 95% interval
    cap: float = math.inf  # total FLOPs of the planned objectives' runs (the grid's too), in the study's count
    max_rounds: int = 3
    step: float = 2.0  # spacing of sizes beyond an edge and in a new budget
    resolution: float = 1.5  # sizes around a minimum closer than this are fine enough
    budget_step: float = 3.0  # a new budget is the smallest ÷ this or the largest × this
    budget_sizes: int = 5
    max_seeds: int = 3  # per size and budget
    seed_noise: float = 0.002  # sd of one run's loss (nats): our pooled seed noise at 1e11 FLOPs
    min_size: float = 1.0  # a floor of the study's own; the snap (rounds.model_sizes) is 0 below our smallest model
    max_size: float = math.inf
    noisy_edge: str = "sizes"  # an edge within 2 SE of its neighbour: sizes beyond, seeds only where none is trainable
    decisions: tuple[str, ...] = PRIORITY  # the kinds of decision a round may make
    cap_hours: float = math.inf  # training hours of those runs: the hours they took, planned runs at their size's rate
    rates: tuple[tuple[float, float], ...] = ()  # (size, FLOPs per training second) measured so far (study/rounds.py)
    spent_seconds: float = 0.0  # training seconds the runs so far took (their timing.json)

    def __post_init__(self):
        if self.noisy_edge not in ("sizes", "seeds"):
            raise ValueError(f"config key adapt.noisy_edge: {self.noisy_edge!r} is not sizes or seeds")

    def rate_at(self, n: float) -> float:
        """FLOPs per second a run of size n trains at: interpolated in log N and log rate between the sizes measured;
        below them along the first segment's slope, but no steeper than 1 and never faster than the smallest size,
        above them the largest size's. Per size, because ours differ ~20x: a 216-parameter model trains at 0.2-0.4
        GFLOP/s of 6·N·D on 2 cores, one of 7,056 at 4-6. The slope bound: a step costs a fixed overhead plus work
        ∝ N, so seconds per token never fall below the overhead and the rate (6N per token) grows at most ∝ N;
        a steeper measured segment is noise (two runs sharing the cores). In the cpu-quick study (slope 1.56
        measured) the unbounded slope charged its round-1 CLM runs of 216 and 424 parameters at 1e10 FLOPs 449 s;
        bounded, 240 s; they took 101."""
        if not self.rates:
            raise ValueError("adapt.cap_hours needs the FLOP rates of runs that trained, and there are none")
        sizes, rates = (np.log(v) for v in zip(*sorted(self.rates)))
        x = math.log(n)
        if x < sizes[0] and sizes.size > 1:  # below the sizes measured: the first segment's slope, never faster
            slope = min(1.0, (rates[1] - rates[0]) / (sizes[1] - sizes[0]))
            return float(np.exp(min(rates[0], rates[0] + slope * (x - sizes[0]))))
        return float(np.exp(np.interp(x, sizes, rates)))  # above: the largest size's (ours only speed up with N)

    def room(self, spent: float) -> list[float]:
        """[FLOPs, training seconds] the caps leave after `spent` FLOPs (inf where a cap is not set)."""
        hours = math.isfinite(self.cap_hours)
        return [self.cap - spent, self.cap_hours * 3600 - self.spent_seconds if hours else math.inf]

    def charge(self, c: float, sizes) -> list[float]:
        """[FLOPs, training seconds] of one run per size at budget c (seconds only where hours are capped)."""
        seconds = sum(c / self.rate_at(n) for n in sizes) if math.isfinite(self.cap_hours) else 0.0
        return [c * len(sizes), seconds]

    def cap_words(self, spent: float) -> str:
        words = [f"{spent:.3g} of {self.cap:.3g} FLOPs spent"] if math.isfinite(self.cap) else []
        if math.isfinite(self.cap_hours):
            words.append(f"{self.spent_seconds / 3600:.3g} of {self.cap_hours:g} training hours spent (measured)")
        return "; ".join(words) or f"{spent:.3g} FLOPs spent"

    @classmethod
    def of(cls, block: dict) -> Settings:
        keys = {k: v for k, v in block.items() if k in cls.__dataclass_fields__}
        kinds = {"decisions": tuple(keys.pop("decisions"))} if "decisions" in keys else {}
        kinds |= {"noisy_edge": str(keys.pop("noisy_edge"))} if "noisy_edge" in keys else {}
        return cls(**{k: float(v) if k != "max_rounds" else int(v) for k, v in keys.items()}, **kinds)


@dataclass(frozen=True)
class Run:
    """A finished run as the planner sees it: its budget (FLOPs, the study's count), size, seed and final loss."""

    c: float
    n: float
    seed: int
    loss: float


@dataclass
class Decision:
    objective: str
    kind: str  # one of PRIORITY
    c: float
    runs: list[tuple[float, int]]  # (size, seed) at budget c
    why: str
    cost: float = field(init=False)

    def __post_init__(self):
        self.cost = self.c * len(self.runs)

    def as_dict(self) -> dict:
        return {
            "objective": self.objective,
            "kind": self.kind,
            "c": self.c,
            "why": self.why,
            "cost": self.cost,
            "runs": [{"n": n, "seed": s} for n, s in self.runs],
        }
