"""The CPU training loop against the bare step of its own model, at the default study's points, in one run.

For each point (size:budget; the batch, LR and context are the ones that point trains with in the default study):
  bare      forward + backward + AdamW of the same model on one batch of random tokens held in memory: plain
            PyTorch, no Lightning, no data loading, one thread (what the loop is measured against);
  compiled  the same step with torch.compile(model) (inductor's CPU code generation), compile time apart;
  loop      `plm-scaling train` of that point, as the workflow runs it (one thread, a subprocess, logger none or
            an MLflow sqlite store): its steady tokens/s over the training steps alone (timing.json, where
            validation, checkpoints and logging are counted apart) and its whole-run wall time, start-up included;
and the ratios loop ÷ bare (steady, then whole run). The matmul peak (2048² fp32, one thread) sets the scale, the
machine's load average is printed before and after (a busy machine slows every column, not only one).

--levers measures, one at a time, what the bare step gains from: compilation, the math attention kernel instead
of the fused one, 2 threads instead of 1, a foreach AdamW.

    python benchmarks/bench_loop.py --manifest results/data/uniprot_example/split/manifest.json \
        [--objective clm] [--points 800:1e11,2500:1e11,7000:1e11,20000:1e11,40000:1e12] [--logger mlflow]
        [--no-compile] [--levers] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_train import matmul_peak  # the same peak as the training benchmark (benchmarks/ is on sys.path)

from plm_scaling.model.transformer import IGNORE, ModelShape, ProteinLM, token_loss
from plm_scaling.sweep_point import SweepPoint
from plm_scaling.training.plan import make_plan
from plm_scaling.training.recipe import lr_factor
from plm_scaling.training.run_clock import PHASES
from plm_scaling.training.train import compose_config

DEFAULT_POINTS = "800:1e11,2500:1e11,7000:1e11,20000:1e11,40000:1e12"  # the one-decade default grid's points


def point_overrides(objective: str, size: str, flops: str, manifest: str) -> list[str]:
    return [
        f"objective={objective}",
        f"model.target_params={size}",
        f"budget.flops={flops}",
        "model.context=128",  # the default study's
        f"data.manifest={manifest}",
        "trainer.threads=1",
        "trainer.progress=plain",
        f"run.id={SweepPoint(objective, float(size), 0, flops=float(flops)).id}",
    ]


def bare_rate(
    shape: dict, objective: str, batch: int, lr: float, compiled=False, threads=1, foreach=None, recipe=False
) -> dict:
    """Tokens/s of forward + backward + AdamW on one in-memory batch (median of 5 timings of 20 steps); MLM with a
    target at 15 % of the positions. With `recipe`, what the run's recipe adds to a step: two parameter groups
    (weight decay on matrices only), gradient clipping at 1.0 and the LR schedule."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ProteinLM(ModelShape(**shape), causal=objective == "clm")
    forward = torch.compile(model) if compiled else model
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1}]
    groups += [{"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}] if recipe else []
    opt = torch.optim.AdamW(groups if recipe else params, lr=lr, betas=(0.9, 0.95), foreach=foreach)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, 10_000, 500)) if recipe else None
    inputs = torch.randint(4, 29, (batch, shape["context"]))
    targets = torch.randint(4, 29, (batch, shape["context"]))
    if objective == "mlm":
        targets[torch.rand(targets.shape) > 0.15] = IGNORE

    def steps(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            loss, _ = token_loss(forward, {"inputs": inputs, "targets": targets})
            loss.backward()
            if recipe:
                torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if recipe:
                schedule.step()
        return time.perf_counter() - start

    warmup = steps(3)
    typical = statistics.median(steps(20) for _ in range(5))  # the median, as the loop's rate is no best case
    torch.set_num_threads(1)
    return {"tokens_per_s": 20 * batch * shape["context"] / typical, "warmup_s": warmup}


def math_attention_rate(shape: dict, objective: str, batch: int, lr: float) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        return bare_rate(shape, objective, batch, lr)


def loop_run(overrides: list[str], logger: str, workdir: Path) -> dict:
    """`plm-scaling train` in a subprocess: its wall time from outside and its timing.json."""
    run_dir = workdir / "run"
    store = [f"logger.tracking_uri=sqlite:///{workdir / 'mlflow.db'}"] if logger == "mlflow" else ["logger=none"]
    cmd = [sys.executable, "-m", "plm_scaling.cli", "train", *overrides, *store, f"run.dir={run_dir}"]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return {"wall_s": wall, **json.loads((run_dir / "timing.json").read_text())}


def measure_point(objective: str, point: str, a) -> dict:
    size, flops = point.split(":")
    overrides = point_overrides(objective, size, flops, a.manifest)
    plan = make_plan(compose_config([*overrides, "run.dir=/nonexistent"]))
    row = {"point": plan.sweep_point, "n": plan.n, "batch": plan.batch_per_device, "shape": plan.shape}
    row["bare"] = bare_rate(plan.shape, objective, plan.batch_per_device, plan.lr)
    row["bare + recipe"] = bare_rate(plan.shape, objective, plan.batch_per_device, plan.lr, recipe=True)
    if not a.no_compile:
        row["compiled"] = bare_rate(plan.shape, objective, plan.batch_per_device, plan.lr, compiled=True)
    if a.levers:
        args = (plan.shape, objective, plan.batch_per_device, plan.lr)
        row["math attention"] = math_attention_rate(*args)
        row["2 threads"] = bare_rate(*args, threads=2)
        row["foreach AdamW"] = bare_rate(*args, foreach=True)
    with tempfile.TemporaryDirectory() as tmp:
        row["loop"] = loop_run(overrides, a.logger, Path(tmp))
    return row


def print_row(r: dict, peak: float) -> None:
    bare, loop = r["bare"]["tokens_per_s"], r["loop"]
    steady, whole = loop["steps_tokens_per_s"], loop["tokens"] / loop["wall_s"]
    lines = [
        f"{r['point']}: N = {r['n']:,}, batch {r['batch']} × {r['shape']['context']}",
        f"  bare           {bare:>10,.0f} tok/s  ({6 * r['n'] * bare / peak:.1%} of the matmul peak, 6·N)",
    ]
    for name in ("bare + recipe", "compiled", "math attention", "2 threads", "foreach AdamW"):
        if name in r:
            rate = r[name]["tokens_per_s"]
            extra = f"  (compiling: {r[name]['warmup_s']:.0f} s)" if name == "compiled" else ""
            lines.append(f"  {name:14s} {rate:>10,.0f} tok/s  = {rate / bare:.2f}× bare{extra}")
    recipe = r["bare + recipe"]["tokens_per_s"]
    lines.append(
        f"  loop, steady   {steady:>10,.0f} tok/s  = {steady / bare:.2f}× bare, {steady / recipe:.2f}× bare + recipe"
    )
    phases = ", ".join(f"{k} {loop['seconds'][k]:.1f}" for k in PHASES)
    lines.append(
        f"  whole run      {whole:>10,.0f} tok/s  = {whole / bare:.2f}× bare: {loop['wall_s']:.1f} s for "
        f"{loop['tokens']:,} tokens ({phases} s)"
    )
    print("\n".join(lines), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True, help="the data stage's manifest.json the points train on")
    ap.add_argument("--objective", default="clm", choices=("clm", "mlm"))
    ap.add_argument("--points", default=DEFAULT_POINTS, help="size:budget,... (default: %(default)s)")
    ap.add_argument("--logger", default="none", choices=("none", "mlflow"))
    ap.add_argument("--no-compile", action="store_true", help="skip the compiled bare step (~10-20 s a size)")
    ap.add_argument("--levers", action="store_true", help="also the bare step with one lever changed at a time")
    ap.add_argument("--json", help="write every measurement to this file")
    a = ap.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    peak = matmul_peak()
    print(f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f}; 1 thread; matmul peak {peak / 1e9:.1f} GFLOP/s")
    rows = []
    for point in a.points.split(","):
        rows.append(measure_point(a.objective, point, a))
        print_row(rows[-1], peak)
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    if a.json:
        Path(a.json).write_text(json.dumps({"peak": peak, "load": load_before, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
