"""Step 1b of the data stage (optional, per dataset): deduplicate the clean shard before the split, so held-out
data stays clean and a unique set is what its size says.

Exact duplicates (the same residues) keep their first record; near-duplicates are clustered by MMseqs2 at a
configured identity and coverage (e.g. 0.9 / 0.8) and each cluster keeps its representative. The output is a
clean shard like `data clean`'s (`all.*` and `clean.json`, whose `dedup` entry holds the counts and parameters),
so the split reads it as it reads any clean shard.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from ..io import atomic_outputs, read_json, write_json
from . import mmseqs
from .shards import Shard, shard_paths, write_rows


def exact_duplicates(source: Shard) -> np.ndarray:
    """True for every record whose residues equal an earlier record's (the first occurrence is kept)."""
    seen: set[bytes] = set()
    duplicate = np.zeros(len(source), dtype=bool)
    for i in range(len(source)):
        key = hashlib.blake2b(source[i].tobytes(), digest_size=16).digest()
        duplicate[i] = key in seen
        seen.add(key)
    return duplicate


def near_duplicates(source: Shard, keep: np.ndarray, similarity: dict, threads: int) -> np.ndarray:
    """True for every kept record that MMseqs2 puts in another record's cluster at the similarity thresholds."""
    with tempfile.TemporaryDirectory(prefix="plm-dedup-") as tmp:
        fasta = Path(tmp) / "unique.fasta"
        source.write_fasta(fasta, keep)  # headers: row numbers
        rep = mmseqs.cluster(fasta, threads=threads, mode="cluster", **similarity)
    duplicate = np.zeros(len(source), dtype=bool)
    members = np.flatnonzero(rep >= 0)  # rows that were clustered (the kept ones); rep is indexed by row
    duplicate[members[rep[members] != members]] = True
    return duplicate


def dedup(
    clean_dir: str | Path, out_dir: str | Path, identity: float, coverage: float, cov_mode: int, threads: int
) -> dict:
    """Write `all.*` (the records left) and `clean.json` (the clean step's counts plus `dedup`) into out_dir."""
    if not (0 < identity <= 1 and 0 < coverage <= 1):
        raise ValueError(f"dedup: identity and coverage must be in (0, 1], got {identity}, {coverage}")
    clean_dir, out = Path(clean_dir), Path(out_dir)
    clean_info = read_json(clean_dir / "clean.json")
    source = Shard.open(clean_dir / "all")
    exact = exact_duplicates(source)
    similarity = {"identity": identity, "coverage": coverage, "cov_mode": cov_mode}
    near = near_duplicates(source, ~exact, similarity, threads)
    keep = ~(exact | near)
    with atomic_outputs(*shard_paths(out / "all"), out / "clean.json") as temps:
        kept = write_rows(source, clean_dir / "all.ids.txt", keep, temps[:3])
        counts = {
            "records_in": len(source),
            "exact_duplicates_removed": int(exact.sum()),
            "near_duplicates_removed": int(near.sum()),
            "records_kept": kept["sequences"],
            "residues_kept": kept["tokens"],
        }
        info = {**clean_info, "records_kept": kept["sequences"], "residues_kept": kept["tokens"]}
        info["dedup"] = {**counts, **similarity, "mmseqs2": mmseqs.version()}
        write_json(temps[3], info)
    return info
