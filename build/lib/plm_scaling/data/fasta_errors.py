"""Where a FASTA file is malformed: the line (and column) and record of the first problem, in one line.

Error paths only: slow is fine here, they run once. A block is fasta._Block (its text, path and origin())."""

from __future__ import annotations

import re

from .vocab import BYTE_TO_TOKEN, INVALID

WHITESPACE = b" \t\r\n\v\f"


class FastaError(ValueError):
    """Malformed FASTA input. The message is one line naming the file, and the record and line where known."""


def header_positions(block) -> list[int]:
    return [m.start() for m in re.finditer(rb"(?m)^>", block.text)]


def raise_at(block, pos: int, problem: str) -> None:
    line = block.origin()[0] + block.text.count(b"\n", 0, pos)
    raise FastaError(f"{block.path}: line {line}: {problem}")


def raise_record(block, k: int, problem) -> None:
    """`problem(number)` says what is wrong with record k, given its number in the file. (Not str.format: an
    identifier may hold braces.)"""
    raise_at(block, header_positions(block)[k], problem(block.origin()[1] + k + 1))


def raise_bad_character(block, k: int, ident: str) -> None:
    """Line and column of the first non-residue character of record k (a terminal '*' is allowed)."""
    starts = header_positions(block) + [len(block.text)]
    record = block.text[starts[k] : starts[k + 1]]
    first_line, record_base = block.origin()
    header_line = first_line + block.text.count(b"\n", 0, starts[k])
    rows = record.split(b"\n")[1:]
    last = max((i for i, r in enumerate(rows) if r.strip()), default=-1)
    for i, raw in enumerate(rows):
        row = raw.rstrip(WHITESPACE)
        if i == last and row.endswith(b"*"):
            row = row[:-1]
        for col, byte in enumerate(row, start=1):
            if byte not in WHITESPACE and BYTE_TO_TOKEN[byte] == INVALID:
                raise FastaError(
                    f"{block.path}: line {header_line + 1 + i}, column {col}: character {chr(byte)!r} in record "
                    f"{record_base + k + 1} ({ident}) is not a protein residue"
                )
    raise FastaError(f"{block.path}: line {header_line}: record {record_base + k + 1} ({ident}) is malformed")
