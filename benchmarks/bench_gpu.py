"""GPU training throughput of the project's model: bare training steps against the matmul peak, and the pipeline.

Measured in one run, on one GPU:
1. the bf16 matmul peak (8192³ products), the baseline for every ratio below;
2. bare steps (forward + backward + AdamW, bf16 autocast) for each case: tokens/s, and MFU on two FLOP counts,
   6·N (the paper's C) and the full count (attention scores and output layer added), each against the GPU's
   dense bf16 spec and against the measured peak. The cases pull one lever at a time against a reference
   (shape, compile, fused AdamW, a host sync every step, attention backend);
3. optionally (--pipeline MANIFEST), the project's own `plm-scaling train ... trainer=gpu` at one case's shape:
   steady tokens/s from its log lines, as a ratio of the bare step at the same shape, batch and context.

    python benchmarks/bench_gpu.py [--cases ref-100M,wide-100M] [--steps 30] [--pipeline results/.../manifest.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from plm_scaling.model.sizes import exact_non_embedding, flops_per_token, shape_for
from plm_scaling.model.transformer import ProteinLM

DENSE_BF16_SPEC = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # NVIDIA's dense bf16 tensor-core figures
# name: (target N, d/L aspect, context, batch sequences, compile, fused AdamW, sync every step, SDPA backend,
#        causal). "ref" is the CPU ladder's shape rule (d/L = 32), "wide" a GPU-friendly d/L = 128.
CASES = {
    "ref-10M": (1e7, 32, 1024, 64, True, True, False, None, True),
    "wide-10M": (1e7, 128, 1024, 64, True, True, False, None, True),
    "wide-10M-b256": (1e7, 128, 1024, 256, True, True, False, None, True),
    "ref-100M": (1e8, 32, 1024, 64, True, True, False, None, True),
    "wide-100M": (1e8, 128, 1024, 64, True, True, False, None, True),
    "eager-100M": (1e8, 32, 1024, 64, False, True, False, None, True),
    "unfused-100M": (1e8, 32, 1024, 64, True, False, False, None, True),
    "sync-100M": (1e8, 32, 1024, 64, True, True, True, None, True),
    "math-attn-100M": (1e8, 32, 1024, 64, True, True, False, "MATH", True),
    "wide-100M-mlm": (1e8, 128, 1024, 64, True, True, False, None, False),
    "ref-300M": (3e8, 32, 1024, 64, True, True, False, None, True),
    "wide-300M": (3e8, 128, 1024, 64, True, True, False, None, True),
}


def matmul_peak(n: int = 8192, reps: int = 20) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t)


def bare_step_rate(
    target: float,
    aspect: float,
    context: int,
    batch: int,
    compile: bool,
    fused: bool,
    sync: bool,
    backend: str | None,
    causal: bool,
    steps: int,
) -> dict:
    """tokens/s of steady training steps (after warm-up and compilation) at this shape (loss on every position)."""
    shape = shape_for(target, context, aspect=aspect)
    model = ProteinLM(shape, causal=causal).cuda()
    if compile:
        for block in model.blocks:  # as PLMModule does: regional, in place
            block.compile()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)
    tokens = torch.randint(4, 24, (batch, context + 1), device="cuda")

    def attn():
        return (
            torch.nn.attention.sdpa_kernel(getattr(torch.nn.attention.SDPBackend, backend))
            if backend
            else contextlib.nullcontext()
        )

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16), attn():
            logits = model(tokens[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if sync:
            float(loss.detach())  # what a per-step divergence check or progress line does

    t0 = time.perf_counter()
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    warmup_s = time.perf_counter() - t0
    t = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    n = exact_non_embedding(shape)
    fpt = flops_per_token(shape, n)
    return {
        "shape": f"L{shape.n_layers}xd{shape.d_model}xh{shape.n_heads}",
        "n": n,
        "context": context,
        "batch": batch,
        "tokens_per_s": steps * batch * context / (time.perf_counter() - t),
        "flops_per_token": fpt["paper"],
        "flops_per_token_full": fpt["full"],
        "warmup_s": warmup_s,
    }


def pipeline_rate(
    manifest: str, target: float, aspect: float, context: int, batch: int, objective: str, tokens: float
) -> dict:
    """The project's own train command on this GPU; steady tokens/s = median of the second half of its log lines."""
    cmd = [
        sys.executable,
        "-m",
        "plm_scaling.cli",
        "train",
        "trainer=gpu",
        "logger=none",
        "trainer.progress=plain",
        f"objective={objective}",
        f"model.target_params={target}",
        f"model.aspect={aspect}",
        f"model.context={context}",
        f"optim.batch_sequences={batch}",
        f"budget.tokens={tokens}",
        "budget.flops=null",
        f"data.manifest={manifest}",
        f"run.dir=/tmp/bench_gpu_{objective}",
    ]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    rates = [float(r.replace(",", "")) for r in re.findall(r"tok/s ([\d,]+)", out.stderr)]
    if out.returncode or not rates:
        return {"error": (out.stderr or out.stdout)[-2000:], "wall_s": wall}
    return {
        "tokens_per_s": statistics.median(rates[len(rates) // 2 :]),
        "wall_s": wall,
        "tokens": tokens,
        "whole_run_tokens_per_s": tokens / wall,
    }


def mfu_row(name: str, r: dict, spec: float, peak: float) -> str:
    tps = r["tokens_per_s"]
    return (
        f"{name:16s} {r['shape']:16s} N={r['n']:>12,} {tps:>12,.0f} tok/s  "
        f"MFU 6N {tps * r['flops_per_token'] / spec:6.1%} of spec, {tps * r['flops_per_token'] / peak:6.1%} of "
        f"measured | full {tps * r['flops_per_token_full'] / spec:6.1%} / "
        f"{tps * r['flops_per_token_full'] / peak:6.1%}  (warm-up {r['warmup_s']:.0f} s)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated names from CASES")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per case (after 3 warm-up steps)")
    ap.add_argument("--pipeline", help="a data-stage manifest: also time `plm-scaling train` (CLM and MLM)")
    ap.add_argument("--pipeline-case", default="wide-100M", help="the shape, context and batch of the pipeline runs")
    ap.add_argument("--objectives", default="clm,mlm", help="objectives of the pipeline runs")
    ap.add_argument("--pipeline-tokens", type=float, default=2e7)
    ap.add_argument("--json", help="write every number here")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    name = torch.cuda.get_device_name()
    spec = next((v for k, v in DENSE_BF16_SPEC.items() if k in name), float("nan"))
    peak = matmul_peak()
    print(f"{name}: bf16 matmul {peak / 1e12:.0f} TFLOP/s measured, dense spec {spec / 1e12:.0f}", flush=True)
    results = {"device": name, "matmul_peak": peak, "spec": spec, "bare": {}, "pipeline": {}}
    for case in a.cases.split(","):
        try:
            r = bare_step_rate(*CASES[case], steps=a.steps)
        except Exception as err:  # report and go on: one failing lever must not cost the whole run
            print(f"{case}: failed: {' '.join(str(err).split())[:300]}", flush=True)
            continue
        results["bare"][case] = r
        print(mfu_row(case, r, spec, peak), flush=True)
        torch.cuda.empty_cache()
    if a.pipeline:
        case = a.pipeline_case
        target, aspect, context, batch = CASES[case][:4]
        for objective in a.objectives.split(","):
            bare_case = case if objective == "clm" else f"{case}-mlm"
            r = pipeline_rate(a.pipeline, target, aspect, context, batch, objective, a.pipeline_tokens)
            results["pipeline"][f"{case}-{objective}"] = r
            bare = results["bare"].get(bare_case, {}).get("tokens_per_s")
            if "error" in r:
                print(f"pipeline {case} {objective}: failed: {r['error'][-600:]}", flush=True)
                continue
            ratio = f"{r['tokens_per_s'] / bare:.1%} of bare {bare_case}" if bare else "no bare rate"
            print(
                f"pipeline {case:10s} {objective}: {r['tokens_per_s']:,.0f} tok/s steady ({ratio}), "
                f"{r['wall_s']:.0f} s wall for {r['tokens']:.3g} tokens (start-up, compile, validations and "
                f"checkpoints included: {r['whole_run_tokens_per_s']:,.0f} tok/s)",
                flush=True,
            )
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
