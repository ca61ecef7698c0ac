"""Method 1, "notebook": the authors' own IsoFLOP procedure on their released logs, reproduced step by step.

1. Load each file skipping the header and the first data row; columns are wall time, gigaflos, loss.
2. Budgets: per run, the minimum of its last 10 gigaflos values; all runs' values, sorted.
3. For each size folder in the N map, each run in it and each budget: the row whose gigaflos is nearest the
   budget, unless it is more than 1e9 gigaflos away; D = (row index + 1) × 300 × tokens per step (1024×1024 for
   "B" labels, 512×1024 otherwise); C = budget × 1e9.
4. Per budget, the lowest-loss (L, N, D), kept as the notebook keeps it: in a dict keyed by the budget *value*,
   filled size by size in the order of its N map (ascending N), a later point replacing a stored one only when
   strictly lower.
5. a·x^b by scipy curve_fit from its default start: N and D against C, L against C / 8.64e19 (PF-days).

Step 2 says "every run": the budgets come from every "run*" file of the objective's folder, including size folders
missing from the N map (which step 3 then skips). This reading is documented in the README.

Step 4's storage decides two things on the released CLM logs (the MLM logs are not affected). Re-exported duplicate
files give equal budget values, which one dict key collapses: 115 CLM budgets, not 123. And one file,
`gpt_10M_1024l_1e18flops`, lies byte for byte in both `6M_flops/` and `13M_flops/`: where it is the best run,
the two copies tie, and the first visited (6M, smaller N) keeps the budget. Read otherwise (one point per sorted
budget, folders in path order), CLM gives N_opt ∝ C^0.546 and D_opt ∝ C^0.436 instead of the notebook's
0.557453 and 0.426146.
"""

from __future__ import annotations

import math
from pathlib import PurePath

import numpy as np

from .powerlaw import PF_DAY, fit_curve_fit
from .released import ISOFLOP_GROUPS, PAPER_N, isoflop_runs
from .table import Table

STEPS_PER_EVAL = 300
MAX_DISTANCE_GIGAFLOS = 1e9


def _runs(table: Table, objective: str) -> list[Table]:
    """The objective's "run*" files, each as loaded by the authors (first data row dropped)."""
    sub = isoflop_runs(table, objective)
    runs = [t.where(t["row"] >= 1) for s, t in sub.by_source().items() if PurePath(s).name.startswith("run")]
    return [r for r in runs if len(r)]


def _notebook_order(run: Table) -> tuple[float, str]:
    """The notebook visits sizes in its N map's order (ascending N); files of one size by name."""
    return PAPER_N.get(run["size_label"][0], math.inf), run["source"][0]


def frontier(table: Table, objective: str) -> dict[str, np.ndarray]:
    """Steps 1–4: per budget, the lowest-loss (C, N, D, L) and the run it came from."""
    runs = _runs(table, objective)
    if not runs:
        raise ValueError(f"no '{ISOFLOP_GROUPS[objective]}' runs in the table")
    budgets = np.sort([float(np.min(r["x"][-10:])) for r in runs])
    best: dict[float, tuple] = {}  # keyed by the budget's value: duplicate budgets are one key
    for run in sorted(runs, key=_notebook_order):
        label = run["size_label"][0]
        if label not in PAPER_N:
            continue
        tokens_per_step = 1024 * 1024 if label.endswith("B") else 512 * 1024
        gigaflos, loss = run["x"], run["loss"]
        for budget in budgets:
            i = int(np.argmin(np.abs(gigaflos - budget)))
            if abs(gigaflos[i] - budget) > MAX_DISTANCE_GIGAFLOS:
                continue
            point = (
                float(loss[i]),
                float(PAPER_N[label]),
                float((i + 1) * STEPS_PER_EVAL * tokens_per_step),
                run["source"][0],
            )
            if budget not in best or point[0] < best[budget][0]:  # strictly lower: a tie keeps the first
                best[budget] = point
    ks = sorted(best)
    return {
        "c": np.array(ks) * 1e9,
        "loss": np.array([best[k][0] for k in ks]),
        "n": np.array([best[k][1] for k in ks]),
        "d": np.array([best[k][2] for k in ks]),
        "source": np.array([best[k][3] for k in ks], dtype=object),
        "n_runs": np.array(len(runs)),
    }


def fit(table: Table, objective: str) -> dict:
    """Step 5 on the frontier: the laws N_opt(C), D_opt(C) and L(C in PF-days)."""
    f = frontier(table, objective)
    if f["c"].size < 3:
        raise ValueError(f"{objective}: only {f['c'].size} budgets have a point; a power law needs at least 3")
    return {
        "n_opt": fit_curve_fit(f["c"], f["n"]),
        "d_opt": fit_curve_fit(f["c"], f["d"]),
        "loss": fit_curve_fit(f["c"] / PF_DAY, f["loss"]),
        "n_budgets": int(f["c"].size),
        "n_runs": int(f["n_runs"]),
    }
