"""All fits on the released logs with 1000 bootstrap resamples (goal: <= 60 s on 2 cores).

Baseline measured in the same run: the same fits with BLAS free to use all its threads, which is what the code
did before it limited them (tiny least-squares problems make worker threads spin).

    python benchmarks/bench_fits.py [LOGS_DIR] [--bootstrap 1000]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from threadpoolctl import threadpool_limits

from plm_scaling.analysis import fits
from plm_scaling.analysis.logs import ingest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("logs", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared" / "paper_logs"))
    ap.add_argument("--bootstrap", type=int, default=1000)
    a = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        table = ingest(a.logs)
        t_ingest = time.perf_counter() - t
        t = time.perf_counter()
        fits.fit_all(table, bootstrap=a.bootstrap)  # limits BLAS to one thread itself
        ours = time.perf_counter() - t
        with threadpool_limits(None):
            orig = fits.threadpool_limits
            fits.threadpool_limits = lambda n: threadpool_limits(None)  # baseline: no limit
            t = time.perf_counter()
            fits.fit_all(table, bootstrap=a.bootstrap)
            base = time.perf_counter() - t
            fits.threadpool_limits = orig
    print(f"ingest {len(table):,} rows: {t_ingest:.1f} s")
    print(f"all fits, {a.bootstrap} bootstrap resamples: {ours:.1f} s (goal <= 60 s: {ours / 60:.2f} of it)")
    print(f"baseline, BLAS threads unlimited: {base:.1f} s; ours/baseline = {ours / base:.2f}")


if __name__ == "__main__":
    main()
