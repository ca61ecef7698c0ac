"""A protein FASTA built from installed BLAST databases: the union of several, one record per accession.

Debian's `metastudent-data` ships ~460,000 GO-annotated UniProt proteins per GO ontology (BPO, CCO, MFO; each
~170M residues, overlapping) as BLAST databases only. `blastdbcmd -db PATH -entry all` (Debian's `ncbi-blast+`)
turns each into FASTA with headers `>ACCESSION|GO:...`. The accession is the header up to its first `|` or space;
a protein in several databases is written once, from the first database that holds it (its GO terms differ between
ontologies, its sequence must not: one that does is refused). blastdbcmd is run with its arguments as a list,
never through a shell; its output is streamed, so memory holds the accessions seen, not the sequences.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..io import atomic_outputs, write_json

DB_FILES = (".pin", ".psq", ".phr")  # a BLAST protein database (version 4) is these files beside its name


def check_database(db: str | Path) -> Path:
    """The database's path, or one line naming the first of its files that is missing."""
    db = Path(db)
    for suffix in DB_FILES:
        if not Path(f"{db}{suffix}").is_file():
            raise ValueError(f"{db}: not a BLAST protein database (no {db.name}{suffix}; Debian's metastudent-data?)")
    return db


def _records(db: Path) -> Iterator[tuple[str, bytes, bytes]]:
    """(accession, header, sequence) of every protein in the database, streamed from blastdbcmd."""
    cmd = ["blastdbcmd", "-db", str(db), "-entry", "all", "-line_length", "1000000"]
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: warnings past a pipe's buffer would block it
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        except FileNotFoundError:
            raise ValueError("blastdbcmd not found (Debian package ncbi-blast+; `make setup` installs it)") from None
        yield from _parse(proc.stdout)
        if proc.wait() != 0:
            err.seek(0)
            raise ValueError(f"{db}: blastdbcmd failed: {' '.join(err.read().decode(errors='replace').split())[:200]}")


def _parse(stream) -> Iterator[tuple[str, bytes, bytes]]:
    """(accession, header, sequence) of each FASTA record of a byte stream, the header's bytes as they are."""
    header, seq = None, []
    for line in stream:
        if line.startswith(b">"):
            if header is not None:
                yield _accession(header), header, b"".join(seq)
            header, seq = line[1:].rstrip(b"\r\n"), []
        else:
            seq.append(line.strip())
    if header is not None:
        yield _accession(header), header, b"".join(seq)


def _accession(header: bytes) -> str:
    return header.split(b"|", 1)[0].split(None, 1)[0].decode("ascii", "replace") if header.strip() else ""


def union_fasta(dbs: list[str | Path], out: str | Path) -> dict:
    """Write the union of `dbs` as FASTA to `out` (atomically), one record per accession; the summary beside it
    (out + .json: per database its records and the new ones, the union's records and residues)."""
    paths = [check_database(db) for db in dbs]
    seen: dict[str, bytes] = {}  # accession -> sha1 of its sequence (a protein's sequence is one across ontologies)
    summary = {"databases": [], "records": 0, "residues": 0}
    out = Path(out)
    with atomic_outputs(out, out.with_name(out.name + ".json")) as (tmp, tmp_json), open(tmp, "wb") as fh:
        for db in paths:
            read = new = 0
            for accession, header, seq in _records(db):
                read += 1
                digest = hashlib.sha1(seq).digest()
                if accession in seen:
                    if seen[accession] != digest:
                        raise ValueError(f"{db}: accession {accession} has another sequence in an earlier database")
                    continue
                seen[accession] = digest
                fh.write(b">" + header + b"\n" + seq + b"\n")
                new, summary["records"], summary["residues"] = (
                    new + 1,
                    summary["records"] + 1,
                    summary["residues"] + len(seq),
                )
            summary["databases"].append({"db": str(db), "records": read, "new": new})
        fh.close()
        write_json(tmp_json, summary)
    return summary
