"""Transfer between objectives on a study's own runs (grid key transfer_shares; paper Fig. 4/5), fitted with the
code that fits the authors' released logs (transfer_fits.py).

A transfer point spends a share s of its budget C pre-training the other objective (point ..._pre<s>_...) and
the rest training its own objective from those weights (..._clm<s>_... or ..._mlm<s>_...); share 0 is the scratch
run of the same N and C, so every share has the same total compute. Three analyses:
- the share sweep: per (N, C), each share's mean loss minus scratch's, with a t-interval from the pooled seed
  noise, and the shares whose loss cannot be told from the best one (mask_ratio.near_best) beside the paper's
  10-20 %;
- the frontiers, as the authors draw them (transfer_fits.envelope and a log-log fit of the lower envelope of all
  scratch curves, and of all transfer curves against their own, fine-tuning, compute), and per share against
  total compute (the best size's final loss per budget);
- the effectively transferred tokens D_T = k·D_F^α·N^β (transfer_fits.transferred_rows and fit_transferred), with
  95% intervals from a bootstrap over transfer runs, and "not identified" when they are too wide to be a result.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..names import OTHER_OBJECTIVE
from ..sweep_point import SweepPoint
from . import transfer_fits
from .ablation import difference
from .mask_ratio import near_best
from .noise import budget_key, seed_points, thread_spread
from .powerlaw import ci95, fit_loglog
from .table import Table
from .transfer_fits import fit_transferred, frontier_fit, transferred_rows

PAPER_BEST_SHARES = (0.1, 0.2)  # the paper: 10-20 % of the compute on CLM pre-training trains the best MLM
BOOTSTRAP = 200
IDENTIFIED_SPAN = 1.0  # an exponent of the D_T law whose 95% interval is wider than this is not a result


def share_of(point: str) -> float:
    """The share of the budget a (seed-pooled) point spent pre-training the other objective; 0 for scratch."""
    return SweepPoint.parse(point).share or 0.0


def total_flops(run: dict) -> float:
    """The run's own compute plus the pre-training's (run.json `init`, read from the run it started from)."""
    return float(run["flops"]) + float((run.get("init") or {}).get("flops") or 0.0)


def share_sweep(runs: list[dict], sd: float | None, dof: int) -> list[dict]:
    """Per (N, C) with transfer runs: every share's mean loss and its difference to scratch (interval when the
    seed noise was measured), the best share observed and the shares within the noise of it."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        groups[SweepPoint.of(r).scratch_twin.seedless_id].append(r)
    out = []
    for twin, members in sorted(groups.items()):
        points = sorted(({**p, "share": share_of(p["point"])} for p in seed_points(members)), key=lambda p: p["share"])
        if points[0]["share"] != 0 or len(points) < 2:  # no scratch run, or no transfer run, at this point
            continue
        shares = np.array([p["share"] for p in points for _ in p["losses"]])
        losses = np.array([loss for p in points for loss in p["losses"]])
        best = min(points, key=lambda p: p["mean"])
        out.append(
            {
                "point": twin,
                "n": points[0]["n"],
                "c": float(np.mean([total_flops(r) for r in members])),
                "shares": [{"share": p["share"], **_versus_scratch(points[0], p, sd, dof)} for p in points],
                "best_share": best["share"],
                "near_best": near_best(shares, losses, sd, thread_spread(points[0])) if sd else None,
            }
        )
    return out


def _versus_scratch(scratch: dict, point: dict, sd: float | None, dof: int) -> dict:
    if sd:
        return difference(scratch, point, sd, dof)
    keys = ("seeds", "mean", "losses")
    return {**{k: point[k] for k in keys}, "diff": point["mean"] - scratch["mean"], "ci95": None, "beyond_noise": None}


def _curves(table: Table, runs: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Run -> (FLOPs of the run itself, validation losses) of its curve."""
    names = {r["sweep_point"] for r in runs}
    return {str(t["run"][0]): (t.flops, t["loss"]) for t in table.by_source().values() if str(t["run"][0]) in names}


def frontiers(curves: dict, runs: list[dict], bootstrap: int = BOOTSTRAP) -> dict:
    """The authors' frontiers on our runs: scratch and transfer curves against their own compute (fine-tuning
    only, as the released logs count it), and the transfer curves against total compute; intervals from
    resampling runs."""
    scratch = [r for r in runs if SweepPoint.of(r).transfer is None]
    transfer = [r for r in runs if SweepPoint.of(r).transfer is not None]
    out = {}
    for kind, members in (("scratch", scratch), ("transfer", transfer)):
        fit = frontier_fit([curves[r["sweep_point"]] for r in members], bootstrap)
        out[kind] = {**fit, "runs": [r["sweep_point"] for r in members]}
    # the same transfer curves shifted by each run's pre-training compute
    shifted = [
        (curves[r["sweep_point"]][0] + total_flops(r) - r["flops"], curves[r["sweep_point"]][1]) for r in transfer
    ]
    out["transfer_total_compute"] = frontier_fit(shifted, bootstrap)
    return out


def by_share(runs: list[dict]) -> list[dict]:
    """Per share: the best size's mean final loss at each total budget, and L = A·C^α through them (2+ budgets)."""
    out = []
    points = seed_points(runs)
    for share in sorted({share_of(p["point"]) for p in points}):
        best: dict[float, dict] = {}
        for p in (p for p in points if share_of(p["point"]) == share):
            c = budget_key(p["c"] / (1 - share))  # the named total budget: a transfer run's own compute is (1-s)·C
            if c not in best or p["mean"] < best[c]["loss"]:
                best[c] = {"c": c, "n": p["n"], "loss": p["mean"]}
        row = {"share": share, "points": [best[c] for c in sorted(best)]}
        if len(best) >= 2:
            row.update(fit_loglog([b["c"] for b in row["points"]], [b["loss"] for b in row["points"]]))
        out.append(row)
    return out


