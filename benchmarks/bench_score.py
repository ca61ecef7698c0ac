"""Perplexity-filter scoring throughput (residues/s) of a ~20k-parameter CLM on the embedded train split, against a
baseline measured in the same run: the same model scoring one sequence per forward pass (the obvious loop).

The weights are a fresh initialisation: speed does not depend on them. Goal (issue 13): >= 1e5 residues/s on 2 cores.

    python benchmarks/bench_score.py [SPLIT_DIR] [--target 2e4] [--context 128] [--baseline 500]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from plm_scaling.data.shards import Shard
from plm_scaling.data.vocab import CLS, EOS
from plm_scaling.model.sizes import exact_non_embedding, shape_for
from plm_scaling.model.transformer import ProteinLM
from plm_scaling.training.perplexity_filter import score_shard


@torch.no_grad()
def one_at_a_time(model, shard: Shard, context: int, count: int) -> float:
    """Residues/s when each sequence is framed and scored alone, cropped to the context."""
    t, residues = time.perf_counter(), 0
    for i in range(count):
        seq = np.concatenate(([CLS], shard[i][: context - 1], [EOS])).astype(np.int64)
        tokens = torch.from_numpy(seq)[None]
        F.cross_entropy(model(tokens[:, :-1]).transpose(1, 2), tokens[:, 1:])
        residues += len(seq) - 2
    return residues / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("split_dir", nargs="?", default="results/data/uniprot_example/split")
    ap.add_argument("--target", type=float, default=2e4)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--baseline", type=int, default=500, help="sequences scored one at a time for the baseline")
    a = ap.parse_args()
    torch.manual_seed(0)
    shape = shape_for(a.target, a.context)
    model = ProteinLM(shape, causal=True).eval()
    train = Shard.open(Path(a.split_dir) / "train")
    residues = int(train.lengths().sum())
    t = time.perf_counter()
    score_shard(model, train, a.context)
    ours = residues / (time.perf_counter() - t)
    base = one_at_a_time(model, train, a.context, a.baseline)
    print(f"scorer N = {exact_non_embedding(shape):,}, context {a.context}, threads {torch.get_num_threads()}")
    print(f"streamed batches: {ours:,.0f} residues/s over {residues:,} residues ({len(train):,} sequences)")
    print(f"one sequence per forward (baseline, {a.baseline} sequences): {base:,.0f} residues/s")
    print(f"ratio {ours / base:.1f}x; goal >= 100,000 residues/s: {'met' if ours >= 1e5 else 'NOT met'}")


if __name__ == "__main__":
    main()
