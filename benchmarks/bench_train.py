"""Training-step throughput on CPU for three sizes of the CPU sweep, against two baselines measured in the same run:
the matmul peak (torch.matmul of large square fp32 matrices, same threads) and the same shape in Hugging Face
transformers (GPT-2 blocks: GELU MLP 4·d, pre-norm; it adds biases and learned positions).

A step is forward + backward + AdamW update on a fixed batch; model FLOP/s counts 6·N·tokens (the paper's C).

    python benchmarks/bench_train.py [--batch 32] [--context 128] [--steps 20]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from plm_scaling.model.sizes import exact_non_embedding, shape_for
from plm_scaling.model.transformer import ProteinLM

SIZES = (2e4, 8e4, 3e5)


def matmul_peak(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    t = time.perf_counter()
    for _ in range(reps):
        torch.matmul(a, b)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def step_time(model, logits_of, tokens: torch.Tensor, steps: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        logits = logits_of(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def hf_model(shape):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=33,
        n_positions=shape.context,
        n_embd=shape.d_model,
        n_layer=shape.n_layers,
        n_head=shape.n_heads,
        resid_pdrop=0,
        embd_pdrop=0,
        attn_pdrop=0,
        attn_implementation="sdpa",
    )
    return GPT2LMHeadModel(cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    torch.manual_seed(0)
    peak = matmul_peak()
    print(f"threads {torch.get_num_threads()}, matmul peak {peak / 1e9:.1f} GFLOP/s (fp32, 2048²)")
    print(f"{'N':>9} {'shape L×d':>10} {'ours tok/s':>11} {'ours/peak':>10} {'HF tok/s':>10} {'ours/HF':>8}")
    for target in SIZES:
        shape = shape_for(target, a.context + 1)
        n = exact_non_embedding(shape)
        tokens = torch.randint(4, 29, (a.batch, a.context + 1))
        ours = ProteinLM(shape, causal=True)
        t_ours = step_time(ours, ours, tokens, a.steps)
        hf = hf_model(shape)
        t_hf = step_time(hf, lambda x, hf=hf: hf(x).logits, tokens, a.steps)
        tps = a.batch * a.context / t_ours
        print(
            f"{n:>9,} {f'{shape.n_layers}×{shape.d_model}':>10} {tps:>11,.0f} {6 * n * tps / peak:>9.1%} "
            f"{a.batch * a.context / t_hf:>10,.0f} {t_hf / t_ours:>7.2f}x"
        )


if __name__ == "__main__":
    main()