def _token_curves(curves: dict, runs: list[dict]) -> tuple[dict, list[tuple]]:
    """Scratch curves per size (all budgets' runs together) and one curve per transfer run, against tokens."""
    scratch: dict[str, list] = defaultdict(lambda: [[], []])
    transfers = []
    for r in runs:
        c, loss = curves[r["sweep_point"]]
        label, tokens = f"N{r['n']:g}", c * r["tokens"] / r["flops"]  # D per FLOP of this run: 1/(6N)
        if SweepPoint.of(r).transfer is None:
            scratch[label][0].append(tokens)
            scratch[label][1].append(loss)
        else:
            transfers.append((label, float(r["n"]), tokens, loss))
    return {k: (np.concatenate(x), np.concatenate(y)) for k, (x, y) in scratch.items()}, transfers


def transferred(curves: dict, runs: list[dict], bootstrap: int = BOOTSTRAP, seed: int = 0) -> dict:
    """D_T = k·D_F^α·N^β on our runs, with 95% intervals from resampling the transfer runs. Resampling needs two
    or more transfer runs of every size (else every resample that keeps both sizes is the same fit: no interval);
    α and β are `identified` when each interval spans less than IDENTIFIED_SPAN."""
    scratch, transfers = _token_curves(curves, runs)
    fit = fit_transferred(transferred_rows(scratch, transfers), "study transfer runs")
    per_size = [sum(t[0] == label for t in transfers) for label in {t[0] for t in transfers}]
    fit["bootstrap"] = {"of": bootstrap, "over": "transfer runs", "runs_per_size": min(per_size)}
    if min(per_size) < 2:
        return {**fit, "ci95": None, "identified": False, "why": "one transfer run of some size: no interval"}
    rng, draws = np.random.default_rng(seed), []
    for _ in range(bootstrap):
        pick = [transfers[i] for i in rng.integers(0, len(transfers), len(transfers))]
        try:
            again = fit_transferred(transferred_rows(scratch, pick), "")
        except ValueError:  # a resample with one size: no β
            continue
        draws.append([again[k] for k in ("k", "alpha", "beta")])
    draws = np.array(draws)
    fit["bootstrap"]["draws"] = len(draws)
    fit["ci95"] = {k: ci95(draws[:, i]) if len(draws) else None for i, k in enumerate(("k", "alpha", "beta"))}
    spans = [fit["ci95"][k][1] - fit["ci95"][k][0] if fit["ci95"][k] else np.inf for k in ("alpha", "beta")]
    fit["identified"] = bool(max(spans) < IDENTIFIED_SPAN)
    if not fit["identified"]:
        fit["why"] = f"the 95% intervals of α and β span {spans[0]:.2g} and {spans[1]:.2g} (> {IDENTIFIED_SPAN})"
    return fit


def authors(table: Table | None, objective: str) -> dict:
    """The same fits on the authors' released logs (the paper stage's loss table), or why there are none."""
    if table is None:
        return {"error": "the authors' logs were not given (config key paper_logs)"}
    try:
        return {
            "frontiers": transfer_fits.frontiers(table, objective, bootstrap=BOOTSTRAP),
            "tokens": transfer_fits.transferred_tokens(table, objective),
        }
    except ValueError as err:
        return {"error": str(err)}


def transfer_fit(table: Table, runs: list[dict], objective: str, sd: float | None, dof: int, paper=None) -> dict:
    """All of the above for one objective's scratch and transferred runs (pre-training runs left out)."""
    curves = _curves(table, runs)
    out = {
        "pretrained_on": OTHER_OBJECTIVE[objective],
        "paper_best_shares": list(PAPER_BEST_SHARES),
        "shares": share_sweep(runs, sd, dof),
        "by_share": by_share(runs),
        "frontiers": frontiers(curves, runs),
        "authors": authors(paper, objective),
    }
    try:
        out["tokens"] = transferred(curves, runs)
    except ValueError as err:
        out["tokens"] = {"error": str(err)}
    return out
