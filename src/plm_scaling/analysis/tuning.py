"""A tuning study (grid keys lr_scales and beta2s): per objective and size, the peak learning rate and Adam β2 that
train best at one budget near that size's optimum; LR*(N) as a power law with a 95% interval; the best β2; and the
loss each size gains from tuning against the seed noise.

- Per (size, β2): the losses against log LR (each run's own peak LR, run.json `lr`), a parabola through them; its
  vertex is that cell's LR* (analysis/mask_ratio.py best_ratio: a vertex outside the LRs tried is an edge, not an
  optimum). The LRs within the noise of the best observed one are listed (`near_best`).
- The best β2: the one whose sizes' lowest losses sum lowest, over the sizes every β2 was tried at.
- LR*(N): log-log regression of the vertices at the best β2; its interval from a parametric bootstrap (the losses
  redrawn with the pooled seed sd, every vertex and the law refitted). A draw in which any size's vertex leaves the
  LRs tried fits no law and is counted, never dropped silently.
- Gain: the recipe's cell (LR multiple 1, β2 0.95) minus the best cell, per size; beyond the noise when it exceeds
  Z standard errors plus the thread spread (analysis/noise.py).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..sweep_point import SweepPoint
from .mask_ratio import best_ratio, vertex
from .noise import THREAD_SPREAD, Z, final_loss
from .powerlaw import ci95, fit_loglog

BOOTSTRAP = 1000
RECIPE_CELL = (1.0, 0.95)  # (LR multiple, β2) of the untuned recipe: training/recipe.py and optim.beta2


def _cells(runs: list[dict]) -> dict:
    """{n: {beta2: (peak LRs, losses, LR multiples)}} of the runs that carry a tuning cell."""
    cells: dict = defaultdict(lambda: defaultdict(list))
    for r in runs:
        point = r.get("point") or {}
        scale = point.get("lr_scale") or 1.0
        cells[float(r["n"])][float(r["beta2"])].append((float(r["lr"]), final_loss(r), scale))
    return {n: {b: tuple(np.array(v, float).T) for b, v in by.items()} for n, by in cells.items()}


def is_tuning(runs: list[dict]) -> bool:
    """Whether the runs carry tuning cells (a grid with lr_scales or beta2s)."""
    return any((r.get("point") or {}).get(k) is not None for r in runs for k in ("lr_scale", "beta2"))


def recipe_cell(point) -> bool:
    """Whether a sweep point trains at the untuned recipe's cell (LR multiple 1, β2 0.95, or no tuning axis)."""
    scale, beta2 = point.lr_scale, point.beta2
    return (scale is None or scale == RECIPE_CELL[0]) and (beta2 is None or beta2 == RECIPE_CELL[1])


def at_recipe_cell(run: dict) -> bool:
    """Whether a run trained at the untuned recipe's cell (recipe_cell of its sweep point)."""
    return recipe_cell(SweepPoint.of(run))


def _best_beta2(cells: dict) -> float | None:
    """The β2 whose sizes' lowest losses sum lowest, over the sizes where every β2 was tried."""
    betas = sorted({b for by in cells.values() for b in by})
    common = [n for n, by in cells.items() if set(by) == set(betas)]
    if not common:
        return None
    totals = {b: sum(cells[n][b][1].min() for n in common) for b in betas}
    return min(totals, key=totals.get)


def _lr_law(vertices: dict, sizes: list[float]) -> dict | None:
    """LR* = coef·N^exponent through the sizes' vertices (log LR), or None with fewer than 2."""
    ok = [n for n in sizes if vertices.get(n) is not None]
    if len(ok) < 2:
        return None
    return fit_loglog(np.array(ok), np.exp([vertices[n] for n in ok]))


def _law_interval(cells: dict, beta2: float, sd: float, seed: int) -> tuple[list | None, int]:
    """(95% interval of LR*(N)'s exponent, draws that fitted no law): losses redrawn with the seed sd."""
    rng = np.random.default_rng(seed)
    sizes = sorted(cells)
    exponents, failed = [], 0
    for _ in range(BOOTSTRAP):
        vertices = {}
        for n in sizes:
            lr, loss, _ = cells[n][beta2]
            vertices[n] = _log_vertex(lr, loss + rng.normal(0, sd, loss.size))
        if any(v is None for v in vertices.values()):
            failed += 1
            continue
        exponents.append(_lr_law(vertices, sizes)["exponent"])
    return (ci95(exponents) if exponents else None), failed


def _means(cell: tuple) -> list[tuple[float, float, int]]:
    """(LR, mean loss over its seeds, seeds) of each LR of one (size, β2) cell."""
    lr, loss, _ = cell
    return [(float(x), float(loss[lr == x].mean()), int((lr == x).sum())) for x in np.unique(lr)]


