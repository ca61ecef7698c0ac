"""Random proteins and point-mutated copies of them, for tests that plant known similarities for MMseqs2 to find."""

from __future__ import annotations

import numpy as np

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


def random_protein(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(list(RESIDUES), length))


def mutate(rng: np.random.Generator, seq: str, changes: int) -> str:
    """`seq` with `changes` positions, drawn without replacement, each set to another residue."""
    letters = list(seq)
    for i in rng.choice(len(seq), changes, replace=False):
        letters[i] = RESIDUES[(RESIDUES.index(letters[i]) + 1 + int(rng.integers(19))) % 20]
    return "".join(letters)
