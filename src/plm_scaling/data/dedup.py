"""Deduplication (optional, per dataset) of a split dataset, within each split.

Exact duplicates (the same residues) keep their first record; near-duplicates are clustered by MMseqs2 at a
configured identity and coverage (e.g. 0.9 / 0.8) and each cluster keeps its representative. It runs on the split's
output, split by split, rather than on the FASTA before clustering, so that the deduplicated dataset keeps the
records' assignment to train/valid/test: its held-out sets are the undeduplicated dataset's minus their duplicates,
and a study can evaluate both on one held-out set without leakage (re-splitting a smaller set reshuffles every
cluster's split). Held-out data stays clean either way: the split's leakage repair has already moved every
held-out cluster with a train hit at the split's identity into train, so no near-duplicate crosses splits.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from ..digests import seal_manifest
from ..io import atomic_outputs, read_json, write_json
from ..names import SPLITS
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
    duplicate = np.zeros(len(source), dtype=bool)
    if keep.sum() < 2:
        return duplicate
    with tempfile.TemporaryDirectory(prefix="plm-dedup-") as tmp:
        fasta = Path(tmp) / "unique.fasta"
        source.write_fasta(fasta, keep)  # headers: row numbers
        rep = mmseqs.cluster(fasta, threads=threads, mode="cluster", **similarity)
    members = np.flatnonzero(rep >= 0)  # rows that were clustered (the kept ones); rep is indexed by row
    duplicate[members[rep[members] != members]] = True
    return duplicate


def _dedup_split(source: Shard, similarity: dict, threads: int) -> tuple[np.ndarray, dict]:
    exact = exact_duplicates(source)
    near = near_duplicates(source, ~exact, similarity, threads)
    counts = {"records_in": len(source), "exact_removed": int(exact.sum()), "near_removed": int(near.sum())}
    return ~(exact | near), counts


def dedup(
    split_dir: str | Path, out_dir: str | Path, identity: float, coverage: float, cov_mode: int, threads: int
) -> dict:
    """Write the deduplicated `{train,valid,test}.*` and a manifest (the split's, with a `dedup` entry: the counts
    removed at each level, per split and in all) into out_dir."""
    if not (0 < identity <= 1 and 0 < coverage <= 1):
        raise ValueError(f"dedup: identity and coverage must be in (0, 1], got {identity}, {coverage}")
    split_dir, out = Path(split_dir), Path(out_dir)
    manifest = read_json(split_dir / "manifest.json")
    similarity = {"identity": identity, "coverage": coverage, "cov_mode": cov_mode}
    paths = [p for name in SPLITS for p in shard_paths(out / name)]
    per_split = {}
    with atomic_outputs(*paths, out / "manifest.json") as temps:
        for k, name in enumerate(SPLITS):
            source = Shard.open(split_dir / name)
            keep, counts = _dedup_split(source, similarity, threads)
            kept = write_rows(source, split_dir / f"{name}.ids.txt", keep, temps[3 * k : 3 * k + 3])
            per_split[name] = {**counts, "records_kept": kept["sequences"]}
            manifest["splits"][name] = {**kept, "clusters": manifest["splits"][name]["clusters"]}
        total = {
            key: sum(s[key] for s in per_split.values()) for key in ("records_in", "exact_removed", "near_removed")
        }
        manifest["dedup"] = {**similarity, **total, "splits": per_split, "mmseqs2": mmseqs.version()}
        write_json(temps[-1], seal_manifest(manifest, temps, [*paths], split_dir / "manifest.json"))
    return manifest["dedup"]