def _gain(by_beta: dict, pooled_sd: float | None, spread: float) -> dict | None:
    """The best cell of one size (lowest mean loss) and the loss tuning gains there over the recipe's cell, against
    the seed noise; None for the gain when the recipe's cell was not trained."""
    means = [(b, lr, m, k) for b, cell in by_beta.items() for lr, m, k in _means(cell)]
    b, lr, best, count = min(means, key=lambda t: t[2])
    out = {"best_cell": {"beta2": b, "lr": lr, "loss": best}, "gain": None}
    cell = by_beta.get(RECIPE_CELL[1])
    if cell is None or not np.isclose(cell[2], RECIPE_CELL[0]).any():
        return out
    at_recipe = cell[1][np.isclose(cell[2], RECIPE_CELL[0])]
    diff = float(at_recipe.mean() - best)
    se = pooled_sd * np.sqrt(1 / at_recipe.size + 1 / count) if pooled_sd is not None else None
    beyond = bool(diff > Z * se + spread) if se is not None else None
    gain = {"loss_recipe": float(at_recipe.mean()), "gain": diff, "se": se, "thread_spread": spread, "beyond": beyond}
    return {**out, "gain": gain}


def _size(n: float, by_beta: dict, sd: float, pooled_sd: float | None, spread: float, seed: int) -> dict:
    """One size's cells: per β2 the best LR (best_ratio on peak LRs), the best cell and the gain from tuning."""
    per_beta = {
        str(b): {"lr_scales": np.unique(scale).tolist(), **best_ratio(lr, loss, sd, seed, spread)}
        for b, (lr, loss, scale) in sorted(by_beta.items())
    }
    return {"n": n, "beta2": per_beta, **_gain(by_beta, pooled_sd, spread)}


def _diverged_cells(diverged: list[dict]) -> list[dict]:
    """The cells whose run diverged (recorded, trainer.on_divergence=record): where the LR axis ends."""
    cells = [{"n": float(r["n"]), "beta2": float(r["beta2"]), "lr": float(r["lr"]),
              "lr_scale": (r.get("point") or {}).get("lr_scale") or 1.0} for r in diverged]  # fmt: skip
    return sorted(cells, key=lambda c: (c["n"], c["beta2"], c["lr"]))


def tuning_fit(runs: list[dict], objective: str, pooled_sd: float | None, seed: int = 0, diverged=()) -> dict:
    """The tuning study's fits of one objective's runs (fits.json `tuning`); `diverged`: runs recorded as diverged,
    listed and left out (a cell's parabola runs through the LRs that trained)."""
    cells = _cells(runs)
    spread = THREAD_SPREAD[objective]
    sd = pooled_sd if pooled_sd is not None else 0.0
    sizes = [_size(n, cells[n], sd, pooled_sd, spread, seed) for n in sorted(cells)]
    beta2 = _best_beta2(cells)
    out = {"sizes": sizes, "best_beta2": beta2, "noise_sd": pooled_sd, "recipe_cell": list(RECIPE_CELL)}
    out |= {"diverged": _diverged_cells(list(diverged))} if diverged else {}
    if beta2 is None:
        return {**out, "lr_law": None, "why": "no size was tried at every beta2"}
    vertices = {n: _log_vertex(*cells[n][beta2][:2]) for n in cells if beta2 in cells[n]}
    law = _lr_law(vertices, sorted(vertices))
    if law is None:
        edges = [n for n, v in vertices.items() if v is None]
        return {**out, "lr_law": None, "why": f"fewer than 2 sizes with an interior LR optimum (edges at N = {edges})"}
    used = sorted(n for n, v in vertices.items() if v is not None)  # the sizes the law rests on
    interval, failed = _law_interval({n: cells[n] for n in used}, beta2, sd, seed) if sd > 0 else (None, None)
    law |= {"ci95": interval, "bootstrap": BOOTSTRAP if sd > 0 else 0, "failed": failed, "sizes": len(used)}
    law["edges"] = sorted(set(vertices) - set(used))  # sizes whose best LR lies beyond those tried: left out
    return {**out, "lr_law": law}


def _log_vertex(lr: np.ndarray, loss: np.ndarray) -> float | None:
    """log LR* of one (size, β2) cell's losses: the parabola's vertex when inside the LRs tried, else None."""
    if np.unique(lr).size < 3:
        return None
    v = vertex(np.log(lr), loss)
    return v if v is not None and np.log(lr).min() < v < np.log(lr).max() else None
