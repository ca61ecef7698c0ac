"""Fig. 2: IsoFLOP profiles per budget with the fitted parabolas, and N_opt(C), D_opt(C) with their fits. Drawn
for the paper stage (the released logs) and for every study (our runs), from the fits only."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.ticker
import numpy as np

from ..analysis.isoflop import local_parabola
from ..analysis.released import PAPER_EXPONENTS
from .style import OBJ_NAME, STYLE, budget_colors, plt, save, seed_means


def _dropped_note(ax, dropped: list[dict] | None) -> None:
    """Under the profiles: the budgets the fit left out, with the number of sizes that reached each."""
    if dropped:
        d0, note = dropped[0], ", ".join(f"{d['c']:.0e} ({d['sizes']})" for d in dropped)
        ax.text(
            0.0,
            -0.32,
            textwrap.fill(
                f"Budgets left out, fewer than {d0['min_sizes']} sizes ended within "
                f"{d0['rel_tol']:.0%} of them (sizes): {note}",
                80,
            ),
            fontsize=6.5,
            va="top",
            color="0.3",
            transform=ax.transAxes,
        )


def _draw_parabola(ax, points: list[dict], color) -> None:
    """The parabola the analysis fitted (isoflop.local_parabola) over the sizes it used: the ★ is its vertex."""
    log_n = np.log([p["n"] for p in points])
    (a, b, c), (lo, hi) = local_parabola(log_n, np.array([p["loss"] for p in points]))
    x = np.linspace(lo, hi, 60)
    ax.plot(np.exp(x), a * x * x + b * x + c, "-", lw=0.9, color=color)


def _noise_note(ax, noise: dict | None) -> None:
    """Under the profiles: the pooled seed spread and how many adjacent-size differences it swallows."""
    if not noise or noise.get("pooled_sd") is None:
        return
    ax.text(
        0.0,
        -0.22,
        f"error bars: ±1 sd over seeds; pooled seed sd {noise['pooled_sd']:.4f} nats "
        f"({noise['dof']} dof); {noise['below_noise']} of {noise['compared']} adjacent-size "
        f"differences below {noise['z']:.0f} standard errors",
        fontsize=6.5,
        va="top",
        color="0.3",
        transform=ax.transAxes,
    )


def _profiles(ax, res: dict, objective: str, noise: dict | None) -> None:
    """Loss against N per budget (seed means ±1 sd), the parabola fitted at each budget with its vertex ★, and ×
    on the best size of a budget whose minimum is not interior."""
    budgets = sorted({p["c"] for p in res["points"]})
    colors = dict(zip(budgets, budget_colors(len(budgets))))
    for c in budgets:
        n, loss, sd = seed_means([(p["n"], p["loss"]) for p in res["points"] if p["c"] == c])
        ax.errorbar(n, loss, yerr=sd, fmt="o", ms=3, capsize=2, color=colors[c], label=f"{c:.0e}")
    for b in res["budgets"]:
        at_budget = [p for p in res["points"] if p["c"] == b["c"]]
        if b["status"] == "ok":
            _draw_parabola(ax, at_budget, colors[b["c"]])
            ax.plot(b["n_opt"], b["loss"], "*", ms=11, color=colors[b["c"]], mec="k", mew=0.5)
        else:
            best = min(at_budget, key=lambda p: p["loss"])
            ax.plot(best["n"], best["loss"], "x", ms=8, color="red")
    marks = "★ parabola vertex" + (", × edge minimum" if any(b["status"] != "ok" for b in res["budgets"]) else "")
    ax.set(xscale="log", xlabel="non-embedding parameters N", ylabel="validation loss")
    ax.set_title(f"{OBJ_NAME[objective]} IsoFLOP profiles ({marks})")
    _dropped_note(ax, res.get("dropped"))
    _noise_note(ax, noise)
    ax.legend(title="FLOPs", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _frontier(ax, res: dict, objective: str, key: str, paper: bool) -> None:
    """N_opt(C) or D_opt(C): the per-budget optima, the power law with its 95% bootstrap band, the paper's slope."""
    label = {"n_opt": "N_opt", "d_opt": "D_opt"}[key]
    ok = [b for b in res["budgets"] if b["status"] == "ok"]
    c_ok = np.array([b["c"] for b in ok])
    grid = np.logspace(np.log10(c_ok.min()) - 0.3, np.log10(c_ok.max()) + 0.5, 100)
    law = res[key]
    samples = np.array(law.get("samples") or [[law["coef"], law["exponent"]]])
    lo, hi = np.percentile(samples[:, :1] * grid[None, :] ** samples[:, 1:], [2.5, 97.5], axis=0)
    ax.fill_between(grid, lo, hi, color="#4C72B0", alpha=0.2, lw=0, label="95% bootstrap band")
    ci = law["ci95"]
    fit_label = f"{label} ∝ C^{law['exponent']:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"
    ax.plot(grid, law["coef"] * grid ** law["exponent"], color="#4C72B0", label=fit_label)
    ax.plot(c_ok, [b[key] for b in ok], "o", color="k", ms=4, label="IsoFLOP optima")
    if paper:
        ref = PAPER_EXPONENTS[objective][key]
        anchor = law["coef"] * c_ok[0] ** law["exponent"]
        ax.plot(grid, anchor * (grid / c_ok[0]) ** ref, "--", color="#C44E52", lw=1, label=f"paper exponent {ref}")
    ax.set(
        xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel=label, title=f"{OBJ_NAME[objective]} {label}(C)"
    )
    ax.legend(frameon=False)


def isoflop(
    fits_interp: dict, out: str | Path, provenance: str | None = None, paper: bool = True, noise: dict | None = None
) -> None:
    """Fig. 2: IsoFLOP profiles per budget (left), N_opt(C) and D_opt(C) with fit and bootstrap band. An objective
    whose fit failed (e.g. every minimum at an edge) shows its profiles and, across the other two panels, the
    reason instead of a law. Sizes trained with several seeds show their mean and ±1 sd; `noise` (per objective,
    fits.json) adds the seed note."""
    objectives = [o for o in ("clm", "mlm") if o in fits_interp]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(objectives), 3, figsize=(13, 3.6 * len(objectives)), squeeze=False, width_ratios=(1.3, 1, 1)
        )
        for row, objective in zip(axes, objectives):
            res = fits_interp[objective]
            _profiles(row[0], res, objective, (noise or {}).get(objective))
            if "n_opt" in res:
                _frontier(row[1], res, objective, "n_opt", paper)
                _frontier(row[2], res, objective, "d_opt", paper)
                continue
            for ax in row[1:]:
                ax.axis("off")
            reason = textwrap.fill(res.get("error", ""), 55)
            row[1].text(
                0.0, 0.5, f"No power law fitted:\n{reason}", fontsize=8, va="center", transform=row[1].transAxes
            )
        fig.tight_layout()
        save(fig, out, provenance)
