"""The ESM-2 33-token vocabulary, kept in exactly one place.

Token ids follow ESM-2 (fair-esm `Alphabet.from_architecture("ESM-1b")`), so shards written here can be read
by code that expects ESM-2 ids.
"""

from __future__ import annotations

import numpy as np

TOKENS: tuple[str, ...] = (
    "<cls>",
    "<pad>",
    "<eos>",
    "<unk>",
    "L",
    "A",
    "G",
    "V",
    "S",
    "E",
    "R",
    "T",
    "I",
    "D",
    "P",
    "K",
    "Q",
    "N",
    "F",
    "Y",
    "M",
    "H",
    "W",
    "C",
    "X",
    "B",
    "U",
    "Z",
    "O",
    ".",
    "-",
    "<null_1>",
    "<mask>",
)
INDEX: dict[str, int] = {tok: i for i, tok in enumerate(TOKENS)}

CLS, PAD, EOS, UNK, MASK = (INDEX[t] for t in ("<cls>", "<pad>", "<eos>", "<unk>", "<mask>"))

# Residues accepted in input FASTA: the 25 one-letter codes of the vocabulary. Gap characters ('.', '-') are in
# the vocabulary for alignments, but a raw protein FASTA with gaps is almost always a mistake, so they are refused.
RESIDUES: str = "LAGVSERTIDPKQNFYMHWCXBUZO"
# Amino-acid tokens a model may predict/mask (everything that is a residue).
RESIDUE_IDS: np.ndarray = np.array([INDEX[r] for r in RESIDUES], dtype=np.uint8)

INVALID = 255


def _byte_table() -> np.ndarray:
    """byte -> token id for residues (upper and lower case), INVALID for everything else."""
    table = np.full(256, INVALID, dtype=np.uint8)
    for r in RESIDUES:
        table[ord(r)] = INDEX[r]
        table[ord(r.lower())] = INDEX[r]
    return table


BYTE_TO_TOKEN: np.ndarray = _byte_table()
TOKEN_TO_BYTE: np.ndarray = np.frombuffer("".join(t if len(t) == 1 else "?" for t in TOKENS).encode(), np.uint8)


def encode(seq: str) -> np.ndarray:
    """Residue string -> uint8 token ids (case-insensitive). Raises ValueError on a character outside RESIDUES."""
    ids = BYTE_TO_TOKEN[np.frombuffer(seq.encode("latin-1"), dtype=np.uint8)]
    bad = np.flatnonzero(ids == INVALID)
    if bad.size:
        raise ValueError(f"character {seq[bad[0]]!r} at position {bad[0] + 1} is not a protein residue")
    return ids


def decode(ids: np.ndarray) -> str:
    """Token ids -> string; single-character tokens map to themselves, special tokens are written in full."""
    return "".join(TOKENS[i] for i in np.asarray(ids).tolist())


# Code augmentation (data.aux): auxiliary non-protein text is read as bytes, and byte b becomes token AUX_OFFSET + b,
# appended after the ESM-2 ids, only in runs that mix such text in (their vocabulary is AUX_VOCAB_SIZE). Protein
# tokens keep their ESM-2 ids; the embedding grows, the non-embedding N does not.
AUX_OFFSET = len(TOKENS)
AUX_VOCAB_SIZE = AUX_OFFSET + 256
