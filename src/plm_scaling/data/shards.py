"""Token shards: one flat uint8 file of residue token ids per split, int64 offsets, identifiers.

`{prefix}.tokens.u8` holds every sequence back to back (no framing tokens: `<cls>`/`<eos>` are added at training
time), `{prefix}.offsets.npy` has n+1 offsets into it, `{prefix}.ids.txt` one identifier per line.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..names import SHARD_SUFFIXES as SUFFIXES
from .vocab import TOKEN_TO_BYTE

_LETTERS = TOKEN_TO_BYTE.tobytes() + bytes(256 - TOKEN_TO_BYTE.size)  # token id -> residue letter


def shard_paths(prefix: str | Path) -> list[Path]:
    return [Path(f"{prefix}{s}") for s in SUFFIXES]


class ShardWriter:
    """Append records to open files. Record lengths are spooled to a side file and turned into offsets on close, so
    memory does not grow with the number of records."""

    CHUNK = 1 << 22  # lengths summed per step on close (32 MB)

    def __init__(self, tokens_path: Path, offsets_path: Path, ids_path: Path):
        self._tokens = open(tokens_path, "wb")
        self._ids = open(ids_path, "w", encoding="latin-1")
        self._offsets_path = Path(offsets_path)
        # a nameless file beside the outputs (same disk): nothing is left behind, even by a killed process
        self._lengths = tempfile.TemporaryFile(dir=self._offsets_path.parent)
        self._records = 0

    def write(self, tokens: np.ndarray, offsets: np.ndarray, ids: list[str]) -> None:
        self._tokens.write(np.ascontiguousarray(tokens, dtype=np.uint8).tobytes())
        self._lengths.write(np.diff(offsets).astype(np.int64).tobytes())
        self._records += len(offsets) - 1
        if ids:
            self._ids.write("\n".join(ids) + "\n")

    def close(self) -> None:
        for fh in (self._tokens, self._ids, self._lengths):
            fh.flush()
        self._tokens.close()
        self._ids.close()
        lengths = (
            np.memmap(self._lengths, dtype=np.int64, mode="r", shape=(self._records,))
            if self._records
            else np.zeros(0, np.int64)
        )
        # open_memmap writes the .npy header and data in place; it keeps our temporary name (np.save to a handle did)
        offsets = np.lib.format.open_memmap(self._offsets_path, mode="w+", dtype=np.int64, shape=(self._records + 1,))
        offsets[0], total = 0, 0
        for a in range(0, self._records, self.CHUNK):
            part = np.cumsum(lengths[a : a + self.CHUNK]) + total
            offsets[a + 1 : a + 1 + part.size] = part
            total = int(part[-1])
        offsets.flush()
        del offsets, lengths
        self._lengths.close()


CHUNK = 50_000  # records per step when writing a subset of a shard


def ids_where(ids_path: str | Path, mask: np.ndarray):
    """The identifiers of the records where `mask` is true, in order, streamed from an ids.txt (one a line,
    latin-1, split on \\n only)."""
    with open(ids_path, encoding="latin-1", newline="\n") as fh:
        for row, line in enumerate(fh):
            if mask[row]:
                yield line[:-1]


def write_rows(source: Shard, ids_path: str | Path, mask: np.ndarray, paths: list) -> dict:
    """Write the records of `source` where `mask` is true to a shard at `paths` (tokens, offsets, ids), visiting
    CHUNK records at a time and streaming identifiers: memory does not grow with the input. Returns its counts."""
    writer, ids = ShardWriter(*paths), ids_where(ids_path, mask)
    counts = {"sequences": 0, "tokens": 0}
    for start in range(0, len(source), CHUNK):
        rows = start + np.flatnonzero(mask[start : start + CHUNK])
        if rows.size == 0:
            continue
        lengths = source.offsets[rows + 1] - source.offsets[rows]
        writer.write(
            np.concatenate([source[i] for i in rows.tolist()]),
            np.concatenate(([0], np.cumsum(lengths))),
            [next(ids) for _ in range(rows.size)],
        )
        counts["sequences"] += int(rows.size)
        counts["tokens"] += int(lengths.sum())
    writer.close()
    return counts


def read_ids(path: str | Path) -> list[str]:
    """The identifiers of an ids.txt, byte for byte. Not str.splitlines(): that also splits on \x85, \x1c-\x1e
    and other characters that a latin-1-decoded identifier may hold (UTF-8 'Å' is c3 85)."""
    text = Path(path).read_text(encoding="latin-1")
    return text.split("\n")[:-1] if text else []


@dataclass
class Shard:
    """Read-only view of one shard: `shard[i]` is the token array of record i (a memmap slice)."""

    tokens: np.ndarray
    offsets: np.ndarray

    @classmethod
    def open(cls, prefix: str | Path) -> Shard:
        tokens_path, offsets_path, _ = shard_paths(prefix)
        offsets = np.load(offsets_path, mmap_mode="r")  # 8 bytes a record: paged in, not loaded
        size = int(offsets[-1])
        tokens = np.memmap(tokens_path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
        if tokens.size != size:
            raise ValueError(f"{tokens_path}: {tokens.size} tokens but offsets end at {size}")
        return cls(tokens, offsets)

    def __len__(self) -> int:
        return self.offsets.size - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def write_fasta(self, path: str | Path, keep: np.ndarray | None = None) -> int:
        """Write the records where `keep` is true as FASTA with the row index as header (MMseqs2's outputs then
        map back to rows without an identifier dictionary). Returns the number written."""
        rows = np.flatnonzero(keep) if keep is not None else np.arange(len(self))
        with open(path, "wb") as fh:
            for chunk in np.array_split(rows, max(1, rows.size // 20_000)):
                starts, ends = self.offsets[chunk].tolist(), self.offsets[chunk + 1].tolist()
                fh.write(
                    b"".join(
                        b">%d\n%s\n" % (i, self.tokens[a:b].tobytes().translate(_LETTERS))
                        for i, a, b in zip(chunk.tolist(), starts, ends)
                    )
                )
        return int(rows.size)
