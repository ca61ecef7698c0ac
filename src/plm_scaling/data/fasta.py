"""Streaming, vectorised protein FASTA reader.

The file is read in large blocks that always end on a record boundary; each block is validated and tokenised
with a handful of numpy passes (no per-residue Python), so memory stays constant in the number of residues and
throughput is bound by decompression. Per record we keep one 8-byte identifier hash to find duplicates at the end.

Normalisation (silent, documented in the README): lower case -> upper case, CRLF and any whitespace inside
sequences removed, one terminal '*' (stop) dropped. Everything else that is not a residue of the vocabulary is
an error that names the file, the record and the line.
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .vocab import BYTE_TO_TOKEN, INVALID

BLOCK_BYTES = 4 << 20


class FastaError(ValueError):
    """Malformed FASTA input. The message is one line naming the file, and the record and line where known."""


@dataclass
class Batch:
    """Consecutive records: identifiers, 1-based header line numbers and tokens laid flat with offsets."""

    ids: list[str]
    header_lines: np.ndarray  # int64, line number of each record's header
    offsets: np.ndarray  # int64, len(ids) + 1
    tokens: np.ndarray  # uint8 token ids of the residues, records back to back

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def select(self, keep: np.ndarray) -> Batch:
        """The records where the boolean mask `keep` is true."""
        lengths = self.lengths()[keep]
        token_mask = np.repeat(keep, self.lengths())
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = [i for i, k in zip(self.ids, keep.tolist()) if k]
        return Batch(ids, self.header_lines[keep], offsets, self.tokens[token_mask])


def _is_gzip(path: Path) -> bool:
    """Plain or gzip input is told apart by its magic bytes, not its name."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _raw_chunks(path: Path, block_bytes: int) -> Iterator[bytes]:
    """Decompressed (or plain) chunks. zlib directly is ~3x faster than gzip.GzipFile's small reads, and
    handles concatenated gzip members (`cat a.gz b.gz`) as gzip(1) does."""
    with open(path, "rb") as fh:
        if not _is_gzip(path):
            while chunk := fh.read(block_bytes):
                yield chunk
            return
        dec, in_member = zlib.decompressobj(wbits=31), False
        while comp := fh.read(block_bytes // 4):
            while comp:
                in_member = True
                if out := dec.decompress(comp):
                    yield out
                comp = b""
                if dec.eof:  # a member ended; what follows, if anything, is the next member
                    comp, dec, in_member = dec.unused_data, zlib.decompressobj(wbits=31), False
        if in_member:
            raise EOFError("compressed stream ended before the end-of-stream marker")


def _prefetched(chunks: Iterator[bytes], depth: int = 2) -> Iterator[bytes]:
    """Run a chunk producer in a thread so decompression (zlib releases the GIL) overlaps parsing."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                q.put(chunk)
            q.put(done)
        except BaseException as err:  # handed to the consumer, which re-raises it
            q.put(err)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.01)


def _blocks(path: Path, block_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Yield (text, first line number) pieces that end at a record boundary ("\\n>") or at end of file."""
    carry, line = b"", 1
    try:
        for chunk in _prefetched(_raw_chunks(path, block_bytes)):
            buf = carry + chunk
            cut = buf.rfind(b"\n>")
            if cut < 0:  # no record boundary yet (a long record, or a small chunk): keep reading
                carry = buf
                continue
            yield buf[: cut + 1], line
            line += buf.count(b"\n", 0, cut + 1)
            carry = buf[cut + 1 :]
    except (EOFError, zlib.error) as err:
        raise FastaError(f"{path}: truncated or corrupt gzip stream after line {line} ({err})") from None
    if carry:
        yield carry, line


_WS = b" \t\r\n\v\f"
_TOKEN_TABLE = BYTE_TO_TOKEN.tobytes()  # bytes.translate table: byte -> token id, INVALID for non-residues


def _parse_block(path: Path, text: bytes, first_line: int, record_base: int) -> Batch:
    """Records of one block. Per record only C-level bytes methods run; the residues of the whole block are then
    tokenised and checked at once with one translate and one numpy comparison."""
    head = 0 if text.startswith(b">") else text.find(b"\n>") + 1  # anything before the first header
    if head or not text.startswith(b">"):
        before = text if head == 0 else text[:head]
        if before.strip():
            lead = len(before) - len(before.lstrip())
            where = first_line + before.count(b"\n", 0, lead)
            raise FastaError(f"{path}: line {where}: text before the first '>' header")
        if head == 0:
            return Batch([], np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.uint8))
    parts = text[head + 1 :].split(b"\n>")
    line = first_line + text.count(b"\n", 0, head)
    ids: list[str] = []
    lines: list[int] = []
    seqs: list[bytes] = []
    for part in parts:
        nl = part.find(b"\n")
        header, body = (part, b"") if nl < 0 else (part[:nl], part[nl + 1 :])
        words = header.split(maxsplit=1)
        ids.append(words[0].decode("latin-1") if words else "")
        lines.append(line)
        seq = body.translate(None, _WS)
        seqs.append(seq[:-1] if seq.endswith(b"*") else seq)  # a terminal stop codon is not a residue
        line += part.count(b"\n") + 1

    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    for k in np.flatnonzero(lengths == 0).tolist()[:1] + [k for k, i in enumerate(ids) if not i][:1]:
        problem = "an empty identifier" if not ids[k] else "no residues"
        raise FastaError(f"{path}: line {lines[k]}: record {record_base + k + 1} ({ids[k]}) has {problem}")
    tokens = np.frombuffer(b"".join(seqs).translate(_TOKEN_TABLE), dtype=np.uint8)
    bad = np.flatnonzero(tokens == INVALID)
    if bad.size:
        k = int(np.searchsorted(offsets, bad[0], side="right") - 1)
        _raise_bad_character(path, parts[k], lines[k], record_base + k + 1, ids[k])
    return Batch(ids, np.array(lines, dtype=np.int64), offsets, tokens)


