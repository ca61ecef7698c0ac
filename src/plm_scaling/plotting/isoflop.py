"""Fig. 2: IsoFLOP profiles per budget with the fitted parabolas, and N_opt(C), D_opt(C) with their fits. Drawn
for the paper stage (the released logs) and for every study (our runs), from the fits only."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.cm
import matplotlib.colors
import matplotlib.ticker
import numpy as np
from matplotlib.lines import Line2D

from ..analysis.flop_count import FLOP_UNIT, law_labels
from ..analysis.isoflop import local_parabola
from ..analysis.powerlaw import failed_resamples
from ..analysis.released import PAPER_EXPONENTS
from .style import OBJ_NAME, STYLE, plt, save, seed_means

# What a budget's status in fits.json (analysis/isoflop.py parabola_minimum) means, for the × of its best size
REJECTED = {
    "edge": "minimum at an edge of the sizes tried",
    "no minimum": "parabola opens downward",
    "too few sizes": "too few sizes",
}
NOTE_WIDTH = 40  # characters per line of the notes beside the profiles (8 pt: readable, not fine print)
ROUND_MARKERS = "sD^vP"  # an open marker around each point an adaptive round added: round 1, 2, ... (then repeated)


def rejected_label(budget: dict) -> str:
    """The legend entry of a budget the fit left out: its compute and the reason the fit recorded."""
    reason = REJECTED.get(budget["status"], budget["status"])
    return f"{budget['c']:.0e} left out:\n{reason} ({budget['sizes']} sizes)"


def _dropped_note(dropped: list[dict] | None) -> str:
    """The budgets the fit left out before profiling, with the number of sizes that reached each."""
    if not dropped:
        return ""
    d0, note = dropped[0], ", ".join(f"{d['c']:.0e} ({d['sizes']})" for d in dropped)
    return (
        f"Budgets not profiled, fewer than {d0['min_sizes']} sizes ended within {d0['rel_tol']:.0%} of them "
        f"(sizes): {note}"
    )


def _draw_parabola(ax, points: list[dict], color) -> None:
    """The parabola the analysis fitted (isoflop.local_parabola) over the sizes it used: the ★ is its vertex."""
    log_n = np.log([p["n"] for p in points])
    (a, b, c), (lo, hi) = local_parabola(log_n, np.array([p["loss"] for p in points]))
    x = np.linspace(lo, hi, 60)
    ax.plot(np.exp(x), a * x * x + b * x + c, "-", lw=0.9, color=color)


def _noise_note(noise: dict | None) -> str:
    """The pooled seed spread and how many adjacent-size differences it swallows."""
    if not noise or noise.get("pooled_sd") is None:
        return ""
    return (
        f"Error bars: ±1 sd over seeds; pooled seed sd {noise['pooled_sd']:.4f} nats ({noise['dof']} dof); "
        f"{noise['below_noise']} of {noise['compared']} adjacent-size differences below {noise['z']:.0f} standard "
        "errors."
    )


def _key(ax, legend: list, notes: list[str]) -> None:
    """The panel beside the profiles: the markers' legend at the top, the notes (dark, 8 pt) at the bottom."""
    ax.axis("off")
    ax.legend(handles=legend, frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 1.0))
    text = "\n\n".join(textwrap.fill(n, NOTE_WIDTH) for n in notes if n)
    ax.text(0.0, 0.0, text, fontsize=8, va="bottom", color="0.1", transform=ax.transAxes)


def budget_colours(budgets: list[float]) -> tuple[dict, matplotlib.colors.Colormap]:
    """One colour per budget from viridis in budget order (evenly spaced, so neighbours differ), and the discrete
    colour map of the colour bar that names them."""
    steps = np.linspace(0.0, 0.9, len(budgets)) if len(budgets) > 1 else [0.0]
    colours = [plt.get_cmap("viridis")(s) for s in steps]
    return dict(zip(budgets, colours)), matplotlib.colors.ListedColormap(colours)


