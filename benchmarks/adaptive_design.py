"""Adaptive IsoFLOP rounds against fixed grids of the same total compute, on synthetic truth (analysis/design.py).

Laws as in benchmarks/fit_methods.py (α > β and α < β, N_opt 3e3 at 1e11 FLOPs, seed noise 0.002). The cap is
the two-decade fixed grid's compute (5 budgets 1e10-1e12 × 5 sizes, 7.2e12 FLOPs); the other fixed grids spend
about the same (3 budgets 1e11-1e12 × 5 sizes: 7.0e12; 7 budgets 1e9-1e12 × 5 sizes: 7.22e12). The adaptive design
starts from 3 budgets 1e11-1e12 × 3 sizes ×3 apart (4.2e12) and plans up to `--rounds` rounds within the cap. Two
guesses: grids centred on the true optimum (within half a step), and on 3× it (as our first GPU grid was). Two
adaptive planners: an edge minimum within 2 SE of its neighbour gets sizes beyond it (`noisy_edge: sizes`, the
default) or seeds first (`noisy_edge: seeds`). Prints,
per law × guess × design: laws fitted, bias and RMSE of the N_opt exponent, median interval width and its ratio to
the best fixed grid's (the narrowest median width among the fixed grids that fitted a law), coverage, the share of
studies that lost a budget to an edge minimum, median runs, rounds and compute.

    python benchmarks/adaptive_design.py [--replicates 50] [--bootstrap 100] [--rounds 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

from threadpoolctl import threadpool_limits

from plm_scaling.analysis import design, synthetic
from plm_scaling.analysis.adaptive import Settings

LAWS = {"alpha>beta": (0.34, 0.28), "alpha<beta": (0.28, 0.34)}
THREE_DECADES = (1e9, 3e9, *synthetic.TWO_DECADES)
FIXED = {
    "fixed 3x5 (1e11-1e12)": synthetic.OURS,
    "fixed 5x5 (1e10-1e12)": synthetic.TWO_DECADES,
    "fixed 7x5 (1e9-1e12)": THREE_DECADES,
}
GUESSES = {"centred": 1.0, "3x too large": 3.0}
CAP = 5 * sum(synthetic.TWO_DECADES)


def designs(miss: float, rounds: int) -> dict:
    """{name: callable(law, rng, bootstrap, seed) -> outcome} for one guess."""
    out = {name: _fixed(budgets, miss) for name, budgets in FIXED.items()}
    for name, noisy_edge in (("adaptive", "sizes"), ("adaptive, seeds at a noisy edge", "seeds")):
        settings = Settings(cap=CAP, target_width=0.0, max_rounds=rounds, min_size=100.0, noisy_edge=noisy_edge)
        out[name] = _adaptive(settings, miss)  # target 0: spend the cap
    return out


def _adaptive(settings: Settings, miss: float):
    return lambda law, rng, b, seed: design.adaptive(law, synthetic.OURS, settings, rng, b, seed, miss)


def _fixed(budgets, miss: float):
    return lambda law, rng, b, seed: design.fixed(law, budgets, 5, 2.0, rng, b, seed, miss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicates", type=int, default=50)
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(
        "| law (true exp.) | guess | design | laws | bias | RMSE | median width | width / best fixed | coverage "
        "| lost a budget | runs | rounds | compute |"
    )
    print("| --- " * 13 + "|")
    start = time.perf_counter()
    with threadpool_limits(1):  # thousands of tiny fits: BLAS threads only spin
        for law_name, (alpha, beta) in LAWS.items():
            law = synthetic.calibrated_law(alpha, beta)
            truth = synthetic.n_opt_exponent(law)
            for guess, miss in GUESSES.items():
                out = design.compare(law, designs(miss, a.rounds), a.replicates, a.bootstrap, a.seed)
                fixed = [r["width"] for name, r in out.items() if name in FIXED and r["width"] == r["width"]]
                best = min(fixed, default=float("nan"))  # none: every fixed grid lost its law
                for name, r in out.items():
                    print(
                        f"| {law_name} ({truth:.3f}) | {guess} | {name} | {r['replicates'] - r['no_law']}/"
                        f"{r['replicates']} | {r['bias']:+.4f} | {r['rmse']:.4f} | {r['width']:.3f} | "
                        f"{r['width'] / best:.2f} | {r['coverage']:.0%} | {r['edge_lost']:.0%} | {r['runs']:.0f} | "
                        f"{r['rounds']:.0f} | {r['compute']:.3g} |"
                    )
    print(
        f"\n{time.perf_counter() - start:.0f} s; cap {CAP:.3g} FLOPs; {a.replicates} replicates, "
        f"{a.bootstrap} resamples per fit"
    )


if __name__ == "__main__":
    main()
