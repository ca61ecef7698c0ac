"""Step 1 of the data stage: validate, normalise and length-filter a FASTA into one token shard (`all.*`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..io import atomic_outputs, write_json
from .fasta import read_fasta
from .shards import ShardWriter, shard_paths


def clean(
    fasta: str | Path, out_dir: str | Path, min_length: int, max_length: int, max_records: int | None = None
) -> dict:
    """Write `all.*` shard files and `clean.json` (counts, input hash) into out_dir. `max_records` keeps only the
    first that many records that pass the length filter (a scarce dataset cut from a larger file); the whole input
    is still read and hashed."""
    if min_length < 1 or max_length < min_length:
        raise ValueError(f"length filter: need 1 <= min_length <= max_length, got {min_length}, {max_length}")
    out = Path(out_dir)
    finals = [*shard_paths(out / "all"), out / "clean.json"]
    counts = {
        "records_read": 0,
        "residues_read": 0,
        "dropped_too_short": 0,
        "dropped_too_long": 0,
        "records_kept": 0,
        "residues_kept": 0,
    }
    with atomic_outputs(*finals) as (tok, off, ids, summary):
        writer = ShardWriter(tok, off, ids)
        sha256 = hashlib.sha256()
        for batch in read_fasta(fasta, hasher=sha256):
            lengths = batch.lengths()
            keep = (lengths >= min_length) & (lengths <= max_length)
            counts["records_read"] += len(batch)
            counts["residues_read"] += int(lengths.sum())
            counts["dropped_too_short"] += int((lengths < min_length).sum())
            counts["dropped_too_long"] += int((lengths > max_length).sum())
            if max_records is not None:  # the first max_records kept records, in file order
                room = max(0, max_records - counts["records_kept"])
                keep &= np.cumsum(keep) <= room
            kept = batch if keep.all() else batch.select(keep)
            writer.write(kept.tokens, kept.offsets, kept.ids)
            counts["records_kept"] += len(kept)
            counts["residues_kept"] += int(kept.tokens.size)
        writer.close()
        if counts["records_kept"] == 0:
            raise ValueError(f"{fasta}: no sequence has a length within [{min_length}, {max_length}]")
        info = {
            "input": str(fasta),
            "input_sha256": sha256.hexdigest(),
            "min_length": min_length,
            "max_length": max_length,
            "max_records": max_records,
            **counts,
        }
        write_json(summary, info)
    return info
