"""The training recipe as documented functions of model size N, and budget -> steps.

AdamW (β = 0.9, 0.95; weight decay 0.1 on matrices only), gradient clipping at 1.0, linear warm-up then cosine
decay to 10% of the peak over the run's own budget, as in the paper.

Peak learning rate lr(N) = 3e-3 · (N / 1e6)^(-1/4), capped at 1e-2: ~1e-2 at 10k parameters, 3e-3 at 1M, 1e-3 at
100M. Tiny models need the high end: with GPT-3-like 6e-4, a 20k-parameter model at 1e12 FLOPs ends barely below
the 2.90-nat unigram entropy (measured here), because it takes too few effective steps.

Batch (sequences of `context` tokens) b(N) = 8 · (N / 1e4)^(1/4), rounded to a power of two in [4, 256]:
small batches give tiny budgets many optimiser steps (step efficiency); larger models get larger batches as the
critical batch size grows. Long runs then take larger batches (up to 64 sequences) while they keep at least
MIN_STEPS optimiser steps: tiny models are bound by per-step overhead, and measured here (3k parameters, 3M tokens,
context 128) batch 32 ends at the same loss as batch 8 (2.864 vs 2.865 nats) at 1.5x the tokens per second, while
batch 64 over only 370 steps ends worse (2.876).
"""

from __future__ import annotations

import math


def peak_lr(n: float) -> float:
    return min(1e-2, 3e-3 * (n / 1e6) ** -0.25)


MIN_STEPS = 2000
LONG_RUN_BATCH = 64


def batch_sequences(n: float, tokens: float | None = None, context: int | None = None) -> int:
    raw = 8 * (n / 1e4) ** 0.25
    batch = int(min(256, max(4, 2 ** round(math.log2(raw)))))
    if tokens is not None and context is not None:  # a long run: double while MIN_STEPS steps remain
        while batch * 2 <= LONG_RUN_BATCH and tokens / (batch * 2 * context) >= MIN_STEPS:
            batch *= 2
    return batch


def lr_factor(step: int, total: int, warmup: int, floor: float = 0.1) -> float:
    """Multiplier of the peak LR: linear warm-up over `warmup` steps, then cosine from 1 to `floor` at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


BUDGET_TOLERANCE = 0.01  # a run's compute may differ from its budget by at most 1%


def validation_schedule(steps: float, eval_points: int) -> tuple[int, int] | None:
    """(validations, steps between them): the first schedule whose total is within BUDGET_TOLERANCE of `steps` (a
    fractional step count: the budget's tokens over tokens per step); None when no whole schedule comes that close.

    Every validation ends an interval of equal length (it is followed by a checkpoint, and a resumed run restarts
    at one), so the steps are a multiple of the validations. Rounding the steps up to such a multiple overshot
    small budgets by up to 94%; instead the number of validations starts at eval_points and grows (up to one per
    step) until a schedule meets the budget within tolerance; fewer than eval_points only when the run is too
    short for that many."""
    candidates = [
        *range(eval_points, max(2 * eval_points, int(steps) + 1) + 1),  # more validations, if need be
        *range(min(eval_points - 1, int(steps)), 0, -1),
    ]
    for evals in candidates:
        per = max(1, round(steps / evals))
        if abs(evals * per / steps - 1) <= BUDGET_TOLERANCE:
            return evals, per
    return None
