"""The paper's figures other than IsoFLOP (plotting/isoflop.py), drawn from the authors' released logs (the tidy
table) and the paper fits only. Each is written as PNG and SVG."""

from __future__ import annotations

from pathlib import Path, PurePath

import matplotlib.ticker
import numpy as np

from ..analysis.curves import running_mean
from ..analysis.logs import size_label
from ..analysis.parametric import compute_optimal, identified, predict
from ..analysis.released import MLM_FROM_CLM_PREFIX, REPEATED_DATA_PREFIX, REPEATED_FOLDER_PREFIX, with_prefix
from ..analysis.table import Table
from ..analysis.transfer_fits import is_transfer, parameters
from ..names import PAPER_FIGURES
from .isoflop import isoflop
from .style import OBJ_NAME, STYLE, budget_colors, plt, save
from .transfer import COLOURS, frontier

REPEATED_DATA = "UR50/S (repeated)"


def _curves(table: Table, group_prefix: str, dedupe: bool = True) -> dict[str, Table]:
    sub = with_prefix(table, group_prefix)
    return {s: t for s, t in sub.by_source().items() if not (dedupe and t["duplicate_of"][0])}


OVERFIT = 0.02  # nats: a running mean this far above its lowest point by the end is rising (~3x evaluation noise)


def rises(loss) -> bool:
    """Whether a curve's trend (running mean) ends more than OVERFIT above its lowest point: the loss turned up."""
    smooth = running_mean(loss)
    return bool(smooth[-1] - smooth.min() > OVERFIT)


def _repeated_panels(table: Table) -> dict[tuple, dict]:
    """(objective, size) -> {data: curve} of Fig. 1: UR50/S repeated and UniMeta200B once, the loss export preferred
    over the perplexity export of one run, the shuffling ablations left out."""
    panels: dict[tuple, dict] = {}
    for src, t in _curves(table, REPEATED_DATA_PREFIX).items():
        folder = PurePath(src).parent.name
        data = REPEATED_DATA if folder.startswith(REPEATED_FOLDER_PREFIX) else "UniMeta200B (1 epoch)"
        if folder.endswith(("shuffle", "shuffle_副本")):
            continue
        key = (t["objective"][0], size_label(folder))
        if data not in panels.setdefault(key, {}) or t["metric"][0] == "valid_loss":
            panels[key][data] = t
    return {k: panels[k] for k in sorted(panels, key=lambda k: (k[0], parameters(k[1])))}


def repeated_title(panels: dict[tuple, dict]) -> str:
    """What the curves show: in which panels the repeated-data loss turned up by the end of training."""
    up = [
        f"{OBJ_NAME[o]} {size}"
        for (o, size), runs in panels.items()
        if REPEATED_DATA in runs and rises(runs[REPEATED_DATA]["loss"])
    ]
    where = f"turns up (overfits) in {', '.join(up)} only" if up else "keeps falling in every panel"
    return (
        "Validation loss: UR50/S repeated for many epochs vs UniMeta200B seen once\n"
        f"the repeated-data loss {where} (running mean ends > {OVERFIT} nats above its lowest)"
    )


def repeated_data(table: Table, out: str | Path, provenance: str | None = None) -> None:
    """Fig. 1 analogue: validation loss against tokens, UR50/S repeated for many epochs vs UniMeta200B once; the
    title says in which panels the repeated-data loss rose (repeated_title), the panels' titles mark them."""
    panels = _repeated_panels(table)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 2.8), squeeze=False)
        for ax, (key, runs) in zip(axes[0], panels.items()):
            top, start = -np.inf, np.inf
            for data, t in sorted(runs.items()):
                colour = "#C44E52" if data == REPEATED_DATA else "#4C72B0"
                smooth = running_mean(t["loss"])
                ax.plot(t["x"], t["loss"], lw=0.5, alpha=0.25, color=colour)
                ax.plot(t["x"], smooth, lw=1.4, label=f"{data} (running mean)", color=colour)
                top = max(top, float(np.percentile(smooth, 75)))
                start = min(start, float(t["x"][np.argmax(smooth <= top)]))
            lows = [float(np.percentile(t["loss"], 1)) for t in runs.values()]
            up = REPEATED_DATA in runs and rises(runs[REPEATED_DATA]["loss"])
            ax.set(
                xscale="log",
                xlabel="tokens",
                title=f"{OBJ_NAME[key[0]]} {key[1]}" + (" (repeated: rises)" if up else ""),
            )
            ax.set(ylim=(min(lows) - 0.02, top), xlim=(start, max(float(t["x"].max()) for t in runs.values())))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axes[0][0].set_ylabel("validation loss")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.16))
        fig.suptitle(repeated_title(panels), y=1.12)
        save(fig, out, provenance)


