"""Model sizes from a target non-embedding parameter count, the size ladder, and FLOP accounting."""

from __future__ import annotations

import math

from .transformer import ModelShape

# d_model / n_layers: Kaplan et al. find loss flat over a wide range of aspect ratios; 32 keeps tiny models shallow.
# On a GPU, wider and shallower shapes (e.g. 128: 100M = 8 x 1024) run larger matrix products per launch.
ASPECT = 32


# The narrowest model: d_model 4, one head of 4 (216 non-embedding parameters at one layer). Models narrower than 8
# exist so that budgets of 1e9-1e10 FLOPs on 2 cores have sizes on both sides of their optimum (issue 25, item 4).
MIN_D_MODEL = 4


def head_dim_for(d_model: int) -> int:
    """Head size: one head below d_model 8, then 8 up to 64, 16, 32 and 64 as models widen."""
    if d_model < 8:
        return d_model
    return 8 if d_model <= 64 else 16 if d_model <= 256 else 32 if d_model <= 512 else 64


def shape_for(target_n: float, context: int, vocab_size: int = 33, aspect: float = ASPECT) -> ModelShape:
    """The shape whose 12·L·d² is nearest `target_n`, with d/L ≈ `aspect` and d a multiple of the head size."""
    if target_n < 12 * MIN_D_MODEL**2:
        raise ValueError(
            f"model.target_params {target_n:g} is below the smallest model (12·1·{MIN_D_MODEL}² = {12 * MIN_D_MODEL**2}"
            " weights)"
        )
    # Widths below 8 only for targets below the narrowest d = 8 model, so that every larger target keeps its shape.
    min_d = MIN_D_MODEL if target_n < 12 * 8**2 else 8
    best = None
    for n_layers in range(1, 200):
        d_exact = math.sqrt(target_n / (12 * n_layers))
        if d_exact < min_d:
            break
        step = MIN_D_MODEL if d_exact < 8 else head_dim_for(int(d_exact))
        d = max(step, int(round(d_exact / step)) * step)
        # log distance to the target, plus a mild penalty for leaving the aspect ratio
        score = abs(math.log(12 * n_layers * d * d / target_n)) + 0.1 * abs(math.log(d / n_layers / aspect))
        if best is None or score < best[0]:
            best = (score, n_layers, d)
    _, n_layers, d = best
    return ModelShape(
        n_layers=n_layers, d_model=d, n_heads=d // head_dim_for(d), vocab_size=vocab_size, context=context
    )


def formula_n(shape: ModelShape) -> int:
    """The paper's non-embedding count, 12·L·d² (our exact count adds only the LayerNorms)."""
    return 12 * shape.n_layers * shape.d_model**2


def exact_non_embedding(shape: ModelShape) -> int:
    """Weights of the blocks (12·L·d²) plus LayerNorm weights and biases (2 per block and a final one)."""
    return formula_n(shape) + 2 * shape.d_model * (2 * shape.n_layers + 1)


# The two ways a run's compute is counted (keys of flops_per_token): "paper", C = 6·N·D as the paper counts it,
# and "full", every matrix product of the forward and backward pass. A study (key `compute`) and a run (config key
# budget.count) choose which one its FLOP budgets are met in; the IsoFLOP fit reports its N_opt exponent in both.
FLOP_COUNTS = ("paper", "full")


def flops_per_token(shape: ModelShape, n: int) -> dict[str, float]:
    """Training FLOPs per token: the paper's 6·N, and a full count adding attention scores (6·L·ctx·d, Kaplan et
    al.'s forward 2·L·ctx·d times 3 for the backward pass) and the tied output layer (6·d·V)."""
    attention = 6 * shape.n_layers * shape.context * shape.d_model
    output = 6 * shape.d_model * shape.vocab_size
    return {"paper": 6.0 * n, "full": 6.0 * n + attention + output}


# The size ladder: named targets from CPU-tiny (~5k) to GPU scale (>=100M).
LADDER_TARGETS = {
    "5k": 5e3,
    "10k": 1e4,
    "20k": 2e4,
    "40k": 4e4,
    "80k": 8e4,
    "160k": 1.6e5,
    "300k": 3e5,
    "1M": 1e6,
    "3M": 3e6,
    "10M": 1e7,
    "30M": 3e7,
    "100M": 1e8,
    "300M": 3e8,
}


def ladder(context: int) -> dict[str, ModelShape]:
    return {name: shape_for(n, context) for name, n in LADDER_TARGETS.items()}
