"""Deduplication (within each split, after it): planted exact and near duplicates, and nothing else, are removed."""

from __future__ import annotations

import numpy as np
import pytest

from plm_scaling.data.clean import clean
from plm_scaling.data.dedup import dedup
from plm_scaling.data.shards import Shard, read_ids, shard_paths, write_rows
from plm_scaling.io import write_json

from .proteins import mutate, random_protein


@pytest.fixture
def planted(tmp_path, write_fasta):
    """Eight unrelated proteins plus: an exact copy of p0, a 97.5%-identical full-length copy of p1 (a near
    duplicate), an 80%-identical copy of p2 (below 0.9: kept), and the first 60% of p3 (coverage 0.6 < 0.8: kept)."""
    rng = np.random.default_rng(7)
    proteins = {f"p{i}": random_protein(rng, 200) for i in range(8)}
    planted = {
        "exact_p0": proteins["p0"],
        "near_p1": mutate(rng, proteins["p1"], 5),
        "far_p2": mutate(rng, proteins["p2"], 40),
        "part_p3": proteins["p3"][:120],
    }
    text = "".join(f">{name}\n{seq}\n" for name, seq in {**proteins, **planted}.items())
    clean(write_fasta(text), tmp_path / "clean", 1, 65535)
    # a split by hand: p6 in valid, p7 in test, everything else (the planted pairs too) in train
    source, ids = Shard.open(tmp_path / "clean" / "all"), tmp_path / "clean" / "all.ids.txt"
    names = read_ids(ids)
    split, manifest = tmp_path / "split", {"splits": {}}
    split.mkdir()
    for name, members in (("train", set(names) - {"p6", "p7"}), ("valid", {"p6"}), ("test", {"p7"})):
        counts = write_rows(source, ids, np.array([n in members for n in names]), shard_paths(split / name))
        manifest["splits"][name] = {**counts, "clusters": len(members)}
    write_json(split / "manifest.json", manifest)
    return tmp_path


def test_dedup_removes_exactly_the_planted_duplicates(planted):
    d = dedup(planted / "split", planted / "dedup", identity=0.9, coverage=0.8, cov_mode=0, threads=1)
    kept = set(read_ids(planted / "dedup" / "train.ids.txt"))
    assert "exact_p0" not in kept and "p0" in kept  # the first occurrence stays
    assert len({"p1", "near_p1"} & kept) == 1  # one of the pair: MMseqs2's representative
    assert {"p2", "far_p2", "p3", "part_p3", "p4", "p5"} <= kept and len(kept) == 8
    assert (d["records_in"], d["exact_removed"], d["near_removed"]) == (12, 1, 1)
    assert d["splits"]["train"] == {"records_in": 10, "exact_removed": 1, "near_removed": 1, "records_kept": 8}
    for name, only in (("valid", "p6"), ("test", "p7")):  # held-out records keep their split
        assert read_ids(planted / "dedup" / f"{name}.ids.txt") == [only]
    train = Shard.open(planted / "dedup" / "train")
    assert int(train.lengths().sum()) == sum(200 for k in kept if not k.startswith("part")) + 120


def test_dedup_refuses_thresholds_outside_their_range(planted):
    with pytest.raises(ValueError, match="identity and coverage must be in"):
        dedup(planted / "split", planted / "dedup", identity=0, coverage=0.8, cov_mode=0, threads=1)
    assert not (planted / "dedup").exists()
