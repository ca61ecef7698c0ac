"""Streaming protein FASTA reader: validation, normalisation and tokenisation in bulk.

The file is read in blocks that end on a record boundary. A block is parsed with a few C-level passes over the
whole block (one regex for headers, one translate to drop whitespace, one split, one translate to token ids), so
there is no per-residue and almost no per-record Python, and memory stays constant in the number of residues.
Decompression and hashing of the input run in a reader thread beside the parser. Per record we keep one 8-byte
identifier hash to find duplicates at the end.

Normalisation (silent, documented in the README): lower case -> upper case, CRLF and any whitespace inside
sequences removed, one terminal '*' (stop) dropped. Everything else that is not a residue of the vocabulary is
an error that names the file, the record and the line.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from isal import isal_zlib as zlib

from .fasta_errors import WHITESPACE as _WS
from .fasta_errors import FastaError, header_positions, raise_at, raise_bad_character, raise_record
from .vocab import BYTE_TO_TOKEN, INVALID

BLOCK_BYTES = 4 << 20
_STAR = 254  # token code of '*' while parsing: kept only as a record's last residue, then dropped
_TABLE = bytearray(BYTE_TO_TOKEN.tobytes())
_TABLE[ord("*")] = _STAR
_TABLE = bytes(_TABLE)
# Splits "\n" + block into [text before the first header, id1, body1, id2, body2, ...] in one pass; the literal
# prefix "\n>" lets the regex engine jump between headers with a fast substring search.
_RECORD_RE = re.compile(rb"\n>([^ \t\r\n\v\f]*)[^\n]*")


@dataclass
class Batch:
    """Consecutive records: identifiers and tokens laid flat with offsets."""

    ids: list[str]
    offsets: np.ndarray  # int64, len(ids) + 1
    tokens: np.ndarray  # uint8 token ids of the residues, records back to back

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def select(self, keep: np.ndarray) -> Batch:
        """The records where the boolean mask `keep` is true."""
        lengths = self.lengths()[keep]
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = [i for i, k in zip(self.ids, keep.tolist()) if k]
        return Batch(ids, offsets, self.tokens[np.repeat(keep, self.lengths())])


@dataclass
class _Block:
    path: Path
    text: bytes  # whole records, starting at a line start
    start: int  # offset of text[0] in the decompressed file

    def origin(self) -> tuple[int, int]:
        """(line number of text[0], records before this block). Error path only: re-reads the file up to here,
        which keeps line and record counting out of the fast path."""
        line, records, seen, prev = 1, 0, 0, b"\n"  # a virtual newline before the file: a first '>' counts
        for chunk in _raw_chunks(self.path, BLOCK_BYTES):
            piece = chunk[: self.start - seen]
            line += piece.count(b"\n")
            records += (prev + piece).count(b"\n>")  # prev: a boundary may straddle two chunks
            prev = piece[-1:]
            seen += len(chunk)
            if seen >= self.start:
                break
        return line, records


# ---------------------------------------------------------------------------------------------- reading blocks


def _is_gzip(path: Path) -> bool:
    """Plain or gzip input is told apart by its magic bytes, not its name."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _raw_chunks(path: Path, block_bytes: int, hasher=None) -> Iterator[bytes]:
    """Decompressed (or plain) chunks; `hasher` (e.g. hashlib.sha256()) sees the file's bytes as they are read.

    ISA-L's inflate is ~2x zlib's and ~6x gzip.GzipFile's small reads; concatenated gzip members
    (`cat a.gz b.gz`) are read as gzip(1) reads them."""
    update = hasher.update if hasher is not None else (lambda _: None)
    with open(path, "rb") as fh:
        if not _is_gzip(path):
            while chunk := fh.read(block_bytes):
                update(chunk)
                yield chunk
            return
        dec, in_member, padding = zlib.decompressobj(wbits=31), False, False
        while comp := fh.read(block_bytes // 4):
            update(comp)
            while comp:
                if padding or (not in_member and not comp.strip(b"\0")):  # zeros after the last member
                    if comp.strip(b"\0"):
                        raise EOFError("data after the zero bytes that pad the end of the gzip stream")
                    padding, comp = True, b""  # gzip(1) ignores such padding (tape blocks), and so do we
                    continue
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


def _blocks(path: Path, block_bytes: int, hasher=None) -> Iterator[_Block]:
    """Blocks of whole records, cut at a record boundary ("\\n>") or at end of file."""
    carry, start, first = b"", 0, True
    try:
        for chunk in _prefetched(_raw_chunks(path, block_bytes, hasher)):
            if first:  # offsets count from the file's first byte: a stripped byte-order mark shifts them
                normalised = _normalised_start(path, chunk)
                chunk, start, first = normalised, len(chunk) - len(normalised), False
            buf = carry + chunk
            cut = buf.rfind(b"\n>")
            if cut < 0:  # no record boundary yet (a long record, or a small chunk): keep reading
                carry = buf
                continue
            yield _Block(path, buf[: cut + 1], start)
            start += cut + 1
            carry = buf[cut + 1 :]
    except (EOFError, zlib.error) as err:
        raise FastaError(
            f"{path}: truncated or corrupt gzip stream after {start + len(carry):,} bytes ({err})"
        ) from None
    if carry:
        yield _Block(path, carry, start)


def _normalised_start(path: Path, chunk: bytes) -> bytes:
    """The first chunk without a UTF-8 byte-order mark (editors on Windows write one). Line ends of CR alone
    (classic Mac OS) are refused by name: read as one line, every record would seem to have no residues."""
    chunk = chunk.removeprefix(b"\xef\xbb\xbf")
    if b"\r" in chunk and b"\n" not in chunk:
        raise FastaError(
            f"{path}: line ends are CR alone (classic Mac OS); convert them to LF, e.g. tr '\\r' '\\n' < in > out"
        )
    return chunk


# --------------------------------------------------------------------------------------------- parsing a block


def _parse_block(block: _Block) -> Batch:
    text = b"\n" + block.text  # every header now follows a newline, so one literal-prefix regex finds them all
    if b"\x00" in text:  # NUL separates records below, so it may not come from the input
        raise_at(block, text.index(b"\x00") - 1, "a NUL byte (\\x00): not FASTA text")
    parts = _RECORD_RE.split(text)
    if parts[0].strip():
        raise_at(block, len(block.text) - len(block.text.lstrip()), "text before the first '>' header")
    ids = parts[1::2]
    # NUL before every record, then whitespace out: the NUL positions give the record offsets directly.
    body = (b"\x00" + b"\x00".join(parts[2::2])).translate(None, _WS)
    seps = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 0)
    lengths = np.diff(np.append(seps, len(body))) - 1
    tokens = np.frombuffer(body.replace(b"\x00", b"").translate(_TABLE), dtype=np.uint8)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])

    stars = np.flatnonzero(tokens == _STAR)
    if stars.size:  # drop a terminal stop; a '*' anywhere else is reported as a bad character below
        terminal = stars[np.isin(stars, offsets[1:] - 1)]
        np.subtract.at(lengths, np.searchsorted(offsets, terminal, side="right") - 1, 1)
        tokens = np.delete(tokens, terminal)
        np.cumsum(lengths, out=offsets[1:])
    for k in np.flatnonzero(lengths == 0)[:1].tolist() + [k for k, i in enumerate(ids) if not i][:1]:
        problem = "an empty identifier" if not ids[k] else "no residues"
        ident = ids[k].decode("latin-1")
        raise_record(block, k, lambda number, ident=ident, problem=problem: f"record {number} ({ident}) has {problem}")
    bad = np.flatnonzero((tokens == INVALID) | (tokens == _STAR))
    if bad.size:
        k = int(np.searchsorted(offsets, bad[0], side="right") - 1)
        raise_bad_character(block, k, ids[k].decode("latin-1"))
    return Batch([i.decode("latin-1") for i in ids], offsets, tokens)


