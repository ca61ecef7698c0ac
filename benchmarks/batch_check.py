"""Does the batch size matter at our scale? (issue 25 item 2: "batch if you find it matters".)

At the tuning study's three cells (config/studies/tuning.yaml: 816 parameters at 1e10 FLOPs, 1,616 at 3e10, 3,168
at 1e11; CLM and MLM, context 128), each run trains at the recipe's batch (training/recipe.py batch_sequences) and
at ½×, 2× and 4× it, at the recipe's peak LR and β2, seed 0; the recipe's batch again with seed 1 gives the seed
noise. A batch whose steps meet no whole validation schedule within 1% of the budget is refused by training, as in a
study, and listed as refused. Each loss is compared with the recipe batch's (seed 0): a difference "matters" beyond
Z = 2 standard errors of a difference (√2 × the pooled seed sd of the three sizes) plus the objective's thread
spread (analysis/noise.py), the rule every verdict of the workflow uses. Losses: `valid_loss` of `plm-scaling
evaluate` (the whole validation split), as the study figures plot them.

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


def _cli(*args: str) -> dict | None:
    """Run a plm-scaling command; None when it succeeded, else {"refused" (exit 2, bad input) or "failed": the last
    line of its error output}."""
    proc = subprocess.run([sys.executable, "-m", "plm_scaling.cli", *args], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    return {"refused" if proc.returncode == 2 else "failed": (proc.stderr.strip().splitlines() or ["?"])[-1]}


def train(out: Path, manifest: str, objective: str, n: float, c: float, batch: int, seed: int) -> dict:
    """metrics.json of one run (trained and evaluated here unless its folder holds them), or {"refused": message}
    (training refused the batch: exit 2) or {"failed": message}. The loss compared is
    `valid_loss`, on the whole validation split, as the study figures plot it: the training-time windows are noisier
    (MLM seed sd 0.0053 on them here, against 0.0015 on the split in the tuning study)."""
    run_dir = out / f"{objective}_N{n:g}_C{c:g}_b{batch}_s{seed}"
    if not (run_dir / "run.json").exists():
        point = [f"objective={objective}", f"model.target_params={n:g}", f"budget.flops={c:g}", f"seed={seed}"]
        run = [f"optim.batch_sequences={batch}", f"model.context={CONTEXT}", f"run.dir={run_dir}"]
        error = _cli("train", *point, *run, "logger=none", "trainer.threads=1", f"data.manifest={manifest}")
        if error:
            return error
    if not (run_dir / "metrics.json").exists() and (error := _cli("evaluate", str(run_dir))):
        return error
    return json.loads((run_dir / "metrics.json").read_text())


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
        pairs = [(runs[objective, n, c, 1, 1], runs[objective, n, c, 1, 0]) for n, c in CELLS]
        gaps = [a["valid_loss"] - b["valid_loss"] for a, b in pairs if "valid_loss" in a and "valid_loss" in b]
        if not gaps:
            print(f"\n{objective}: no pair of seeds at the recipe batch trained; no noise, no verdicts\n")
            continue
        sd = math.sqrt(sum(g * g for g in gaps) / (2 * len(gaps)))  # pooled over pairs: var(diff) = 2 sd²
        pairs_used = len(gaps)
        margin = Z * math.sqrt(2) * sd + THREAD_SPREAD[objective]
        for n, c in CELLS:
            ref = runs[objective, n, c, 1, 0].get("valid_loss")
            for m in MULTIPLES:
                run, batch = runs[objective, n, c, m, 0], jobs[objective, n, c, m, 0]
                if "valid_loss" not in run or ref is None:
                    why = next((f"{k}: {run[k]}" for k in ("refused", "failed") if k in run), "recipe batch missing")
                    print(f"| {objective} | {n} | {c:g} | {batch} (x{m:g}) | {why} | | |")
                    continue
                d = run["valid_loss"] - ref
                verdict = "recipe" if m == 1 else ("beyond the noise" if abs(d) > margin else "within the noise")
                loss = run["valid_loss"]
                print(f"| {objective} | {n} | {c:g} | {batch} (x{m:g}) | {loss:.4f} | {d:+.4f} | {verdict} |")
        print(f"\n{objective}: seed sd {sd:.4f} nats ({pairs_used} pairs at the recipe batch), margin {margin:.4f} "
              f"(Z·√2·sd + thread spread {THREAD_SPREAD[objective]})\n")  # fmt: skip


if __name__ == "__main__":
    main()
