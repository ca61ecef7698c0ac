"""Deduplication before the split: planted exact and near duplicates, and nothing else, are removed."""

from __future__ import annotations

import numpy as np
import pytest

from plm_scaling.data.clean import clean
from plm_scaling.data.dedup import dedup
from plm_scaling.data.shards import read_ids

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


def _random_protein(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list(RESIDUES), length))


def _mutate(rng: np.random.Generator, seq: str, changes: int) -> str:
    letters = list(seq)
    for i in rng.choice(len(seq), changes, replace=False):
        letters[i] = RESIDUES[(RESIDUES.index(letters[i]) + 1 + int(rng.integers(19))) % 20]
    return "".join(letters)


@pytest.fixture
def planted(tmp_path, write_fasta):
    """Eight unrelated proteins plus: an exact copy of p0, a 97.5%-identical full-length copy of p1 (a near
    duplicate), an 80%-identical copy of p2 (below 0.9: kept), and the first 60% of p3 (coverage 0.6 < 0.8: kept)."""
    rng = np.random.default_rng(7)
    proteins = {f"p{i}": _random_protein(rng, 200) for i in range(8)}
    planted = {
        "exact_p0": proteins["p0"],
        "near_p1": _mutate(rng, proteins["p1"], 5),
        "far_p2": _mutate(rng, proteins["p2"], 40),
        "part_p3": proteins["p3"][:120],
    }
    text = "".join(f">{name}\n{seq}\n" for name, seq in {**proteins, **planted}.items())
    clean(write_fasta(text), tmp_path / "clean", 1, 65535)
    return tmp_path


def test_dedup_removes_exactly_the_planted_duplicates(planted):
    info = dedup(planted / "clean", planted / "dedup", identity=0.9, coverage=0.8, cov_mode=0, threads=1)
    kept = set(read_ids(planted / "dedup" / "all.ids.txt"))
    assert "exact_p0" not in kept and "p0" in kept  # the first occurrence stays
    assert len({"p1", "near_p1"} & kept) == 1  # one of the pair: MMseqs2's representative
    assert {"p2", "far_p2", "p3", "part_p3", "p4", "p5", "p6", "p7"} <= kept
    d = info["dedup"]
    assert (d["records_in"], d["exact_duplicates_removed"], d["near_duplicates_removed"]) == (12, 1, 1)
    assert d["records_kept"] == info["records_kept"] == len(kept) == 10
    assert info["residues_kept"] == sum(200 for k in kept if not k.startswith("part")) + 120


def test_dedup_refuses_thresholds_outside_their_range(planted):
    with pytest.raises(ValueError, match="identity and coverage must be in"):
        dedup(planted / "clean", planted / "dedup", identity=0, coverage=0.8, cov_mode=0, threads=1)
    assert not (planted / "dedup").exists()
