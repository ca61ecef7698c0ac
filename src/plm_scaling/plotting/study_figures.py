"""Figures of a study beyond its IsoFLOP profiles: every run's curve, and the mask-ratio study."""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker
import numpy as np
from matplotlib.lines import Line2D

from ..analysis.flop_count import FLOP_UNIT, counted
from ..sweep_point import SweepPoint
from .style import STYLE, plt, save, seed_means


def mask_ratio_study(fit: dict, out: str | Path, provenance: str | None = None) -> None:
    """MLM loss against the training mask ratio, per size and budget: at the common ratio (solid, comparable; the
    parabola's best ratio with its 95% interval shaded, circles on the ratios within the noise of the best) and at
    each run's own ratio (dashed, a different task per ratio)."""
    fits = fit["fits"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(fits), figsize=(3.6 * len(fits), 3.2), squeeze=False, sharey=True)
        for ax, f in zip(axes[0], fits):
            r, common, sd = seed_means(list(zip(f["ratios"], f["losses"])))
            ax.errorbar(
                r,
                common,
                yerr=sd,
                fmt="o-",
                ms=3,
                capsize=2,
                color="#4C72B0",
                label=f"at common ratio {fit['common_mask_ratio']:.2f} (mean ±1 sd over seeds)",
            )
            ax.plot(
                r,
                seed_means(list(zip(f["ratios"], f["own_ratio_losses"])))[1],
                "s--",
                ms=3,
                color="0.5",
                label="at its own ratio",
            )
            near = f.get("near_best") or []
            ax.plot(
                near,
                [common[list(r).index(x)] for x in near],
                "o",
                ms=8,
                mfc="none",
                color="#C44E52",
                label="within 2 SE of the best",
            )
            ratios = np.array(f["ratios"])
            if f["status"] == "ok":
                ci = f["ci95"]
                if ci:
                    ax.axvspan(*ci, color="#4C72B0", alpha=0.15, lw=0)
                interval = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "(no interval: no noise estimate)"
                ax.axvline(f["best"], color="#4C72B0", lw=1, label=f"best {f['best']:.3f} {interval}")
            title = f"N = {f['n']:,.0f}, C = {f['c']:.0e}" + ("" if f["status"] == "ok" else f" ({f['status']})")
            ax.set(xscale="log", xlabel="training mask ratio", title=title)
            ax.set_xticks(np.unique(ratios), [f"{r:g}" for r in np.unique(ratios)])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.legend(frameon=False, loc="upper center")
        axes[0][0].set_ylabel("MLM validation loss")
        fig.tight_layout()
        save(fig, out, provenance)


def _by_budget(table) -> dict[float, list]:
    """The study's runs (one sub-table each, seeds apart) grouped by the budget they were trained for."""
    from ..analysis.noise import budget_key

    groups: dict[float, list] = {}
    for run in table.by_source().values():
        groups.setdefault(budget_key(float(run.flops[-1])), []).append(run)
    return dict(sorted(groups.items()))


def _mask_suffix(point: str) -> str:
    """', mask 0.3' for a sweep point of a mask-ratio grid, else ''."""
    mask = SweepPoint.parse(point).mask_ratio
    return f", mask {mask:g}" if mask is not None else ""


EARLY = 0.05  # a panel's y-range leaves out each run's first 5% of compute, where the loss is far above the rest
WHOLE_SPLIT = "whole validation split (end of run)"


def size_colours(sizes) -> dict[float, tuple]:
    """One colour per model size, the same in every panel: plasma spread evenly over the sizes in order."""
    sizes = sorted({float(n) for n in sizes})
    steps = np.linspace(0.0, 0.85, len(sizes)) if len(sizes) > 1 else [0.0]
    return {n: plt.get_cmap("plasma")(s) for n, s in zip(sizes, steps)}


def loss_range(runs) -> tuple[float, float] | None:
    """A panel's y-range: the losses its runs reached past their first EARLY share of compute (the top 1% left
    out, so one spike does not set the scale), end points included, with a margin."""
    values = np.concatenate([r["loss"][r.flops >= EARLY * r.flops[-1]] for r in runs])
    values = values[np.isfinite(values)]
    if not values.size:  # no finite loss (diverged runs): matplotlib's own limits
        return None
    low, high = np.quantile(values, [0.0, 0.99])
    pad = max(0.08 * (high - low), 1e-3)
    return float(low - pad), float(high + pad)


def _run_line(ax, run, colour) -> None:
    """A run's validation windows as a line and, apart from it, its end point on the whole validation split (the
    table's last row, from the evaluate step): a hollow dot, not joined to the windows."""
    mask = _mask_suffix(run["run"][0])  # a mask-ratio study's other ratios: dashed
    ax.plot(
        run.flops[:-1],
        run["loss"][:-1],
        "--" if mask else "-",
        lw=1,
        color=colour,
        label=f"N = {run['n'][0]:,.0f}{mask}",
    )
    ax.plot(run.flops[-1:], run["loss"][-1:], "o", ms=4, mfc="white", mec=colour, mew=1.2, label=WHOLE_SPLIT)


