"""Thin wrapper around the MMseqs2 command line (Debian package `mmseqs2`)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

MAX_REJECTED = MAX_ACCEPT = 2**31 - 1  # MMseqs2's own defaults for --max-rejected, --max-accept: align them all


class MMseqsError(RuntimeError):
    pass


def executable() -> str:
    exe = shutil.which("mmseqs")
    if exe is None:
        raise MMseqsError("mmseqs not found on PATH: install Debian's mmseqs2 (`make setup` does)")
    return exe


def version() -> str:
    return subprocess.run([executable(), "version"], capture_output=True, text=True, check=True).stdout.strip()


def _run(args: list[str]) -> None:
    proc = subprocess.run([executable(), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        raise MMseqsError(f"mmseqs {args[0]} failed (exit {proc.returncode}): {' '.join(tail)}")


def _similarity_args(identity: float, coverage: float, cov_mode: int, threads: int) -> list[str]:
    return [
        "--min-seq-id",
        str(identity),
        "-c",
        str(coverage),
        "--cov-mode",
        str(cov_mode),
        "--threads",
        str(threads),
        "-v",
        "1",
    ]


def cluster(fasta: Path, identity: float, coverage: float, cov_mode: int, mode: str, threads: int) -> np.ndarray:
    """Cluster a FASTA whose headers are 0..n-1; return the representative index of every record."""
    command = {"cluster": "easy-cluster", "linclust": "easy-linclust"}[mode]
    with tempfile.TemporaryDirectory(prefix="mmseqs-") as tmp:
        prefix = Path(tmp) / "res"
        _run(
            [
                command,
                str(fasta),
                str(prefix),
                str(Path(tmp) / "work"),
                *_similarity_args(identity, coverage, cov_mode, threads),
            ]
        )
        pairs = np.loadtxt(f"{prefix}_cluster.tsv", dtype=np.int64, ndmin=2)
    rep = np.full(int(pairs[:, 1].max()) + 1, -1, dtype=np.int64)
    rep[pairs[:, 1]] = pairs[:, 0]
    return rep


def search_hits(
    query: Path,
    target: Path,
    identity: float,
    coverage: float,
    cov_mode: int,
    threads: int,
    sensitivity: float,
    max_rejected: int = MAX_REJECTED,
    max_accept: int = MAX_ACCEPT,
) -> np.ndarray:
    """The (query, target) index pairs whose alignment reaches `identity` at the coverage rule (int64, shape k×2):
    all of them, or at most `max_accept` per query.

    Thresholds are applied by MMseqs2 and re-checked here on its reported identity and coverages, so the answer
    does not depend on what MMseqs2 treats as "at" a threshold. `max_rejected`, `max_accept`: stop aligning a
    query's prefilter candidates (up to 1,000, best k-mer score first) after this many failed or passed the
    thresholds. The split needs only whether a held-out sequence has a train hit, not all of them: on
    metastudent-data the first round's 33,245 leaky queries of 51,572 had 2.98M hits, ~90 each.
    """
    with tempfile.TemporaryDirectory(prefix="mmseqs-") as tmp:
        out = Path(tmp) / "hits.m8"
        _run(
            [
                "easy-search",
                str(query),
                str(target),
                str(out),
                str(Path(tmp) / "work"),
                *_similarity_args(identity, coverage, cov_mode, threads),
                "-s",
                str(sensitivity),
                "--max-seqs",
                "1000",
                "--max-rejected",
                str(max_rejected),
                "--max-accept",
                str(max_accept),
                "-e",
                "inf",
                "--format-output",
                "query,target,fident,qcov,tcov",
            ]
        )
        rows = np.loadtxt(out, ndmin=2) if out.stat().st_size else np.zeros((0, 5))
    qcov, tcov = rows[:, 3], rows[:, 4]
    covered = {0: (qcov >= coverage) & (tcov >= coverage), 1: tcov >= coverage, 2: qcov >= coverage}
    ok = (rows[:, 2] >= identity) & covered.get(cov_mode, np.ones(len(rows), bool))
    return rows[ok, :2].astype(np.int64)
