"""Adaptive IsoFLOP design: from the runs so far and their fit, the next round of runs and why, or why to stop.

One round's decisions, per objective (under the compute cap, edges first, then the cheapest first):
1. **edge**: a budget whose lowest loss is at its smallest (largest) size tried gets two sizes beyond that edge
   (÷step, ÷step²; ×step, ×step²): an edge minimum is rejected by the fit and, with three budgets, costs the law.
   Where the edge's loss is within two standard errors of its neighbour's and no size beyond can be trained (or
   `noisy_edge: seeds`), one more seed at both instead: the minimum may lie between them.
2. **budget**: when every budget has an interior minimum (or an edge no trainable size can fix) and the N_opt
   exponent's 95% interval is wider than the target, or while there is no law yet, one new budget, below the smallest
   or above the largest, whichever widens the spread of log C the most per FLOP (the slope's variance is
   σ²/Σ(x−x̄)²), with `budget_sizes` sizes ×step around the N_opt the law predicts there.
3. **between** (once there is a law, as for seeds): around an interior minimum, the geometric mean of the best
   size and a neighbour more than `resolution` apart: the vertex is located only as finely as the sizes around it.
4. **seeds**: one more seed at the best size and a neighbour whose mean losses differ by less than two standard
   errors (the seed noise `seed_noise` per run): they are not yet told apart.
An objective whose interval is at most `target_width` gets nothing. The round stops the study when every objective
is at its target, at `max_rounds`, when the cap (FLOPs, or hours at the rates the sizes measured) leaves no room for
any decision, or when nothing is left to add. Pure: study/rounds.py and benchmarks/adaptive_design.py call it alike.
"""

from __future__ import annotations

import math

import numpy as np

from .adaptive_settings import PRIORITY, Decision, Run, Settings


def sig(x: float, digits: int) -> float:
    """x to `digits` significant digits: sizes (3) and budgets (1, as the fit snaps them) that ids name cleanly."""
    return float(f"{x:.{digits - 1}e}")


def interval_width(fit: dict) -> float | None:
    """Width of the N_opt exponent's 95% interval, or None (no law, or no interval)."""
    ci = fit.get("n_opt", {}).get("ci95")
    return None if not ci or not all(map(np.isfinite, ci)) else float(ci[1] - ci[0])


