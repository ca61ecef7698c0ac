"""What a finished split leaks: its valid and test sequences searched against its train sequences at the split step's
thresholds (identity 0.5, coverage 0.8), with searches as benchmarks/leakage_recall.py takes them (S, S/R, S/R/A:
sensitivity, --max-rejected, --max-accept). A split made with a cheaper search than the one given here shows what
that search let through.

    python benchmarks/split_leakage.py --split results/data/metastudent_go/split --searches 1
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from leakage_recall import search

from plm_scaling.data.shards import Shard


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", required=True, help="a split folder: train, valid and test shards")
    ap.add_argument("--searches", default="1", help="S, S/R or S/R/A, comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    split = Path(a.split)
    with tempfile.TemporaryDirectory() as tmp:
        train = Path(tmp) / "train.fasta"
        print(f"train: {Shard.open(split / 'train').write_fasta(train):,} sequences")
        for part in ("valid", "test"):
            held = Path(tmp) / f"{part}.fasta"
            print(f"{part}: {Shard.open(split / part).write_fasta(held):,} sequences")
            for spec in a.searches.split(","):
                search(spec, held, train, a.threads)


if __name__ == "__main__":
    main()