def _raise_bad_character(path: Path, part: bytes, header_line: int, number: int, ident: str) -> None:
    """Error path only: find line and column of the first non-residue character of one record."""
    body_lines = part.split(b"\n")[1:]
    for i, raw in enumerate(body_lines):
        row = raw.rstrip(_WS)
        if i == len(body_lines) - 1 or not b"".join(body_lines[i + 1 :]).strip():
            row = row[:-1] if row.endswith(b"*") else row  # the terminal '*' is allowed
        for col, byte in enumerate(row, start=1):
            if byte not in _WS and BYTE_TO_TOKEN[byte] == INVALID:
                raise FastaError(
                    f"{path}: line {header_line + 1 + i}, column {col}: character {chr(byte)!r} in record {number} "
                    f"({ident}) is not a protein residue"
                )
    raise FastaError(f"{path}: line {header_line}: record {number} ({ident}) has a character that is not a residue")


def read_fasta(path: str | Path, block_bytes: int = BLOCK_BYTES) -> Iterator[Batch]:
    """Validate and tokenise a protein FASTA (plain or gzip), yielding batches of whole records.

    Raises FastaError for: an empty file, text before the first header, an empty identifier, a record with no
    residues, a non-residue character, a truncated gzip stream, and duplicate identifiers (checked at the end, so
    a caller that writes while reading must discard its outputs on error).
    """
    path = Path(path)
    hashes: list[np.ndarray] = []
    n = 0
    for text, first_line in _blocks(path, block_bytes):
        batch = _parse_block(path, text, first_line, n)
        n += len(batch)
        # Python's str hash is stable within a process; a collision is re-checked exactly in _check_unique.
        hashes.append(np.fromiter(map(hash, batch.ids), dtype=np.int64, count=len(batch)))
        if len(batch):
            yield batch
    if n == 0:
        raise FastaError(f"{path}: no FASTA records (empty file or no '>' header)")
    _check_unique(path, np.concatenate(hashes), block_bytes)


def _check_unique(path: Path, hashes: np.ndarray, block_bytes: int) -> None:
    order = np.sort(hashes)
    dup_hashes = set(order[1:][order[1:] == order[:-1]].tolist())
    if not dup_hashes:
        return
    # Rare path: re-read headers to name the identifier and both lines (and rule out a hash collision).
    seen: dict[str, int] = {}
    n = 0
    for text, first_line in _blocks(path, block_bytes):
        batch = _parse_block(path, text, first_line, n)
        n += len(batch)
        for ident, line in zip(batch.ids, batch.header_lines.tolist()):
            if hash(ident) in dup_hashes:
                if ident in seen:
                    raise FastaError(
                        f"{path}: line {line}: duplicate identifier {ident!r} (first seen at line {seen[ident]})"
                    )
                seen[ident] = line
