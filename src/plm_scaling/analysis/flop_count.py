"""Compute counted two ways in an IsoFLOP fit (model/sizes.py FLOP_COUNTS): `paper`, C = 6·N·D, and `full`, with
the attention scores and the output layer. At our context the full count is 1.3-2.6x the paper's, most for the
smallest models, so the count a fit uses moves its N_opt exponent (Porian et al. 2024, "Resolving Discrepancies").

A study meets its budgets in one count (its key `compute`); its IsoFLOP profiles are then profiles in that count
only. The other count's exponent comes from the same optima: an optimum (C, N_opt) spends C·r(N_opt) full FLOPs,
or C/r(N_opt) paper FLOPs, where r(N) is the runs' full/paper FLOPs per token, interpolated log-log between the
sizes trained (r depends on the shape, not on N alone; between neighbouring sizes of one study the interpolation
is within the rounding of the shapes). Tables without the full count (the authors' released logs) have no r.

That re-counted exponent shows how much the count alone moves a reported exponent; it is NOT an estimate of the
other count's compute-optimal exponent: the optimum at fixed 6·N·D is not the optimum at fixed full FLOPs. On
synthetic studies with our overhead it misses that truth by 0.05-0.07 (tests/unit/test_flop_count.py); only a
study whose budgets are met in a count measures that count's frontier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.sizes import FLOP_COUNTS
from .table import Table, TableError

# How tables, figures and run pages name a count: the unit of C, and C itself in a law's label
FLOP_UNIT = {"paper": "FLOPs", "full": "full FLOPs"}
C_LABEL = {"paper": "C", "full": "C_full"}


def law_labels(iso: dict) -> dict[str, str]:
    """Each IsoFLOP law of a fit (analysis/isoflop.py) by its key, C named by the count it is in."""
    c = C_LABEL[iso.get("compute") or "paper"]
    labels = {"n_opt": f"N_opt ∝ {c}^a", "d_opt": f"D_opt ∝ {c}^b", "loss": f"L ∝ {c}^c"}
    if iso.get("other_compute"):
        labels["n_opt_other"] = f"N_opt ∝ {C_LABEL[iso['other_compute']]}^a"
    return labels


@dataclass(frozen=True)
class FlopCount:
    compute: str  # the count the budgets are met in, and the C of the fit's laws
    log_n: np.ndarray  # log N of the sizes trained, ascending
    log_ratio: np.ndarray  # log(full / paper FLOPs per token) at each

    @property
    def other(self) -> str:
        return FLOP_COUNTS[1 - FLOP_COUNTS.index(self.compute)]

    def ratio(self, n: float) -> float:
        return float(np.exp(np.interp(np.log(n), self.log_n, self.log_ratio)))

    def in_other(self, c: float, n: float) -> float:
        """The FLOPs a budget of `c` (this count) is in the other count, at model size n."""
        return c * self.ratio(n) if self.compute == "paper" else c / self.ratio(n)

    def tokens(self, c: float, n: float) -> float:
        """D = C / (FLOPs per token): the tokens a model of size n trains on for a budget of `c` (this count)."""
        return c / (6 * n) if self.compute == "paper" else c / (6 * n * self.ratio(n))


def check_count(compute: str) -> None:
    if compute not in FLOP_COUNTS:
        raise ValueError(f"compute {compute!r} is not one of {', '.join(FLOP_COUNTS)}")


def flop_count(table: Table, compute: str) -> FlopCount | None:
    """r(N) from each curve's last point (x_full / x), or None when any row lacks the full count."""
    check_count(compute)
    if not len(table) or not np.isfinite(table["x_full"]).all():
        return None
    by_n: dict[float, list[float]] = {}
    for t in table.by_source().values():
        by_n.setdefault(float(t["n"][-1]), []).append(float(t["x_full"][-1] / t["x"][-1]))
    sizes = sorted(by_n)
    return FlopCount(compute, np.log(sizes), np.log([float(np.mean(by_n[n])) for n in sizes]))


def counted(table: Table, compute: str) -> Table:
    """The table with x as `compute` counts it: x itself (paper) or x_full (full)."""
    check_count(compute)
    if compute == "paper":
        return table
    if not np.isfinite(table["x_full"]).all():
        raise TableError("compute full: rows without a full FLOP count (x_full) in the table")
    return Table({**table.cols, "x": table["x_full"]})
