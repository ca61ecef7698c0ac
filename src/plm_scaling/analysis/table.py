"""The tidy loss table: one row per logged point, the only input of every fit and figure (analysis/logs.py
documents its columns). Column arrays, read and written as CSV."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

COLUMNS = (
    "objective",
    "size_label",
    "n",
    "run",
    "x_kind",
    "x",
    "x_full",
    "loss",
    "source",
    "group",
    "metric",
    "row",
    "wall_time",
    "duplicate_of",
)
NUMERIC = ("n", "x", "x_full", "loss", "row", "wall_time")  # float64 columns; the others are text
# x_full: compute counted in full (attention and output layer too) where the source knows it, our own runs; absent
# (empty) in the released logs and in tables written before it existed
OPTIONAL = {"x_full": math.nan}


GIGAFLO = 1e9  # FLOPs per gigaflo: the x unit of compute curves (x_kind gigaflos)


class TableError(ValueError):
    """A file that is not a tidy loss table."""


@dataclass
class Table:
    """Column arrays of the tidy table. Strings are object arrays, numbers float64 (N is NaN when unknown)."""

    cols: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cols["x"]) if self.cols else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def where(self, mask: np.ndarray) -> Table:
        return Table({k: v[mask] for k, v in self.cols.items()})

    def select(self, **equal) -> Table:
        mask = np.ones(len(self), dtype=bool)
        for key, value in equal.items():
            mask &= self.cols[key] == value
        return self.where(mask)

    def unique_sources(self) -> list[str]:
        return list(dict.fromkeys(self.cols["source"].tolist()))

    @property
    def flops(self) -> np.ndarray:
        """The x column in FLOPs. Compute is kept in gigaflos, the unit of the authors' released logs, so that
        their curves and ours share one table; every reader converts here, and only where x is compute."""
        kinds = set(self.cols["x_kind"].tolist())
        if kinds - {"gigaflos"}:
            raise TableError(f"x is {sorted(kinds - {'gigaflos'})[0]}, not compute (gigaflos), in these rows")
        return self.cols["x"] * GIGAFLO

    def by_source(self) -> dict[str, Table]:
        """One sub-table per source file, in file order, rows in file order."""
        src = self.cols["source"]
        return {s: self.where(src == s) for s in self.unique_sources()}

    @classmethod
    def from_rows(cls, rows: list[dict]) -> Table:
        return cls(
            {
                c: np.array([r.get(c, OPTIONAL[c]) if c in OPTIONAL else r[c] for r in rows], dtype=_dtype(c))
                for c in COLUMNS
            }
        )

    def write_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for i in range(len(self)):
                w.writerow([_fmt(self.cols[c][i]) for c in COLUMNS])

    @classmethod
    def read_csv(cls, path: str | Path) -> Table:
        return cls.read_text(Path(path).read_text(encoding="utf-8"), path)

    @classmethod
    def read_text(cls, text: str, path: str | Path) -> Table:
        """The table from a CSV's text (`path` names it in errors)."""
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = set(COLUMNS) - set(OPTIONAL) - set(reader.fieldnames or ())
        if missing:
            raise TableError(f"{path}: not a tidy loss table, missing columns {sorted(missing)}")
        rows = [
            {c: (r[c] if c not in NUMERIC else float(r[c]) if r[c] != "" else math.nan) for c in COLUMNS if c in r}
            for r in reader
        ]
        return cls.from_rows(rows)


def _dtype(column: str):
    return float if column in NUMERIC else object


def _fmt(v) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(float(v))
    return str(v)
