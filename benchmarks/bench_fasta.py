"""FASTA -> token shards throughput, ours against Biopython's parser with the same encoding, in one run.

MB/s counts uncompressed FASTA bytes. Inputs: the embedded file (gzip) and a 20x concatenation of it (plain text,
identifiers made unique per copy, since duplicates are rejected). Both sides write the same shard files.

    python benchmarks/bench_fasta.py [--copies 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import numpy as np

from plm_scaling.data.clean import clean
from plm_scaling.data.shards import ShardWriter, shard_paths
from plm_scaling.data.vocab import BYTE_TO_TOKEN

EMBEDDED = Path("/usr/share/doc/mmseqs2/example-data/DB.fasta.gz")
TABLE = BYTE_TO_TOKEN.tobytes()


def biopython_to_shards(fasta: Path, out: Path) -> None:
    """The baseline: SeqIO.parse, then the same upper-casing, validation and encoding into the same shard format."""
    from Bio import SeqIO

    opener = gzip.open if fasta.suffix == ".gz" else open
    writer = ShardWriter(*shard_paths(out / "all"))
    with opener(fasta, "rt") as fh:
        for rec in SeqIO.parse(fh, "fasta"):
            seq = str(rec.seq).upper().rstrip("*").encode()
            tokens = np.frombuffer(seq.translate(TABLE), dtype=np.uint8)
            if (tokens == 255).any():
                raise ValueError(f"{rec.id}: not a protein residue")
            writer.write(tokens, np.array([0, tokens.size]), [rec.id])
    writer.close()


def ours_to_shards(fasta: Path, out: Path) -> None:
    clean(fasta, out, min_length=1, max_length=65535)


def best_of(fn, fasta: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            fn(fasta, Path(tmp))
            times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    text = gzip.decompress(EMBEDDED.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / f"x{a.copies}.fasta"
        with open(big, "wb") as fh:
            for copy in range(a.copies):
                fh.write(text.replace(b"\n>", b"\n>c%d_" % copy).replace(b">", b">c%d_" % copy, 1))
        print(f"{'input':<28}{'MB':>8}{'ours MB/s':>12}{'biopython MB/s':>16}{'ratio':>8}   (uncompressed bytes)")
        for label, path, size in (
            (EMBEDDED.name + " (gzip)", EMBEDDED, len(text)),
            (f"{a.copies}x concatenation", big, big.stat().st_size),
        ):
            ours = size / best_of(ours_to_shards, path, a.repeats) / 1e6
            bio = size / best_of(biopython_to_shards, path, a.repeats) / 1e6
            print(f"{label:<28}{size / 1e6:>8.1f}{ours:>12.1f}{bio:>16.1f}{ours / bio:>7.1f}x")


if __name__ == "__main__":
    main()
