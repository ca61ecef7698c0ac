"""Step 2 of the data stage: cluster-level train/valid/test split without leakage, per-split shards, manifest.

1. MMseqs2 clusters the cleaned sequences at `identity`/`coverage` (as UniRef50 does at 0.5).
2. Each cluster goes whole to a split, by a seeded hash of its representative: a stable, order-free draw.
3. Greedy clustering is not transitive, so a held-out member can still resemble a train member of another
   cluster. We search held-out against train at the same thresholds and move every held-out cluster with a hit
   into train, repeating until a search finds none. The leakage test runs the same search.
"""

from __future__ import annotations

import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

from .. import __version__
from ..digests import seal_manifest
from ..io import atomic_outputs, read_json, write_json
from ..names import SPLITS, check_name
from . import mmseqs
from .shards import Shard, shard_paths, write_rows
from .vocab import TOKENS

_CODE = {name: i for i, name in enumerate(SPLITS)}


def _uniform_hash(values: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of (value, seed) mapped to [0, 1): a seeded hash, vectorised."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def check_seed(seed: int, step: str) -> None:
    """A seed of the cluster hash: a whole number in [0, 2^32) (it becomes an unsigned 64-bit integer)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"{step}: --seed {seed!r} must be a whole number in [0, 2^32)")


def assign_clusters(rep: np.ndarray, valid: float, test: float, seed: int) -> np.ndarray:
    """Split code (0 train, 1 valid, 2 test) for every record, constant within a cluster."""
    u = _uniform_hash(rep, seed)
    return np.where(u < valid, _CODE["valid"], np.where(u < valid + test, _CODE["test"], _CODE["train"])).astype(
        np.uint8
    )


def search_heldout_vs_train(source: Shard, split: np.ndarray, sim: dict, threads: int, workdir: Path) -> np.ndarray:
    """(held-out row, train row) pairs above the similarity thresholds."""
    held = split != _CODE["train"]
    query, target = workdir / "heldout.fasta", workdir / "train.fasta"
    if source.write_fasta(query, held) == 0 or source.write_fasta(target, ~held) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    return mmseqs.search_hits(query, target, threads=threads, **sim)


def remove_leakage(
    source: Shard, rep: np.ndarray, split: np.ndarray, sim: dict, threads: int, max_rounds: int = 10
) -> tuple[np.ndarray, list[int]]:
    """Move held-out clusters with a train hit into train until none is left; return the split and the
    number of clusters moved in each round."""
    split = split.copy()
    moved: list[int] = []
    with tempfile.TemporaryDirectory(prefix="plm-split-") as tmp:
        for _ in range(max_rounds):
            hits = search_heldout_vs_train(source, split, sim, threads, Path(tmp))
            if hits.size == 0:
                return split, moved
            leaky_reps = np.unique(rep[hits[:, 0]])
            split[np.isin(rep, leaky_reps)] = _CODE["train"]
            moved.append(int(leaky_reps.size))
    raise RuntimeError(f"held-out sequences still hit train after {max_rounds} rounds of moving clusters")


def _check_heldout(clean_dir: Path, per_split: dict, valid: float, test: float) -> None:
    """A held-out split asked for (fraction > 0) must not come out empty: training and evaluation need it."""
    counts = ", ".join(f"{name} {v['sequences']:,}" for name, v in per_split.items())
    for name, fraction in (("valid", valid), ("test", test)):
        if fraction > 0 and per_split[name]["sequences"] == 0:
            raise ValueError(
                f"{clean_dir}: the {name} split came out empty ({counts} sequences, "
                f"{sum(v['clusters'] for v in per_split.values())} clusters); use more sequences or a "
                f"larger {name} fraction"
            )


def write_split_shards(source: Shard, ids_path: Path, split: np.ndarray, rep: np.ndarray, temps: list) -> dict:
    """Write each split's shard files (3 paths per split in `temps`, in SPLITS order); return their counts. Memory
    does not grow with the input beyond the `split` and `rep` arrays it is given (shards.write_rows)."""
    per_split = {}
    for code, name in enumerate(SPLITS):
        mine = split == code
        counts = write_rows(source, ids_path, mine, temps[3 * code : 3 * code + 3])
        counts["clusters"] = int((mine & (rep == np.arange(rep.size))).sum())  # a cluster is whole: count its rep
        per_split[name] = counts
    return per_split


def _manifest(dataset: str, per_split: dict, rep: np.ndarray, repair: dict, clean: dict, parameters: dict) -> dict:
    """What a split dataset is and how it was made: counts, clusters, leakage repair, input, parameters, tools."""
    return {
        "dataset": dataset,
        "splits": per_split,
        "clusters_total": int(np.unique(rep).size),
        "leakage_repair": repair,
        "vocabulary": list(TOKENS),
        "token_dtype": "uint8",
        "input": clean["input"],
        "input_sha256": clean["input_sha256"],
        "clean": {k: v for k, v in clean.items() if k not in ("input", "input_sha256")},
        "parameters": parameters,
        "tools": {
            "mmseqs2": mmseqs.version(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "plm_scaling": __version__,
        },
        "command": " ".join(sys.argv),
    }


def make_splits(
    clean_dir: str | Path,
    out_dir: str | Path,
    identity: float,
    coverage: float,
    cov_mode: int,
    cluster_mode: str,
    sensitivity: float,
    valid: float,
    test: float,
    seed: int,
    threads: int,
    dataset: str = "",
    max_rejected: int = mmseqs.MAX_REJECTED,
    max_accept: int = mmseqs.MAX_ACCEPT,
) -> dict:
    """Cluster, split and write `{train,valid,test}.*` shards plus `manifest.json` into out_dir (`sensitivity`,
    `max_rejected`, `max_accept`: the leakage search's, mmseqs.search_hits)."""
    clean_dir, out = Path(clean_dir), Path(out_dir)
    if not (0 <= valid and 0 <= test and valid + test < 1):
        raise ValueError(f"split fractions: need valid, test >= 0 and valid + test < 1, got {valid}, {test}")
    check_seed(seed, "data split")
    if dataset:
        check_name(dataset, "data split: --dataset")
    clean_info = read_json(clean_dir / "clean.json")
    sim = {"identity": identity, "coverage": coverage, "cov_mode": cov_mode}
    source = Shard.open(clean_dir / "all")
    with tempfile.TemporaryDirectory(prefix="plm-cluster-") as tmp:
        source.write_fasta(Path(tmp) / "all.fasta")
        rep = mmseqs.cluster(Path(tmp) / "all.fasta", threads=threads, mode=cluster_mode, **sim)
    if rep.size != len(source) or (rep < 0).any():
        raise RuntimeError(f"{clean_dir}: MMseqs2 clustered {int((rep >= 0).sum())} of {len(source)} records")
    first = assign_clusters(rep, valid, test, seed)
    finals = [p for s in SPLITS for p in shard_paths(out / s)] + [out / "manifest.json"]
    with atomic_outputs(*finals) as temps:
        search = {"sensitivity": sensitivity, "max_rejected": max_rejected, "max_accept": max_accept}
        split, moved = remove_leakage(source, rep, first, {**sim, **search}, threads)
        per_split = write_split_shards(source, clean_dir / "all.ids.txt", split, rep, temps)
        _check_heldout(clean_dir, per_split, valid, test)
        repair = {
            "clusters_moved_to_train_per_round": moved,
            "sequences_moved_to_train": int(((first != 0) & (split == 0)).sum()),
        }
        parameters = {**sim, "cluster_mode": cluster_mode, "search_sensitivity": sensitivity}
        # named only where they depart from MMseqs2's defaults, so manifests written before the keys existed hold
        limits = (("max_rejected", max_rejected, mmseqs.MAX_REJECTED), ("max_accept", max_accept, mmseqs.MAX_ACCEPT))
        parameters |= {f"search_{key}": value for key, value, default in limits if value != default}
        parameters |= {"valid_fraction": valid, "test_fraction": test, "seed": seed}
        manifest = _manifest(dataset, per_split, rep, repair, clean_info, parameters)
        manifest = seal_manifest(manifest, temps, finals)
        write_json(temps[-1], manifest)
    return manifest
