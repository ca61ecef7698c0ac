"""How much a cheaper leakage search misses: the split step's held-out-vs-train search (identity 0.5, coverage 0.8,
`data/mmseqs.py` search_hits) at several MMseqs2 sensitivities, on a random split of a cleaned dataset (no
clustering, so many held-out sequences have a train neighbour). Prints, per sensitivity, the pairs and held-out
queries with a train hit, its time, and the share of the most sensitive search's leaky queries it finds.

    python benchmarks/leakage_recall.py [--clean results/data/uniprot_example/clean/all] [--sensitivities 5.7,4,1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from plm_scaling.data import mmseqs
from plm_scaling.data.shards import Shard


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clean", default="results/data/uniprot_example/clean/all", help="a clean shard's prefix")
    ap.add_argument("--sensitivities", default="5.7,4,1", help="most sensitive first: the reference")
    ap.add_argument("--held-out", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    source = Shard.open(a.clean)
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        query, target = Path(tmp) / "heldout.fasta", Path(tmp) / "train.fasta"
        held = np.random.default_rng(0).random(source.write_fasta(Path(tmp) / "all.fasta")) < a.held_out
        source.write_fasta(query, held)
        source.write_fasta(target, ~held)
        for s in [float(x) for x in a.sensitivities.split(",")]:
            start = time.perf_counter()
            hits = mmseqs.search_hits(query, target, 0.5, 0.8, 0, a.threads, s)
            found[s] = set(hits[:, 0].tolist())
            seconds = time.perf_counter() - start
            hit = f"{len(found[s])} of {held.sum()} held-out queries hit train"
            print(f"-s {s:g}: {len(hits)} pairs; {hit}; {seconds:.1f} s")
    reference = next(iter(found))
    for s, queries in found.items():
        share = len(queries & found[reference]) / max(1, len(found[reference]))
        more = len(queries - found[reference])
        print(f"-s {s:g} finds {share:.1%} of the leaky queries -s {reference:g} finds ({more} more)")


if __name__ == "__main__":
    main()