def _colour_bar(ax, budgets: list[float], cmap, unit: str) -> None:
    """The budgets' colours as a discrete colour bar beside the profiles, one slot per budget."""
    mappable = matplotlib.cm.ScalarMappable(matplotlib.colors.BoundaryNorm(np.arange(len(budgets) + 1), cmap.N), cmap)
    bar = ax.figure.colorbar(mappable, ax=ax, pad=0.02, fraction=0.05)
    bar.set_ticks(np.arange(len(budgets)) + 0.5, labels=[f"{c:.0e}" for c in budgets], fontsize=7)
    bar.set_label(f"compute budget C ({unit})")
    bar.ax.minorticks_off()


def _points(ax, res: dict, colors: dict) -> bool:
    """Each size's loss at each budget (the mean over its seeds, with ±1 sd bars where seeds differ); whether any
    bars were drawn."""
    spread = False
    for c, colour in colors.items():
        n, loss, sd = seed_means([(p["n"], p["loss"]) for p in res["points"] if p["c"] == c])
        ax.plot(n, loss, "o", ms=3, color=colour)
        if np.any(sd > 0):
            spread = True
            ax.errorbar(n, loss, yerr=sd, fmt="none", capsize=2, color=colour)
    return spread


def _round_marks(ax, res: dict, colors: dict, rounds: dict[str, int]) -> list:
    """An open marker around each point an adaptive round added (`rounds`: run folder name -> round), in its
    budget's colour; the legend entries, one per round."""
    added = {}
    for p in res["points"]:
        k = rounds.get(Path(p.get("source", "")).parent.name)
        if k is not None:  # at the size's mean over seeds, where its dot is (a round may add a seed)
            marker = ROUND_MARKERS[(k - 1) % len(ROUND_MARKERS)]
            mean = np.mean([q["loss"] for q in res["points"] if q["c"] == p["c"] and q["n"] == p["n"]])
            ax.plot(p["n"], mean, marker, ms=7, mfc="none", mew=0.8, color=colors[p["c"]])
            added[k] = marker
    grey = {"color": "0.3", "ls": "none", "mfc": "none", "ms": 6}
    return [Line2D([], [], marker=m, label=f"added by adaptive round {k}", **grey) for k, m in sorted(added.items())]


def _profiles(ax, key, res: dict, objective: str, noise: dict | None, rounds: dict[str, int]) -> None:
    """Loss against N per budget, the parabola fitted at each budget with its vertex ★, and × in the budget's
    colour on the best size of a budget the fit rejected; the points each adaptive round added ringed; `key` (an
    empty panel beside) holds the legend of the markers, each × with the reason the fit recorded."""
    budgets = sorted({p["c"] for p in res["points"]})
    colors, cmap = budget_colours(budgets)
    spread = _points(ax, res, colors)
    grey = {"color": "0.3", "ls": "none"}
    legend = [
        Line2D(
            [], [], marker="o", ms=3, label="each size's loss" + (" (mean ±1 sd over seeds)" if spread else ""), **grey
        ),
        Line2D([], [], marker="*", ms=9, mec="k", mew=0.5, label="parabola vertex (N_opt)", **grey),
        *_round_marks(ax, res, colors, rounds),
    ]
    for b in res["budgets"]:
        at_budget = [p for p in res["points"] if p["c"] == b["c"]]
        if b["status"] == "ok":
            _draw_parabola(ax, at_budget, colors[b["c"]])
            ax.plot(b["n_opt"], b["loss"], "*", ms=11, color=colors[b["c"]], mec="k", mew=0.5)
            continue
        best, cross = min(at_budget, key=lambda p: p["loss"]), {"marker": "x", "mew": 2, "color": colors[b["c"]]}
        ax.plot(best["n"], best["loss"], ms=9, ls="none", label=rejected_label(b), **cross)
        legend.append(Line2D([], [], ms=7, ls="none", label=rejected_label(b), **cross))
    ax.set(xscale="log", xlabel="non-embedding parameters N", ylabel="validation loss")
    ax.set_title(f"{OBJ_NAME[objective]} IsoFLOP profiles")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if budgets:  # an objective whose every budget was dropped has no points, and no colours to name
        _colour_bar(ax, budgets, cmap, FLOP_UNIT[res.get("compute") or "paper"])
    _key(key, legend, [_noise_note(noise), _dropped_note(res.get("dropped"))])


