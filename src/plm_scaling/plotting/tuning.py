"""The tuning study's figure: per objective, the loss against the peak learning rate for every size and β2, and the
best LR per size against N with the fitted LR*(N) beside the untuned recipe's formula."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import NullFormatter

from ..training.recipe import peak_lr
from .style import OBJ_NAME, STYLE, budget_colors, plt, save, seed_means

BEST_STYLE, OTHER_STYLES = "o-", ("s--", "^:", "d-.", "v--")


def _styles(betas: list[str], best: float | None) -> dict[str, str]:
    """A line style per β2: solid for the best, dashed and dotted for the others."""
    others = iter(OTHER_STYLES)
    return {b: BEST_STYLE if best is not None and float(b) == best else next(others, "x:") for b in betas}


def _loss_panel(ax, fit: dict, colors: list) -> None:
    """Loss against peak LR: one colour per size, one line style per β2 (solid: the best β2); ★ the vertex."""
    betas = sorted({b for size in fit["sizes"] for b in size["beta2"]}, key=float)
    styles = _styles(betas, fit["best_beta2"])
    for size, color in zip(fit["sizes"], colors):
        for b, style in styles.items():
            cell = size["beta2"].get(b)
            if cell is None:
                continue
            lr, loss, sd = seed_means(list(zip(cell["ratios"], cell["losses"])))
            best = fit["best_beta2"] is not None and float(b) == fit["best_beta2"]
            ax.errorbar(lr, loss, yerr=sd, fmt=style, ms=3, capsize=2, color=color, alpha=1.0 if best else 0.45)
            if best and cell["status"] == "ok":
                ax.plot(cell["best"], loss.min(), "*", ms=10, color=color, mec="k", mew=0.5)
    _diverged_marks(ax, fit, colors)
    for size, color in zip(fit["sizes"], colors):
        ax.plot([], [], "-", color=color, label=f"N = {size['n']:,.0f}")
    for b, style in styles.items():
        best = " (best)" if fit["best_beta2"] is not None and float(b) == fit["best_beta2"] else ""
        ax.plot([], [], style, color="0.3", label=f"β2 = {b}{best}")
    ax.set(xscale="log", xlabel="peak learning rate", ylabel="validation loss (nats)")
    ax.xaxis.set_minor_formatter(NullFormatter())
    # below the panel: inside, it would cover the ✕ of diverged cells at the top or the curves' high ends
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)


def _diverged_marks(ax, fit: dict, colors: list) -> None:
    """Cells whose run diverged (recorded, not fitted): an ✕ at the top edge of the panel, at their peak LR."""
    cells = fit.get("diverged", [])
    if not cells:
        return
    color_of = {size["n"]: color for size, color in zip(fit["sizes"], colors)}
    top = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for c in cells:
        ax.plot(c["lr"], 0.96, "X", ms=7, color=color_of.get(c["n"], "0.3"), mec="k", mew=0.4, transform=top)
    ax.plot([], [], "X", ms=7, color="0.6", mec="k", mew=0.4, label=f"diverged ({len(cells)}): not fitted")


def _law_panel(ax, fit: dict, colors: list) -> None:
    """The best LR per size at the best β2 (with its parabola interval) and LR*(N) with its exponent interval."""
    sizes = np.array([s["n"] for s in fit["sizes"]], float)
    grid = np.geomspace(sizes.min() / 1.5, sizes.max() * 1.5, 50)
    ax.plot(grid, [peak_lr(n) for n in grid], "--", color="0.5", label="untuned recipe (training/recipe.py)")
    key = str(fit["best_beta2"]) if fit["best_beta2"] is not None else None
    for size, color in zip(fit["sizes"], colors):
        cell = size["beta2"].get(key) if key else None
        if cell and cell["status"] == "ok":
            lo, hi = cell["ci95"] or (cell["best"], cell["best"])
            ax.errorbar(size["n"], cell["best"], yerr=[[cell["best"] - lo], [hi - cell["best"]]], fmt="o", color=color)
        elif cell:
            ax.plot(size["n"], cell["observed_best"], "x", color=color, label=f"N = {size['n']:,.0f}: {cell['status']}")
    law = fit["lr_law"]
    if law is not None:
        ax.plot(grid, law["coef"] * grid ** law["exponent"], color="#4C72B0", label=_law_label(law))
        if law.get("ci95"):
            rests = [n for n in sizes if n not in law.get("edges", [])]  # the sizes the law was fitted on
            pivot = np.exp(np.log(rests).mean())
            at = law["coef"] * pivot ** law["exponent"]
            lo, hi = (at * (grid / pivot) ** e for e in law["ci95"])
            ax.fill_between(grid, np.minimum(lo, hi), np.maximum(lo, hi), color="#4C72B0", alpha=0.15, lw=0)
    else:
        ax.text(0.5, 0.5, f"no LR*(N) law: {fit.get('why', '')}", transform=ax.transAxes, ha="center", wrap=True)
    ax.set(xscale="log", yscale="log", xlabel="non-embedding parameters N", ylabel=f"best peak LR at β2 = {key}")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=6)


def _law_label(law: dict) -> str:
    ci = law.get("ci95")
    interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " (no interval)"
    failed = f", {law['bootstrap'] - law['failed']}/{law['bootstrap']} draws" if law.get("bootstrap") else ""
    return f"LR* ∝ N^{law['exponent']:.2f}{interval}{failed}"


def tuning_study(per_objective: dict, out: str | Path, provenance: str | None = None) -> None:
    """One row per objective with a tuning fit: loss against LR, and LR*(N)."""
    fits = {o: f["tuning"] for o, f in per_objective.items() if "tuning" in f}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(fits), 2, figsize=(9, 3.4 * len(fits)), squeeze=False)
        for row, (objective, fit) in zip(axes, fits.items()):
            colors = budget_colors(len(fit["sizes"]))
            _loss_panel(row[0], fit, colors)
            _law_panel(row[1], fit, colors)
            row[0].set_title(f"{OBJ_NAME[objective]}: loss against the peak LR")
            row[1].set_title(f"{OBJ_NAME[objective]}: best LR against N")
        fig.tight_layout()
        save(fig, out, provenance)
