"""Step 1 of the data stage: validate, normalise and length-filter a FASTA into one token shard (`all.*`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..io import atomic_outputs, write_json
from .fasta import read_fasta
from .shards import ShardWriter, shard_paths


def clean(fasta: str | Path, out_dir: str | Path, min_length: int, max_length: int) -> dict:
    """Write `all.*` shard files and `clean.json` (counts, input hash) into out_dir."""
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
            **counts,
        }
        write_json(summary, info)
    return info
