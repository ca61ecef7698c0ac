"""Nested unique subsets of a split's train part, for repeated-data studies (paper Fig. 1, Muennighoff et al.).

A subset of U tokens is made of whole clusters (MMseqs2 on the train part at the split's own identity and coverage),
taken in the order of a seeded hash of each cluster's representative until U tokens are reached: the cluster that
crosses U is kept whole, so a subset holds U tokens or slightly more. The order depends on the seed and the train
part only, so for one seed every smaller subset is contained in every larger one (nested), and a subset stays as
diverse as its cluster count allows rather than being one family repeated. Valid and test are copied unchanged,
so runs on every subset are scored on the same held-out data.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..digests import seal_manifest
from ..io import atomic_outputs, read_json, write_json
from ..names import SPLITS
from . import mmseqs
from .shards import Shard, shard_paths, write_rows
from .split import _uniform_hash, check_seed


def train_clusters(source: Shard, parameters: dict, threads: int) -> np.ndarray:
    """Every train record's cluster representative: MMseqs2 on the train part at the split's own parameters."""
    with tempfile.TemporaryDirectory(prefix="plm-subset-") as tmp:
        fasta = Path(tmp) / "train.fasta"
        source.write_fasta(fasta)  # headers: row numbers
        rep = mmseqs.cluster(
            fasta,
            identity=parameters["identity"],
            coverage=parameters["coverage"],
            cov_mode=parameters["cov_mode"],
            mode=parameters["cluster_mode"],
            threads=threads,
        )
    if rep.size != len(source) or (rep < 0).any():
        raise RuntimeError(f"MMseqs2 clustered {int((rep >= 0).sum())} of {len(source)} train records")
    return rep


def cluster_order(source: Shard, parameters: dict, threads: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rep, rank): every train record's cluster representative and its cluster's place in the seeded order."""
    rep = train_clusters(source, parameters, threads)
    reps = np.unique(rep)
    ranks = np.empty(rep.max() + 1, dtype=np.int64)
    ranks[reps[np.argsort(_uniform_hash(reps, seed), kind="stable")]] = np.arange(reps.size)
    return rep, ranks[rep]


def nested_mask(lengths: np.ndarray, rank: np.ndarray, tokens: int) -> np.ndarray:
    """True for the records of the first clusters in rank order whose tokens reach `tokens` (the crossing
    cluster kept whole)."""
    per_cluster = np.bincount(rank, weights=lengths)
    clusters = int(np.searchsorted(np.cumsum(per_cluster), tokens)) + 1  # the first cumulative sum >= tokens
    return rank < clusters


def unique_subset(split_dir: str | Path, out_dir: str | Path, tokens: int, seed: int = 0, threads: int = 1) -> dict:
    """Write the split with its train part cut to a nested unique subset of about `tokens` tokens (valid and
    test as they are) and a manifest whose `subset` entry says what was kept."""
    split_dir, out = Path(split_dir), Path(out_dir)
    check_seed(seed, "data subset")
    manifest = read_json(split_dir / "manifest.json")
    train = Shard.open(split_dir / "train")
    available = int(train.offsets[-1])
    if not 0 < tokens < available:
        raise ValueError(f"data subset: --tokens {tokens} must be between 1 and the train part's {available:,} tokens")
    rep, rank = cluster_order(train, manifest["parameters"], threads, seed)
    keep = nested_mask(train.lengths(), rank, tokens)
    paths = [p for name in SPLITS for p in shard_paths(out / name)]
    with atomic_outputs(*paths, out / "manifest.json") as temps:
        kept = write_rows(train, split_dir / "train.ids.txt", keep, temps[:3])
        for k, name in enumerate(SPLITS[1:], start=1):
            for src, dst in zip(shard_paths(split_dir / name), temps[3 * k : 3 * k + 3]):
                shutil.copyfile(src, dst)
        info = {
            "tokens_asked": int(tokens),
            "tokens": kept["tokens"],
            "sequences": kept["sequences"],
            "clusters": int(np.unique(rep[keep]).size),
            "clusters_total": int(np.unique(rep).size),
            "train_tokens_total": available,
            "seed": seed,
            "source": str(split_dir.resolve()),
            "mmseqs2": mmseqs.version(),
        }
        manifest["splits"]["train"] = {**kept, "clusters": info["clusters"]}
        sealed = seal_manifest({**manifest, "subset": info}, temps, paths, split_dir / "manifest.json")
        write_json(temps[-1], sealed)
    return info