# ----------------------------------------------------------------------------------------------------- reading


def _parsed(path: Path, block_bytes: int, hasher=None) -> Iterator[tuple[_Block, Batch]]:
    # A process pool over blocks was measured slower on 2 cores (pickling batches back costs more than it saves).
    for block in _blocks(path, block_bytes, hasher):
        yield block, _parse_block(block)


def read_fasta(path: str | Path, block_bytes: int = BLOCK_BYTES, hasher=None) -> Iterator[Batch]:
    """Validate and tokenise a protein FASTA (plain or gzip), yielding batches of whole records in file order.

    `hasher` (a hashlib object) is fed the file's bytes in the reader thread, which saves a second pass.

    Raises FastaError for: an empty file, text before the first header, an empty identifier, a record with no
    residues, a non-residue character, a truncated gzip stream, and duplicate identifiers (checked at the end, so
    a caller that writes while reading must discard its outputs on error).
    """
    path = Path(path)
    hashes: list[np.ndarray] = []
    n = 0
    for _, batch in _parsed(path, block_bytes, hasher):
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
    # Rare path: re-read to name the identifier and both lines (and rule out a hash collision).
    seen: dict[str, int] = {}
    for block, batch in _parsed(path, block_bytes):
        starts = None
        for k, ident in enumerate(batch.ids):
            if hash(ident) not in dup_hashes:
                continue
            starts = starts or header_positions(block)
            line = block.origin()[0] + block.text.count(b"\n", 0, starts[k])
            if ident in seen:
                raise FastaError(
                    f"{path}: line {line}: duplicate identifier {ident!r} (first seen at line {seen[ident]})"
                )
            seen[ident] = line