def transfer(table: Table, fits_transfer: dict, out: str | Path, provenance: str | None = None) -> None:
    """Fig. 4: scratch vs transfer loss frontiers against compute, both directions: the runs (faint), their lower
    envelope (dotted; over each run's running mean, so evaluation noise does not pull it down) and its power law."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, objective in zip(axes, ("mlm", "clm")):
            res = fits_transfer[objective]["frontiers"]
            for kind, color in COLOURS.items():
                for src in res[kind]["runs"]:
                    t = table.select(source=src)
                    ax.plot(t.flops, t["loss"], color=color, lw=0.6, alpha=0.35)
                frontier(ax, res[kind], kind)
            ax.set(
                xscale="log",
                xlabel="compute of the run (FLOPs)",
                ylabel="validation loss",
                title=f"{res['direction']} transfer vs training from scratch",
            )
            ax.legend(frameon=False)
        fig.tight_layout()
        save(fig, out, provenance)


def mlm_from_clm(table: Table, out: str | Path, provenance: str | None = None) -> None:
    """Fig. 5 (right): MLM trained from scratch vs initialised from a CLM, per model size."""
    curves = _curves(table, MLM_FROM_CLM_PREFIX)
    sizes = sorted({size_label(PurePath(s).name) for s in curves}, key=parameters)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(sizes), figsize=(2.6 * len(sizes), 2.8), squeeze=False)
        for ax, label in zip(axes[0], sizes):
            for src, t in curves.items():
                if size_label(PurePath(src).name) != label:
                    continue
                kind = "CLM-initialised" if is_transfer(src) else "scratch"
                ax.plot(t["x"], t["loss"], lw=1.2, label=kind, color="#C44E52" if is_transfer(src) else "#4C72B0")
            lows = [float(t["loss"].min()) for s, t in curves.items() if size_label(PurePath(s).name) == label]
            ax.set(xscale="log", xlabel="MLM tokens", title=f"MLM {label}", ylim=(min(lows) - 0.02, min(lows) + 0.5))
        axes[0][0].set_ylabel("validation loss")
        axes[0][0].legend(frameon=False)
        fig.tight_layout()
        save(fig, out, provenance)


def mask_ratio(table: Table, out: str | Path, provenance: str | None = None) -> None:
    """Mask-ratio ablation: validation loss curves per ratio and final loss against the ratio."""
    curves = _curves(table, "mask_ratio_data/")
    sizes = sorted({t["size_label"][0] for t in curves.values()}, key=parameters)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(sizes) + 1, figsize=(4 * (len(sizes) + 1), 3.3))
        for ax, label in zip(axes, sizes):
            runs = sorted(
                ((float(PurePath(s).stem.split("_")[1]), t) for s, t in curves.items() if t["size_label"][0] == label),
                key=lambda r: r[0],
            )
            colours = budget_colors(len(runs))  # one distinct colour per ratio
            for (ratio, t), colour in zip(runs, colours):
                ax.plot(t["x"], t["loss"], lw=1, color=colour, label=f"{ratio:.0%}")
            finals = [float(t["loss"][-1]) for _, t in runs]
            ax.set(
                xlabel="training steps",
                ylabel="validation loss",
                title=f"MLM {label}: mask ratio",
                ylim=(min(finals) - 0.05, max(finals) + 0.35),
            )
            ax.legend(ncol=2, frameon=False)
            axes[-1].plot([r for r, _ in runs], finals, "o-", label=f"MLM {label}")
        axes[-1].set(
            xlabel="mask ratio",
            ylabel="final validation loss",
            title="Final loss (not comparable across ratios:\nthe task gets harder as more is masked)",
        )
        axes[-1].legend(frameon=False)
        fig.tight_layout()
        save(fig, out, provenance)


def isoloss(fits_parametric: dict, out: str | Path, provenance: str | None = None) -> None:
    """IsoLoss contours of the parametric law over (C, N), with its compute-optimal frontier."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        c = np.logspace(17, 23, 200)
        n = np.logspace(6, 11, 200)
        cc, nn = np.meshgrid(c, n)
        for ax, objective in zip(axes, ("clm", "mlm")):
            law = fits_parametric[objective]
            loss = predict(law, nn, cc / (6 * nn))
            levels = matplotlib.ticker.MaxNLocator(14).tick_values(loss.min(), np.quantile(loss, 0.98))
            cs = ax.contourf(cc, nn, loss, levels=levels, cmap="viridis_r", extend="max")
            fig.colorbar(cs, ax=ax, label="predicted loss", format="%.2f")
            n_opt, _ = compute_optimal(law, c)
            inside = (n_opt >= n[0]) & (n_opt <= n[-1])  # the frontier where the contours are drawn
            ax.plot(c[inside], n_opt[inside], color="k", lw=2, label="compute-optimal N")
            ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="parameters N")
            ax.set(xlim=(c[0], c[-1]), ylim=(n[0], n[-1]))
            title = (
                f"{OBJ_NAME[objective]}: L = {law['E']:.2f} + {law['A']:.3g}/N^{law['alpha']:.2f} + "
                f"{law['B']:.3g}/D^{law['beta']:.2f}"
            )
            if not identified(law):
                title += "\n(poorly identified: a parameter's interval is as wide as its value; see Table 2)"
            ax.set_title(title, fontsize=8)
            ax.legend(loc="lower right", facecolor="white", framealpha=0.9)
        fig.tight_layout()
        save(fig, out, provenance)


def draw_paper_figure(name: str, load_table, fits: dict, out: str | Path, provenance: str | None = None) -> None:
    """One of PAPER_FIGURES by name; `load_table()` gives the tidy table, read only by figures drawn from curves."""
    if name == "isoflop":
        isoflop(fits["isoflop"], out, provenance)
    elif name == "isoloss":
        isoloss(fits["parametric"], out, provenance)
    elif name == "transfer":
        transfer(load_table(), fits["transfer"], out, provenance)
    elif name in PAPER_FIGURES:
        {"repeated_data": repeated_data, "mlm_from_clm": mlm_from_clm, "mask_ratio": mask_ratio}[name](
            load_table(), out, provenance
        )
    else:
        raise ValueError(f"unknown paper figure {name!r} ({', '.join(PAPER_FIGURES)})")
