"""Step 1 of the data stage: validate, normalise and length-filter a FASTA into one token shard.

Also writes `clean.fasta` for MMseqs2, with the record index as header: MMseqs2's outputs then map back to
shard rows without an identifier dictionary, which keeps memory independent of the database size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_outputs, sha256_file, write_json
from .fasta import read_fasta
from .shards import ShardWriter, shard_paths
from .vocab import TOKEN_TO_BYTE

_DECODE = TOKEN_TO_BYTE.tobytes() + bytes(256 - TOKEN_TO_BYTE.size)


def clean(fasta: str | Path, out_dir: str | Path, min_length: int, max_length: int) -> dict:
    """Write `all.*` shard files, `clean.fasta` and `clean.json` (counts, input hash) into out_dir."""
    if min_length < 1 or max_length < min_length:
        raise ValueError(f"length filter: need 1 <= min_length <= max_length, got {min_length}, {max_length}")
    out = Path(out_dir)
    finals = [*shard_paths(out / "all"), out / "clean.fasta", out / "clean.json"]
    counts = {"records_read": 0, "residues_read": 0, "dropped_too_short": 0, "dropped_too_long": 0,
              "records_kept": 0, "residues_kept": 0}  # fmt: skip
    with atomic_outputs(*finals) as (tok, off, ids, fa, summary):
        writer = ShardWriter(tok, off, ids)
        with open(fa, "wb") as fasta_out:
            for batch in read_fasta(fasta):
                lengths = batch.lengths()
                counts["records_read"] += len(batch)
                counts["residues_read"] += int(lengths.sum())
                counts["dropped_too_short"] += int((lengths < min_length).sum())
                counts["dropped_too_long"] += int((lengths > max_length).sum())
                kept = batch.select((lengths >= min_length) & (lengths <= max_length))
                first = counts["records_kept"]
                writer.write(kept.tokens, kept.offsets, kept.ids)
                fasta_out.write(_as_fasta(kept.tokens, kept.offsets, first))
                counts["records_kept"] += len(kept)
                counts["residues_kept"] += int(kept.tokens.size)
        writer.close()
        if counts["records_kept"] == 0:
            raise ValueError(f"{fasta}: no sequence has a length within [{min_length}, {max_length}]")
        info = {"input": str(fasta), "input_sha256": sha256_file(fasta), "min_length": min_length,
                "max_length": max_length, **counts}  # fmt: skip
        write_json(summary, info)
    return info


def _as_fasta(tokens: np.ndarray, offsets: np.ndarray, first_index: int) -> bytes:
    letters = tokens.tobytes().translate(_DECODE)
    bounds = offsets.tolist()
    return b"".join(
        b">%d\n%s\n" % (first_index + k, letters[a:b]) for k, (a, b) in enumerate(zip(bounds, bounds[1:]))
    )
