"""Fitting methods against known truth: synthetic IsoFLOP studies from L = E + A/N^α + B/D^β (α > β and α < β),
on our grid (3 budgets 1e11-1e12 x 5 sizes) and on two decades (5 budgets 1e10-1e12 x 5 sizes), seed noise 0.002,
each fitted by interp, notebook, parametric (Epoch) and vpnls. Prints per law x grid x method the bias and RMSE of
the N_opt exponent, the median width and the coverage of its 95% interval, and the median count of bootstrap
resamples that gave no law. The laws put N_opt at 3e3 parameters at 1e11 FLOPs, as our CLM runs measure
(synthetic.calibrated_law).

    python benchmarks/fit_methods.py [--replicates 25] [--bootstrap 100] [--seed 0] [--methods interp,vpnls]
"""

from __future__ import annotations

import argparse
import time

from threadpoolctl import threadpool_limits

from plm_scaling.analysis import synthetic

LAWS = {"alpha>beta": (0.34, 0.28), "alpha<beta": (0.28, 0.34)}
GRIDS = {"ours 3x5": synthetic.OURS, "two decades 5x5": synthetic.TWO_DECADES}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicates", type=int, default=25)
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(synthetic.METHODS), help="comma-separated subset")
    a = ap.parse_args()
    methods = tuple(a.methods.split(","))
    print(
        "| law (true N exp.) | grid | method | laws | bias | RMSE | median CI width | coverage | failed resamples "
        "| s/fit |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    seconds = dict.fromkeys(methods, 0.0)
    fits = 0
    start = time.perf_counter()
    with threadpool_limits(1):  # tiny least-squares problems: BLAS threads only spin
        for law_name, (alpha, beta) in LAWS.items():
            law = synthetic.calibrated_law(alpha, beta)
            truth = synthetic.n_opt_exponent(law)
            for grid_name, budgets in GRIDS.items():
                out = synthetic.benchmark(law, budgets, a.replicates, a.bootstrap, a.seed, methods)
                fits += a.replicates
                for method, r in out.items():
                    seconds[method] += r["seconds"]
                    print(
                        f"| {law_name} ({truth:.3f}) | {grid_name} | {method} | {r['laws']}/{r['replicates']} "
                        f"| {r['bias']:+.3f} | {r['rmse']:.3f} | {r['width']:.3f} | {r['coverage']:.0%} "
                        f"({r['intervals']}) | {r['failed']:g} | {r['seconds'] / r['replicates']:.2f} |"
                    )
    total = time.perf_counter() - start
    print(f"\n{a.replicates} replicates per cell, {a.bootstrap} bootstrap resamples, seed {a.seed}: {total:.0f} s")
    print("seconds per fit (with its bootstrap): " + ", ".join(f"{m} {s / fits:.3f}" for m, s in seconds.items()))


if __name__ == "__main__":
    main()
