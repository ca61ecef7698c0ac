"""Ingest loss curves into one tidy table, the only input of every fit and figure.

One row per logged point: objective, size label, N (non-embedding parameters), run name, x kind
(gigaflos | tokens | samples | steps), x, x_full (compute counted in full, in gigaflos: our own runs only; empty
here), loss (nats), source file, plus the experiment group, the metric, the row
index within its file, the wall time and, for a file whose bytes repeat another's, the source it duplicates.

The authors' released logs (TensorBoard CSV exports, `Wall time,Step,Value`) come with real-world mess: spaces and
a non-ASCII folder name, possibly latin-1 text, and "tensorboard" re-exports or "(1)" copies of the same run.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np

from .released import EXPERIMENT_FOLDERS, ISOFLOP_SUFFIX, PAPER_LOGS_URL, PAPER_N, TRANSFER_FOLDER
from .table import Table, TableError

X_KINDS = ("gigaflos", "tokens", "samples", "steps")


class LogError(TableError):
    """A released log file or folder that cannot be read as a loss curve."""


def read_text(path: Path) -> str:
    """UTF-8 (with or without BOM), falling back to latin-1, which decodes any byte."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_curve(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wall time, step, value) of one TensorBoard CSV export. Empty files and NaN values are errors."""
    lines = [ln for ln in read_text(path).splitlines() if ln.strip()]
    if not lines:
        raise LogError(f"{path}: empty file")
    header = [h.strip().lower() for h in lines[0].split(",")]
    if header[:3] != ["wall time", "step", "value"]:
        raise LogError(f"{path}: expected the header 'Wall time,Step,Value', found {lines[0][:60]!r}")
    if len(lines) == 1:
        raise LogError(f"{path}: no data rows")
    rows = [ln.split(",")[:3] for ln in lines[1:]]
    short = next((i for i, r in enumerate(rows) if len(r) < 3), None)
    if short is not None:
        raise LogError(
            f"{path}: line {short + 2}: expected 3 columns (wall time, step, value), found {len(rows[short])}"
        )
    try:
        data = np.array([[float(v) for v in r] for r in rows], dtype=float)
    except ValueError as err:
        raise LogError(f"{path}: unreadable number ({err})") from None
    bad = ~np.isfinite(data[:, 2])
    if bad.any():
        raise LogError(f"{path}: line {int(np.flatnonzero(bad)[0]) + 2}: loss is NaN or infinite")
    low = data[:, 2] <= 0  # a cross-entropy in nats, or a perplexity, is positive
    if low.any():
        i = int(np.flatnonzero(low)[0])
        raise LogError(f"{path}: line {i + 2}: loss {data[i, 2]:g} is not positive")
    return data[:, 0], data[:, 1], data[:, 2]


_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)([MmBb])(?![a-zA-Z])")


def size_label(*names: str) -> str:
    """The first size such as '85M' or '1.2B' found in the names, upper-cased; '' when none."""
    for name in names:
        m = _SIZE.search(name)
        if m:
            return m.group(1) + m.group(2).upper()
    return ""


def _describe(rel: Path) -> dict:
    """Objective, group, size label, x kind and metric of a released log file, from its path."""
    parts = rel.parts
    name = rel.name
    lowered = str(rel).lower()
    if parts[0] in EXPERIMENT_FOLDERS:
        group = "/".join(parts[:2])
        label = parts[2].split("_")[0]
    else:
        group = "/".join(parts[:-1]) if parts[0] == TRANSFER_FOLDER else parts[0] + "/" + parts[1]
        label = size_label(*parts[1:-1], name) if parts[0] != TRANSFER_FOLDER else size_label(name)
    objective = "clm" if ("gpt" in parts[0] or "/gpt" in lowered[:40] or "_clm" in lowered) else "mlm"
    if parts[0] == TRANSFER_FOLDER:
        objective = "clm" if parts[1] == "gpt" else "mlm"
    if parts[0] == "mask_ratio_data":
        objective = "mlm"
    m = re.search(r" vs (gigaflos|tokens|samples)", name)
    if m:
        x_kind = m.group(1)
    elif "tokens" in parts:
        x_kind = "tokens"
    else:
        x_kind = "steps"
    metric = ("train" if "training_lm loss" in name else "valid") + ("_ppl" if " ppl " in name else "_loss")
    run = re.sub(r"-tag-lm-loss-.*$", "", name[:-4]) if name.startswith(("run-", "dep-run-")) else name[:-4]
    return {"group": group, "size_label": label, "objective": objective, "x_kind": x_kind, "metric": metric, "run": run}


def display_path(rel: Path) -> str:
    """A path as text: names that are not UTF-8 on disk (latin-1 folder names) are decoded as latin-1."""
    raw = os.fsencode(rel)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _preference(rel: Path) -> tuple:
    """Which copy of duplicated bytes is canonical: not a 'tensorboard' re-export, not a '(1)' copy, then the
    experiment folders (gpt_valid, mlm_valid) before the others, then path order."""
    s = str(rel)
    return ("tensorboard" in rel.name, "(1)" in rel.name, not s.startswith(EXPERIMENT_FOLDERS), s)


def log_files(root: Path) -> list[Path]:
    """Every CSV under the released-logs folder, in path order."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == ".csv")
    if not files:
        raise LogError(f"{root}: no CSV files")
    return files


def file_digests(root: str | Path) -> dict[str, str]:
    """sha256 of every released CSV, keyed by its `source` in the tidy table (path relative to root, as text)."""
    root = Path(root)
    return {display_path(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in log_files(root)}


def ingest(root: str | Path) -> Table:
    """Every CSV under `root` as one tidy table (paths in `source` are relative to root)."""
    root = Path(root)
    if not root.is_dir():
        raise LogError(f"{root}: paper_logs folder not found (the authors publish it at {PAPER_LOGS_URL})")
    files = log_files(root)
    digests: dict[str, list[Path]] = {}
    for p in files:
        digests.setdefault(hashlib.sha256(p.read_bytes()).hexdigest(), []).append(p.relative_to(root))
    canonical = {}
    for copies in digests.values():
        keep = min(copies, key=_preference)
        canonical.update({c: ("" if c == keep else display_path(keep)) for c in copies})
    rows = []
    for p in files:
        rel = p.relative_to(root)
        wall, step, value = read_curve(p)
        if len(rel.parts) < (3 if rel.parts[0] in EXPERIMENT_FOLDERS else 2):
            raise LogError(f"{p}: a curve outside the released layout (GROUP/[SIZE/]FILE.csv under {root})")
        meta = _describe(Path(display_path(rel)))
        loss = np.log(value) if meta["metric"].endswith("_ppl") else value
        n = PAPER_N.get(meta["size_label"], math.nan)
        for i in range(len(step)):
            rows.append(
                {
                    **meta,
                    "n": float(n),
                    "x": float(step[i]),
                    "loss": float(loss[i]),
                    "source": display_path(rel),
                    "row": float(i),
                    "wall_time": float(wall[i]),
                    "duplicate_of": canonical[rel],
                }
            )
    unknown = sorted({r["size_label"] for r in rows if r["group"].endswith(ISOFLOP_SUFFIX)} - set(PAPER_N))
    if unknown:
        warnings.warn(
            f"{root}: size folders not in the paper's N map, N left empty: {', '.join(unknown)}", stacklevel=2
        )
    return Table.from_rows(rows)


def read_table(path: str | Path) -> Table:
    """A tidy loss table from a CSV written by `paper ingest`, or ingested now from a folder of logs."""
    return Table.read_csv(path) if Path(path).is_file() else ingest(path)
