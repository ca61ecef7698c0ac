"""Does the batch size matter at our scale? (issue 25 item 2: "batch if you find it matters".)

At the tuning study's three cells (config/studies/tuning.yaml: 816 parameters at 1e10 FLOPs, 1,616 at 3e10, 3,168
at 1e11; CLM and MLM, context 128), each run trains at the recipe's batch (training/recipe.py batch_sequences) and
at ½×, 2× and 4× it, at the recipe's peak LR and β2, seed 0; the recipe's batch again with seed 1 gives the seed
noise. A batch whose steps meet no whole validation schedule within 1% of the budget is refused by training, as in a
study, and listed as refused. Each loss is compared with the recipe batch's (seed 0): a difference "matters" beyond
Z = 2 standard errors of a difference (√2 × the pooled seed sd of the three sizes) plus the objective's thread
spread (analysis/noise.py), the rule every verdict of the workflow uses.

    python benchmarks/batch_check.py --manifest results/data/uniprot_example/split/manifest.json [--out DIR] [--jobs 2]

Runs go to --out (default results/benchmarks/batch_check/; a finished run is read, not trained again), one thread
each, `--jobs` at a time; ~10 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from plm_scaling.analysis.noise import THREAD_SPREAD, Z
from plm_scaling.model.sizes import exact_non_embedding, shape_for
from plm_scaling.training.recipe import batch_sequences

CELLS = ((816, 1e10), (1616, 3e10), (3168, 1e11))  # the tuning study's (size, budget)
MULTIPLES = (0.5, 1, 2, 4)
CONTEXT = 128


def recipe_batch(n: float, c: float) -> int:
    exact = exact_non_embedding(shape_for(n, CONTEXT))  # as training/plan.py resolves optim.batch_sequences=auto
    return batch_sequences(exact, c / (6 * exact), CONTEXT)


def train(out: Path, manifest: str, objective: str, n: float, c: float, batch: int, seed: int) -> dict:
    """run.json of one run (trained here unless its folder holds one), or {"refused": message}."""
    run_dir = out / f"{objective}_N{n:g}_C{c:g}_b{batch}_s{seed}"
    done = run_dir / "run.json"
    if not done.exists():
        cmd = [sys.executable, "-m", "plm_scaling.cli", "train", f"objective={objective}", f"model.target_params={n:g}",
               f"budget.flops={c:g}", f"seed={seed}", f"optim.batch_sequences={batch}", f"model.context={CONTEXT}",
               "logger=none", "trainer.threads=1", "trainer.progress=plain", f"run.dir={run_dir}",
               f"data.manifest={manifest}"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"refused": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/batch_check"))
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    jobs = {}
    for objective in ("clm", "mlm"):
        for n, c in CELLS:
            base = recipe_batch(n, c)
            for m in MULTIPLES:
                jobs[objective, n, c, m, 0] = max(1, round(base * m))
            jobs[objective, n, c, 1, 1] = base
    with ThreadPoolExecutor(a.jobs) as pool:
        futures = {k: pool.submit(train, a.out, a.manifest, k[0], k[1], k[2], b, k[4]) for k, b in jobs.items()}
        runs = {k: f.result() for k, f in futures.items()}
    report(jobs, runs)


def report(jobs: dict, runs: dict) -> None:
    print("| objective | N | C | batch (x recipe) | loss | - recipe batch | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for objective in ("clm", "mlm"):
        gaps = [runs[objective, n, c, 1, 1]["final_val_loss"] - runs[objective, n, c, 1, 0]["final_val_loss"]
                for n, c in CELLS]  # fmt: skip
        sd = math.sqrt(sum(g * g for g in gaps) / (2 * len(gaps)))  # pooled over pairs: var(diff) = 2 sd²
        margin = Z * math.sqrt(2) * sd + THREAD_SPREAD[objective]
        for n, c in CELLS:
            ref = runs[objective, n, c, 1, 0]["final_val_loss"]
            for m in MULTIPLES:
                run, batch = runs[objective, n, c, m, 0], jobs[objective, n, c, m, 0]
                if "refused" in run:
                    print(f"| {objective} | {n} | {c:g} | {batch} (x{m:g}) | refused: {run['refused']} | | |")
                    continue
                d = run["final_val_loss"] - ref
                verdict = "recipe" if m == 1 else ("beyond the noise" if abs(d) > margin else "within the noise")
                loss = run["final_val_loss"]
                print(f"| {objective} | {n} | {c:g} | {batch} (x{m:g}) | {loss:.4f} | {d:+.4f} | {verdict} |")
        print(f"\n{objective}: seed sd {sd:.4f} nats (3 pairs at the recipe batch), margin {margin:.4f} "
              f"(Z·√2·sd + thread spread {THREAD_SPREAD[objective]})\n")  # fmt: skip


if __name__ == "__main__":
    main()