def _legend(fig, runs, colours: dict) -> None:
    """One legend for the figure: each size (and other mask ratio) once, smallest first, then the end point."""
    entries = {}
    for run in sorted(runs, key=lambda r: (float(r["n"][0]), _mask_suffix(r["run"][0]))):
        mask = _mask_suffix(run["run"][0])
        style = {"ls": "--" if mask else "-", "color": colours[float(run["n"][0])]}
        entries.setdefault(f"N = {run['n'][0]:,.0f}{mask}", Line2D([], [], lw=1, **style))
    entries[WHOLE_SPLIT] = Line2D([], [], ls="none", marker="o", ms=4, mfc="white", mec="0.2", mew=1.2)
    fig.legend(entries.values(), entries.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def run_curves(table, out: str | Path, provenance: str | None = None, compute: str = "paper") -> None:
    """Every run's validation loss against compute, one panel per objective and budget, one colour per size across
    all panels (seeds share it; other mask ratios dashed): how each IsoFLOP point was reached, and whether the runs
    had settled at their end. The hollow dot is the end point on the whole validation split, the value the IsoFLOP
    profiles use; the y-range is the runs' losses past their first few % of compute. Compute is counted as the
    study counts it (`compute`, analysis/flop_count.py), so each panel holds the runs of one budget."""
    table, unit = counted(table, compute), FLOP_UNIT[compute]
    objectives = sorted(set(table["objective"]))
    budgets = {o: _by_budget(table.select(objective=o)) for o in objectives}
    colours = size_colours(table["n"])
    cols = max(len(b) for b in budgets.values())
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(objectives), cols, figsize=(3.0 * cols, 2.7 * len(objectives)), squeeze=False)
        for row, o in zip(axes, objectives):
            for ax, (c, runs) in zip(row, budgets[o].items()):
                for run in sorted(runs, key=lambda r: (r["n"][0], r["run"][0])):
                    _run_line(ax, run, colours[float(run["n"][0])])
                ax.set(xscale="log", xlabel=f"compute C ({unit})", ylabel=f"{o.upper()} validation loss")
                ax.set_title(f"{o.upper()}, budget {c:.0e} {unit}")
                ax.set_ylim(loss_range(runs))
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            for ax in row[len(budgets[o]) :]:
                ax.set_visible(False)
        fig.suptitle("Validation loss of every run against compute (lines: validation windows; ○: whole split)")
        fig.tight_layout()
        _legend(fig, list(table.by_source().values()), colours)
        save(fig, out, provenance)


def _variant_curves(ax, table, group: dict, colours: dict) -> None:
    """Validation loss against tokens of each variant at one (N, budget): mean over seeds (runs share x)."""

    for v in group["variants"]:
        runs = [
            t
            for t in table.by_source().values()
            if SweepPoint.parse(str(t["run"][0])).variant == v["variant"] and abs(float(t["n"][0]) - group["n"]) < 1
        ]
        runs = [t for t in runs if abs(float(t.flops[-1]) / group["c"] - 1) < 0.05]
        if not runs:
            continue
        size = min(len(t["x"]) for t in runs)
        tokens = runs[0].flops[:size] / (6 * group["n"])
        mean = np.mean([t["loss"][:size] for t in runs], axis=0)
        ax.plot(
            tokens, mean, "-o", ms=2.5, lw=1.2, color=colours[v["variant"]], label=f"{v['variant']} ({len(runs)} seeds)"
        )
    ax.set(xscale="log", xlabel="training tokens D", ylabel="validation loss (protein)")
    ax.set_title(
        f"N = {group['n']:,.0f}, C = {group['c']:.0e} FLOPs, mean over seeds\n(each variant's own validation windows;"
        " the right panel compares all on one held-out set)",
        fontsize=8,
    )
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend(frameon=False, fontsize=7)


def _effects(ax, fit: dict, objective: str, colours: dict) -> None:
    """Each variant's final loss minus the baseline's, with its 95% interval; open circles hold 0 (no effect)."""
    for k, group in enumerate(fit["groups"]):
        for j, v in enumerate(group["variants"]):
            lo, hi = v["ci95"]
            style = {"color": colours[v["variant"]], "mfc": None if v["beyond_noise"] else "white"}
            ax.errorbar(v["diff"], j + 0.15 * k, xerr=[[v["diff"] - lo], [hi - v["diff"]]], fmt="o", capsize=3, **style)
    names = [v["variant"] for v in fit["groups"][0]["variants"]]
    ax.set_yticks(range(len(names)), names)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel(f"final loss − {fit['order'][0]} (nats; 95% CI)")
    ax.set_title(f"{objective.upper()}: effect at equal compute")
    note = f"pooled seed sd {fit['pooled_sd']:.4f} nats ({fit['dof']} dof); open circles: the interval holds 0"
    ax.text(0.0, -0.25, note, transform=ax.transAxes, fontsize=7, color="0.3")


def ablation(fits: dict, table, out: str | Path, provenance: str | None = None) -> None:
    """Data-scarcity ablation per objective: each variant's validation curve (mean over seeds, left) and its final
    loss minus the baseline's with a 95% interval from the seed noise (right; an interval holding 0 is no effect)."""
    from .style import budget_colors

    objectives = sorted(fits)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(objectives), 2, figsize=(11, 3.6 * len(objectives)), squeeze=False)
        for (left, right), o in zip(axes, objectives):
            fit = fits[o]
            colours = dict(zip(fit["order"], budget_colors(len(fit["order"]))))
            if not fit["groups"] or "error" in fit:
                right.text(0.0, 0.5, f"no ablation: {fit.get('error', 'no baseline runs')}", transform=right.transAxes)
                continue
            _variant_curves(left, table.select(objective=o), fit["groups"][0], colours)
            _effects(right, fit, o, colours)
        fig.tight_layout()
        save(fig, out, provenance)