def _profile(runs: list[Run]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sizes ascending, mean loss, runs) per size of one budget."""
    sizes = np.array(sorted({r.n for r in runs}))
    losses = [[r.loss for r in runs if r.n == n] for n in sizes]
    return sizes, np.array([np.mean(v) for v in losses]), np.array([len(v) for v in losses])


def _fresh(candidates, tried, s: Settings, snap) -> list[float]:
    """The distinct sizes that can be trained nearest `candidates` (snap: a size asked for -> the model's N; our
    one- and two-layer models are ~2x apart), within [min_size, max_size] and not tried yet, in order."""
    out = []
    for n in candidates:
        m = float(snap(n))
        if s.min_size <= m <= s.max_size and m not in tried and m not in out:
            out.append(m)
    return out


def _edge(objective: str, c: float, sizes, best: int, s: Settings, snap) -> tuple[list[Decision], str | None]:
    """Two sizes beyond the edge the minimum sits at (with fewer than 3 sizes, also beyond the largest), or a note
    why none fit."""
    low, high = best == 0, best == sizes.size - 1 or sizes.size < 3
    new = _fresh([sizes[0] / s.step**k for k in range(1, 5)], sizes, s, snap)[:2] if low else []
    new = [n for n in new if n < sizes[0]]
    if high and (not low or sizes.size < 3):
        new += [n for n in _fresh([sizes[-1] * s.step**k for k in range(1, 5)], sizes, s, snap) if n > sizes[-1]][:2]
    if not new:
        return [], f"{objective} {c:.0e}: minimum at the edge of what can be trained ({sizes[best]:.3g})"
    where = "smallest" if low else "largest"
    why = f"lowest loss at the {where} size tried ({sizes[best]:.3g} of {sizes.size})"
    return [Decision(objective, "edge", c, [(n, 0) for n in new], why)], None


def _between(objective: str, c: float, sizes, best: int, s: Settings, snap) -> list[Decision]:
    runs = []
    for nb in (best - 1, best + 1):
        lo, hi = sorted((sizes[best], sizes[nb]))
        mid = _fresh([math.sqrt(lo * hi)], sizes, s, snap)
        if hi / lo > s.resolution and mid and lo < mid[0] < hi:
            runs.append((mid[0], 0))
    why = f"sizes around the minimum ({sizes[best]:.3g}) more than ×{s.resolution:g} apart"
    return [Decision(objective, "between", c, runs, why)] if runs else []


def _more_seeds(runs: list[Run], sizes, count, which, s: Settings) -> list[tuple[float, int]]:
    """(size, the next seed number no run of `runs` holds, diverged ones included) for each size index in `which`
    with fewer than max_seeds runs that gave a loss."""
    out = []
    for i in which:
        if count[i] < s.max_seeds:
            used = {r.seed for r in runs if r.n == sizes[i]}
            out.append((float(sizes[i]), min(set(range(len(used) + 1)) - used)))
    return out


def _told_apart(loss, count, i: int, j: int, s: Settings) -> bool:
    """Mean losses of sizes i and j differ by at least two standard errors (seed noise `seed_noise` per run)."""
    return abs(loss[i] - loss[j]) >= 2 * s.seed_noise * math.sqrt(1 / count[i] + 1 / count[j])


def _seeds(objective: str, c: float, runs: list[Run], sizes, loss, count, best: int, s: Settings) -> list[Decision]:
    """One more seed at the best size and at each neighbour it is not yet told apart from (< 2 SE)."""
    unclear = [nb for nb in (best - 1, best + 1) if not _told_apart(loss, count, best, nb, s)]
    out = _more_seeds(runs, sizes, count, ([best] if unclear else []) + unclear, s)
    why = f"loss at {sizes[best]:.3g} within 2 SE (seed noise {s.seed_noise:g}) of a neighbour"
    return [Decision(objective, "seeds", c, out, why)] if out else []


def _edge_seeds(objective: str, c: float, runs: list[Run], profile, edge: int, s: Settings) -> list:
    """Seeds for an edge: one more at the edge size, where the lowest loss is, and at its neighbour while the two are
    within 2 SE (the minimum may be between them, not beyond); none once both have max_seeds."""
    sizes, loss, count = profile
    nb = 1 if edge == 0 else sizes.size - 2
    if sizes.size < 3 or int(np.argmin(loss)) != edge or _told_apart(loss, count, edge, nb, s):
        return []
    out = _more_seeds(runs, sizes, count, (edge, nb), s)
    why = f"lowest loss at an edge ({sizes[edge]:.3g}) within 2 SE (seed noise {s.seed_noise:g}) of its neighbour"
    return [Decision(objective, "edge_seeds", c, out, why)] if out else []


def _edge_or_seeds(objective: str, c: float, runs: list[Run], profile, edge: int, s: Settings, snap) -> tuple:
    """(decisions, note) for an edge minimum: sizes beyond it (`_edge`) or, per `noisy_edge`, seeds where it is
    within the noise of its neighbour: `sizes` asks for seeds only where no size beyond can be trained (the budget
    is lost without them; the note stays), `seeds` asks for them first and for sizes beyond once the seeds tell the
    two apart or run out."""
    seeds = _edge_seeds(objective, c, runs, profile, edge, s)
    if s.noisy_edge == "seeds" and seeds:
        return seeds, None
    beyond, note = _edge(objective, c, profile[0], edge, s, snap)
    return (seeds if note else beyond), note


def _budget_sizes(n_opt: float, s: Settings, snap) -> list[float]:
    """`budget_sizes` models ×step apart around n_opt; where that leaves fewer than two on a side, the models
    nearest n_opt on that side fill it, each at least ×resolution from the others (ours are sparse at the bottom:
    ×2 steps from 651 snap to 216, 816, 816, 3,168, and 424 fills the side below)."""
    wanted = [n_opt * s.step ** (k - (s.budget_sizes - 1) / 2) for k in range(int(s.budget_sizes))]
    sizes = _fresh(wanted, [], s, snap)
    others = _fresh(np.geomspace(n_opt / s.step**3, n_opt * s.step**3, 50), sizes, s, snap)
    for side in (lambda n: n < n_opt / 1.1, lambda n: n > n_opt * 1.1):
        for n in sorted(filter(side, others), key=lambda n: abs(math.log(n / n_opt))):
            apart = all(abs(math.log(n / m)) >= math.log(s.resolution) for m in [*sizes, n_opt])
            if sum(map(side, sizes)) < 2 and apart:
                sizes.append(n)
    return sorted(sizes)


def _budget(
    objective: str, budgets: list[float], tried: list[float], optima: dict, fit: dict, s: Settings, snap, room: list
) -> Decision | None:
    """One new budget below the smallest of `budgets` (those with an optimum) or above the largest, whichever adds
    the most Σ(x − x̄)² per FLOP; never one of the budgets `tried` (within the fit's 10%, as it groups runs)."""
    x = np.log(budgets)
    options = [sig(min(budgets) / s.budget_step, 1), sig(max(budgets) * s.budget_step, 1)]
    best, gain_per_flop = None, 0.0
    for c in options:
        n_opt = _predicted_n_opt(c, optima, fit)
        sizes = _budget_sizes(n_opt, s, snap)
        taken = any(abs(c / b - 1) <= 0.1 for b in tried)
        affordable = _fits(s.charge(c, sizes), room)  # a budget the cap cannot pay for is no option
        sides = min(sum(n < n_opt / 1.1 for n in sizes), sum(n > n_opt * 1.1 for n in sizes))  # 2 a side, or an edge
        if sides < 2 or taken or not affordable:
            continue
        xs = np.append(x, math.log(c))
        gain = (np.sum((xs - xs.mean()) ** 2) - np.sum((x - x.mean()) ** 2)) / (c * len(sizes))
        if gain > gain_per_flop:
            best, gain_per_flop = (c, sizes, n_opt), gain
    if best is None:
        return None
    c, sizes, n_opt = best
    width = interval_width(fit)
    now = f"interval width {width:.2f}" if width is not None else "no law yet"
    why = f"{now}: budget {c:.0e} widens log C the most per FLOP; sizes around predicted N_opt {n_opt:.3g}"
    return Decision(objective, "budget", c, [(n, 0) for n in sizes], why)


def _predicted_n_opt(c: float, optima: dict[float, float], fit: dict) -> float:
    """N_opt at c from the fitted law, else from the nearest budget's best size with exponent 0.5."""
    law = fit.get("n_opt")
    if law and np.isfinite(law.get("exponent", np.nan)):
        return float(law["coef"] * c ** law["exponent"])
    near = min(optima, key=lambda b: abs(math.log(b / c)))
    return optima[near] * (c / near) ** 0.5


def _edge_side(best: int, loss, status: str | None) -> int | None:
    """The index of the edge a budget's minimum sits at (or beyond), or None for an interior minimum: the lowest
    loss at an end, or the fit's vertex beyond the sizes tried ('edge', 'no minimum': the lower end's side)."""
    if best in (0, loss.size - 1):
        return best
    if status in ("edge", "no minimum"):
        return 0 if loss[0] <= loss[-1] else loss.size - 1
    return None


def objective_decisions(
    objective: str, runs: list[Run], fit: dict, s: Settings, snap, room: list | None = None
) -> tuple[list, list[str]]:
    """Every decision for one objective from its runs and IsoFLOP fit (isoflop.fit, or profiles with an error); runs
    without a finite loss give no profile but keep their seed numbers taken."""
    finite = [r for r in runs if math.isfinite(r.loss)]
    decisions, notes, optima, budgets = [], [], {}, sorted({r.c for r in finite})
    status = {b["c"]: b.get("status") for b in fit.get("budgets", [])}
    vertices = {b["c"]: b.get("n_opt") for b in fit.get("budgets", []) if b.get("status") == "ok"}
    settled, has_law = True, bool(fit.get("n_opt"))
    for c in budgets:
        mine = [r for r in runs if r.c == c]
        sizes, loss, count = profile = _profile([r for r in mine if math.isfinite(r.loss)])
        best = int(np.argmin(loss))
        optima[c] = float(vertices.get(c) or sizes[best])
        edge_at = _edge_side(best, loss, status.get(c))
        if sizes.size < 3 or edge_at is not None:
            edge, note = _edge_or_seeds(objective, c, mine, profile, best if edge_at is None else edge_at, s, snap)
            decisions += edge
            notes += [note] if note else []
            settled = settled and not edge  # an edge no trainable size can fix is lost: a new budget replaces it
            continue
        if has_law:  # refining optima pays only once they give a law; before that, edges and budgets do
            decisions += _between(objective, c, sizes, best, s, snap)
            decisions += _seeds(objective, c, mine, sizes, loss, count, best, s)
    if settled or not has_law:  # without a law, a new budget hedges an edge that may not resolve
        with_optima = [c for c in budgets if c in vertices] or budgets
        new = _budget(objective, with_optima, budgets, optima, fit, s, snap, room or [math.inf, math.inf])
        decisions += [new] if new else []
        notes += [] if new else [f"{objective}: no new budget fits the trainable sizes and the cap"]
    return decisions, notes


def _fits(charge: list[float], room: list[float]) -> bool:
    return all(x <= r for x, r in zip(charge, room))


def within_cap(decisions: list[Decision], spent: float, s: Settings) -> tuple[list[Decision], list[Decision]]:
    """(kept, left out): edge decisions first (without them a budget gives no optimum), then the rest cheapest
    first, while their compute fits under the caps (FLOPs, and training hours at each size's rate): seeds at the
    largest budget cost as much as a new budget a decade below and narrow the exponent's interval far less."""
    kept, left, room = [], [], s.room(spent)
    charges = {id(d): s.charge(d.c, [n for n, _ in d.runs]) for d in decisions}
    hours = math.isfinite(s.cap_hours)  # then cheapest in hours: our sizes' rates differ ~20x
    order = lambda d: (not d.kind.startswith("edge"), charges[id(d)][hours], PRIORITY.index(d.kind))  # noqa: E731
    for d in sorted(decisions, key=order):
        fits = _fits(charges[id(d)], room)
        (kept if fits else left).append(d)
        room = [r - x for r, x in zip(room, charges[id(d)])] if fits else room
    return kept, left


def _hours(d: Decision, s: Settings) -> dict:
    """A decision's training hours at its sizes' measured rates, where the study caps hours."""
    return {"hours": s.charge(d.c, [n for n, _ in d.runs])[1] / 3600} if math.isfinite(s.cap_hours) else {}


def plan(observed: dict[str, tuple[list[Run], dict]], s: Settings, round_no: int, snap=lambda n: sig(n, 3)) -> dict:
    """Round `round_no`'s decisions from {objective: (runs, IsoFLOP fit)}: a dict with decisions (kept), left_out
    (by the cap), per objective its interval width and whether it is at its target, notes, spent, and `stop` (why
    the study ends here) or None. `snap`: a size asked for -> the N of the model that size trains (the runs' N)."""
    spent = sum(r.c for runs, _ in observed.values() for r in runs)
    status, decisions, notes = {}, [], []
    for objective, (runs, fit) in sorted(observed.items()):
        bad = [r for r in runs if not math.isfinite(r.loss)]  # a diverged run is no size's loss
        notes += [f"{objective}: {len(bad)} run(s) without a finite loss left out"] if bad else []
        if len(bad) == len(runs):
            notes.append(f"{objective}: no IsoFLOP runs to plan from")
            continue
        width = interval_width(fit)
        status[objective] = {"width": width, "at_target": width is not None and width <= s.target_width}
        if not status[objective]["at_target"]:
            mine, why = objective_decisions(objective, runs, fit, s, snap, s.room(spent))
            decisions += [d for d in mine if d.kind in s.decisions]
            barred = sorted({d.kind for d in mine if d.kind not in s.decisions})
            notes += why + ([f"{objective}: not made (adapt.decisions): {', '.join(barred)}"] if barred else [])
    kept, left = within_cap(decisions, spent, s)
    stop = None
    if status and all(v["at_target"] for v in status.values()):
        stop, kept, left = f"target reached: every N_opt interval at most {s.target_width:g} wide", [], []
    elif round_no > s.max_rounds:
        stop, kept, left = f"round limit: {s.max_rounds} adaptive rounds", [], []
    elif not decisions:
        stop = "nothing to add: " + ("; ".join(notes) or "no decision applies")
    elif not kept:
        stop = f"compute cap: {s.cap_words(spent)}, the cheapest decision needs more"
    return {
        "round": round_no,
        "spent": spent,
        "cap": s.cap if math.isfinite(s.cap) else None,
        **({"cap_hours": s.cap_hours, "spent_hours": s.spent_seconds / 3600} if math.isfinite(s.cap_hours) else {}),
        "objectives": status,
        "decisions": [{**d.as_dict(), **_hours(d, s)} for d in kept],
        "left_out": [{**d.as_dict(), **_hours(d, s)} for d in left],
        "notes": notes,
        "stop": stop,
    }