def _law_text(label: str, law: dict, res: dict) -> str:
    """`N_opt ∝ C^0.454 [0.12, 0.72]`, and how many bootstrap resamples the interval rests on."""
    lo, hi = law["ci95"] or (np.nan, np.nan)
    boot = res.get("bootstrap")
    rests = f", {boot - failed_resamples(law, boot)}/{boot} resamples" if boot else ""
    return f"{label.replace('^a', '').replace('^b', '')}^{law['exponent']:.3f} [{lo:.2f}, {hi:.2f}]{rests}"


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
    labels = law_labels(res)
    ax.plot(grid, law["coef"] * grid ** law["exponent"], color="#4C72B0", label=_law_text(labels[key], law, res))
    if key == "n_opt" and "n_opt_other" in res:  # the same optima, their budgets in the other count
        other = _law_text(labels["n_opt_other"], res["n_opt_other"], res)
        counted = "as 6·N·D" if res["other_compute"] == "paper" else "in full"
        ax.plot([], [], ls="none", label=f"{other}\n(the same optima, their budgets counted {counted})")
    ax.plot(c_ok, [b[key] for b in ok], "o", color="k", ms=4, label="IsoFLOP optima")
    if paper:
        ref = PAPER_EXPONENTS[objective][key]
        anchor = law["coef"] * c_ok[0] ** law["exponent"]
        ax.plot(grid, anchor * (grid / c_ok[0]) ** ref, "--", color="#C44E52", lw=1, label=f"paper exponent {ref}")
    unit = FLOP_UNIT[res.get("compute") or "paper"]
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=f"compute C ({unit})",
        ylabel=label,
        title=f"{OBJ_NAME[objective]} {label}(C)",
    )
    ax.legend(frameon=False)


def isoflop(
    fits_interp: dict,
    out: str | Path,
    provenance: str | None = None,
    paper: bool = True,
    noise: dict | None = None,
    rounds: dict[str, int] | None = None,
) -> None:
    """Fig. 2: IsoFLOP profiles per budget (left), N_opt(C) and D_opt(C) with fit and bootstrap band. An objective
    whose fit failed (e.g. every minimum at an edge) shows its profiles and, across the other two panels, the
    reason instead of a law. Sizes trained with several seeds show their mean and ±1 sd; `noise` (per objective,
    fits.json) adds the seed note; `rounds` (run folder name -> adaptive round) rings the points rounds added."""
    objectives = [o for o in ("clm", "mlm") if o in fits_interp]
    said = [r.get("dropped") or any(b["status"] != "ok" for b in r["budgets"]) for r in fits_interp.values()]
    said += [(n or {}).get("pooled_sd") is not None for n in (noise or {}).values()]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            len(objectives),
            4,
            figsize=(17, 3.8 * len(objectives)),
            squeeze=False,
            width_ratios=(1.4, 1.0 if any(said) else 0.4, 1, 1),  # the key: wider with notes
        )
        for row, objective in zip(axes, objectives):
            res = fits_interp[objective]
            _profiles(row[0], row[1], res, objective, (noise or {}).get(objective), rounds or {})
            if "n_opt" in res:
                _frontier(row[2], res, objective, "n_opt", paper)
                _frontier(row[3], res, objective, "d_opt", paper)
                continue
            for ax in row[2:]:
                ax.axis("off")
            reason = textwrap.fill(res.get("error", ""), 55)
            row[2].text(
                0.0, 0.5, f"No power law fitted:\n{reason}", fontsize=8, va="center", transform=row[2].transAxes
            )
        fig.tight_layout()
        save(fig, out, provenance)
