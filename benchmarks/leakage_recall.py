"""How much a cheaper leakage search misses, and what it saves: the split step's held-out-vs-train search (identity
0.5, coverage 0.8, `data/mmseqs.py` search_hits) at several MMseqs2 sensitivities (-s), --max-rejected and
--max-accept limits.
Held out: a random 10% of a cleaned dataset (no clustering, so many held-out sequences have a train neighbour), or,
with --cluster, the split step's own first round (clusters of that MMseqs2 workflow, 5% + 5% of them held out by
the split's seed 0), whose held-out sequences mostly have no train hit, as on a large dataset. Prints, per search,
the pairs and held-out queries with a train hit, its time, and the share of the first search's leaky queries it finds.

    python benchmarks/leakage_recall.py [--clean results/data/uniprot_example/clean/all] [--searches 5.7,4,1,1/100]
    python benchmarks/leakage_recall.py --clean results/data/metastudent_go/clean/all --cluster linclust \\
        --searches 1,1/100,1//1

A search is S (sensitivity), S/R (and --max-rejected R) or S/R/A (and --max-accept A; R may be empty: S//A); the
first is the reference.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from plm_scaling.data import mmseqs
from plm_scaling.data.shards import Shard
from plm_scaling.data.split import assign_clusters

SIMILARITY = {"identity": 0.5, "coverage": 0.8, "cov_mode": 0}  # config key split's defaults


def held_out(source: Shard, tmp: Path, cluster: str | None, share: float, threads: int) -> np.ndarray:
    """Which records are held out: a random `share`, or the split step's first assignment of `cluster` clusters."""
    total = source.write_fasta(tmp / "all.fasta")
    if cluster is None:
        return np.random.default_rng(0).random(total) < share
    start = time.perf_counter()
    rep = mmseqs.cluster(tmp / "all.fasta", threads=threads, mode=cluster, **SIMILARITY)
    print(f"{cluster}: {np.unique(rep).size:,} clusters of {total:,} sequences, {time.perf_counter() - start:.0f} s")
    return assign_clusters(rep, share / 2, share / 2, 0) != 0


def search(spec: str, query: Path, target: Path, threads: int) -> set[int]:
    """The held-out queries with a train hit under search `spec` (S, S/R or S/R/A), printed with the time it took."""
    s, r, a = (spec.split("/") + ["", ""])[:3]
    limits = {"max_rejected": int(r or mmseqs.MAX_REJECTED), "max_accept": int(a or mmseqs.MAX_ACCEPT)}
    start = time.perf_counter()
    hits = mmseqs.search_hits(query, target, **SIMILARITY, threads=threads, sensitivity=float(s), **limits)
    queries = set(hits[:, 0].tolist())
    seconds = time.perf_counter() - start
    print(f"{spec}: {len(hits):,} pairs; {len(queries):,} held-out queries hit train; {seconds:.1f} s", flush=True)
    return queries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clean", default="results/data/uniprot_example/clean/all", help="a clean shard's prefix")
    ap.add_argument("--searches", default="5.7,4,1,1/100,1/20", help="S, S/R or S/R/A, the reference first")
    ap.add_argument("--cluster", choices=("cluster", "linclust"), help="hold out clusters as the split step does")
    ap.add_argument("--held-out", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    source = Shard.open(a.clean)
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        held = held_out(source, tmp, a.cluster, a.held_out, a.threads)
        source.write_fasta(tmp / "heldout.fasta", held)
        source.write_fasta(tmp / "train.fasta", ~held)
        print(f"{held.sum():,} held out, {(~held).sum():,} train")
        for spec in a.searches.split(","):
            found[spec] = search(spec, tmp / "heldout.fasta", tmp / "train.fasta", a.threads)
    reference = next(iter(found))
    for spec, queries in found.items():
        share = len(queries & found[reference]) / max(1, len(found[reference]))
        more = len(queries - found[reference])
        print(f"{spec} finds {share:.1%} of the leaky queries {reference} finds ({more} more)")


if __name__ == "__main__":
    main()
